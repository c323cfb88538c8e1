"""`/v1/status` from the real service: the summary is the full form less the evidence, and
the filters select what they say (docs/api.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inprocess import email_rules, start_daemon, stop_daemon, until

from daemon.control import FULL, SUMMARY, ControlError, StatusQuery, summarize
from daemon.service.server import Running
from daemon.service.status_view import known_names
from daemon.sim import serve_simulation

pytestmark = pytest.mark.timeout(60)
EMAIL = "production/email"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    simulation = await serve_simulation("127.0.0.1", 0)
    rules = tmp_path / "rules.yaml"
    rules.write_text(email_rules(simulation))
    live, task = await start_daemon(simulation, rules=rules, state_dir=tmp_path / "state")
    await until(
        lambda: all(c["state"] == "up" for c in live.daemon.status()["channels"][0]["candidates"]),
        within=20,
        what="both candidates up",
    )
    yield live
    await stop_daemon(live, task)
    await simulation.stop()


async def test_the_summary_is_the_full_form_without_reasons_and_evidence(
    running: Running,
) -> None:
    await running.control.pause(channel=EMAIL, until=None, reason="maintenance", by="alice")
    full, summary = running.daemon.status(FULL), running.daemon.status(SUMMARY)
    assert summary["detail"] == "summary"
    assert full["detail"] == "full"
    (channel,) = summary["channels"]
    assert channel == summarize(full["channels"][0])
    assert channel["state"] == "paused"
    assert channel["pause"]["reason"] == "maintenance"
    assert [c["ready"] for c in channel["candidates"]] == [
        c["readiness"]["ready"] for c in full["channels"][0]["candidates"]
    ]
    assert "signals" not in channel["candidates"][0]
    assert full["channels"][0]["candidates"][0]["signals"], "the full form keeps the evidence"
    assert summary["states"] == {**dict.fromkeys(summary["states"], 0), "paused": 1}
    heads = {k: v for k, v in summary.items() if k not in ("channels", "detail", "now")}
    assert heads == {k: v for k, v in full.items() if k not in ("channels", "detail", "now")}


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        pytest.param(StatusQuery(states=frozenset({"ok"})), 1, id="state-ok"),
        pytest.param(StatusQuery(states=frozenset({"held", "blocked"})), 0, id="state-other"),
        pytest.param(StatusQuery(environment="production"), 1, id="environment"),
        pytest.param(StatusQuery(channel=EMAIL, detail="full"), 1, id="channel-full"),
    ],
)
async def test_filters_select_channels(running: Running, query: StatusQuery, shown: int) -> None:
    status = running.daemon.status(query)
    assert len(status["channels"]) == shown
    assert sum(status["states"].values()) == shown
    if shown and query.detail == "full":
        assert "signals" in status["channels"][0]["candidates"][0]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        pytest.param(StatusQuery(channel="production/push"), "no channel 'production/push'"),
        pytest.param(StatusQuery(environment="staging"), "no environment 'staging'"),
    ],
)
async def test_unknown_names_are_404_naming_the_known_ones(
    running: Running, query: StatusQuery, words: str
) -> None:
    with pytest.raises(ControlError) as refused:
        running.daemon.status(query)
    assert refused.value.status == 404
    assert words in refused.value.message
    assert "known: production" in refused.value.message


def test_a_404_names_twenty_of_a_thousand_channels() -> None:
    names = [f"env{i:03d}/email" for i in range(1000)]
    text = known_names(names)
    assert text.startswith("env000/email, env001/email")
    assert text.endswith("env019/email and 980 more")
    assert known_names([]) == "none"
