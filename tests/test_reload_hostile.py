"""Every broken rules file of the corpus, reloaded into a running daemon, is refused: the
last good rules stay in force, and the refusal shows in `rules.error`, `/readyz` and
`novu_failover_config_valid`; the good file turns them green again."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from inprocess import email_rules, start_daemon, stop_daemon, until
from test_rules_corpus import CORPUS, EXPECTED

from daemon.service.daemon import Daemon
from daemon.sim import serve_simulation

pytestmark = pytest.mark.timeout(120)
RULES_WAIT = "rules file has errors; running on the last good rules: "



class Live:
    def __init__(self, daemon: Daemon, url: str, rules: Path, good: str) -> None:
        self.daemon = daemon
        self.url = url
        self.rules = rules
        self.good = good
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

    async def readyz(self) -> httpx.Response:
        return await self.http.get("/readyz")

    async def config_valid(self) -> float:
        text = (await self.http.get("/metrics")).text
        match = re.search(r"^novu_failover_config_valid (\S+)$", text, re.MULTILINE)
        assert match is not None
        return float(match.group(1))

    async def checks(self) -> float:
        text = (await self.http.get("/metrics")).text
        found = re.findall(r"^novu_failover_signal_checks_total\{[^}]*\} (\S+)$", text, re.M)
        return sum(float(value) for value in found)

    async def assert_green(self) -> None:
        ready = await self.readyz()
        assert ready.status_code == 200, ready.text
        assert ready.json()["detail"]["rules"]["error"] is None
        assert self.daemon.status()["rules"]["error"] is None
        assert await self.config_valid() == 1.0


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    simulation = await serve_simulation("127.0.0.1", 0)
    rules = tmp_path / "rules.yaml"
    good = email_rules(simulation)
    rules.write_text(good)
    running, task = await start_daemon(
        simulation, rules=rules, state_dir=tmp_path / "state", reload_poll=3600
    )
    state = Live(running.daemon, running.url, rules, good)
    await until(lambda: state.daemon.ready()[0], within=20, what="the daemon to be ready")
    yield state
    await state.http.aclose()
    await stop_daemon(running, task)
    await simulation.stop()


async def test_every_corpus_file_is_refused_and_the_good_file_restores(live: Live) -> None:
    await live.assert_green()
    good_rules = live.daemon.rules
    for name in sorted(EXPECTED):
        shutil.copyfile(CORPUS / name, live.rules)
        assert not await live.daemon.reload(trigger=f"test {name}"), name
        assert live.daemon.rules is good_rules, f"{name} replaced the rules"
        error = live.daemon.status()["rules"]["error"]
        assert error is not None, name
        _line, _path, words = EXPECTED[name][0]
        assert words in error, (name, error)
        ready = await live.readyz()
        assert ready.status_code == 503, name
        waiting = ready.json()["detail"]["waiting_for"]
        assert any(w.startswith(RULES_WAIT) and words in w for w in waiting), (name, waiting)
        assert await live.config_valid() == 0.0, name

        live.rules.write_text(live.good)
        assert await live.daemon.reload(trigger="test good")
        await live.assert_green()


async def test_an_infinite_interval_is_refused_and_probing_goes_on(live: Live) -> None:
    """`interval: .inf` once stopped every probe while all looked green."""
    live.rules.write_text(live.good.replace("interval: 200ms", "interval: .inf"))
    assert not await live.daemon.reload(trigger="test")
    error = str(live.daemon.status()["rules"]["error"])
    assert "defaults.interval: a duration must be finite; got inf" in error
    assert (await live.readyz()).status_code == 503
    before = await live.checks()
    began = time.monotonic()
    while await live.checks() < before + 4:  # both signals probed twice more
        if time.monotonic() - began > 20:
            pytest.fail("no probe ran after the refused reload")
        await asyncio.sleep(0.05)


async def test_a_100_mb_file_is_refused_by_size_without_parsing(live: Live) -> None:
    with live.rules.open("wb") as file:
        file.truncate(100 * 1024 * 1024)
    assert not await live.daemon.reload(trigger="test")
    assert "larger than 8 MiB" in str(live.daemon.status()["rules"]["error"])
    assert (await live.http.get("/healthz")).status_code == 200
    live.rules.write_text(live.good)
    assert await live.daemon.reload(trigger="test")
    await live.assert_green()
