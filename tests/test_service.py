"""The daemon in-process against the simulator on loopback: dry run, manual failover, drift.

The real process is covered by tests/e2e; these drive the same Daemon through its
ControlPlane methods, with short intervals, where a subprocess adds nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from inprocess import email_rules, start_daemon, stop_daemon, until

from daemon.control import ControlError
from daemon.service.control import DaemonControl
from daemon.service.daemon import Daemon
from daemon.service.server import Running
from daemon.sim import serve_simulation
from daemon.sim.faults import Fault

pytestmark = pytest.mark.timeout(60)



@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    simulation = await serve_simulation("127.0.0.1", 0)
    runs: list[tuple[Running, asyncio.Task[int]]] = []

    async def start(*, dry_run: bool = False, **overrides: Any) -> tuple[Any, Daemon]:
        rules = tmp_path / "rules.yaml"
        policy = f"{{cooldown: 0s, failback: {{after: 600ms}}, dry_run: {str(dry_run).lower()}}}"
        rules.write_text(email_rules(simulation, policy=policy))
        running, task = await start_daemon(
            simulation, rules=rules, state_dir=tmp_path / "state", **overrides
        )
        runs.append((running, task))
        start.url = running.url  # type: ignore[attr-defined]
        return simulation, running.daemon

    yield start
    for running, task in runs:
        await stop_daemon(running, task)
    await simulation.stop()


def channel(daemon: Daemon) -> dict[str, Any]:
    return daemon.status()["channels"][0]


def all_up(daemon: Daemon) -> bool:
    return all(c["state"] == "up" for c in channel(daemon)["candidates"])


async def test_dry_run_audits_the_would_be_switch_once_and_never_writes(
    world: Callable[..., Any],
) -> None:
    simulation, daemon = await world(dry_run=True)
    await until(lambda: all_up(daemon), within=10, what="candidates up")
    simulation.set_provider_down("sendgrid", down=True)
    await until(
        lambda: (channel(daemon)["decision"] or {}).get("kind") == "would_switch",
        within=10,
        what="a would-switch decision",
    )
    await asyncio.sleep(1.0)  # five more probe rounds and many ticks
    events = daemon.events(limit=50, offset=0)["events"]
    assert [(e["result"], e["dry_run"], e["to"]) for e in events] == [
        ("dry_run", True, "ses-backup")
    ]
    assert simulation.set_primary_targets() == []
    assert channel(daemon)["primary"]["integration"] == "sendgrid-main"


async def test_manual_failover_refuses_a_down_target_and_failback_never_undoes_it(
    world: Callable[..., Any],
) -> None:
    simulation, daemon = await world()
    await until(lambda: all_up(daemon), within=10, what="candidates up")
    simulation.set_provider_down("ses", down=True)
    await until(
        lambda: channel(daemon)["candidates"][1]["state"] == "down",
        within=10,
        what="ses-backup down",
    )
    with pytest.raises(ControlError) as refused:
        await DaemonControl(daemon).failover(
            channel="production/email", target="ses-backup", force=False, reason="t", by="alice"
        )
    assert refused.value.status == 409
    assert "force" in refused.value.message
    assert simulation.set_primary_targets() == []

    simulation.set_provider_down("ses", down=False)
    await until(lambda: channel(daemon)["candidates"][1]["state"] == "up", within=10, what="ses up")
    answer = await DaemonControl(daemon).failover(
        channel="production/email", target="ses-backup", force=False, reason="drill", by="alice"
    )
    assert answer["ok"] is True
    assert answer["event"]["trigger"] == "manual"
    assert simulation.set_primary_targets() == ["ses-backup"]
    # sendgrid-main is up and preferred, failback is 600ms: it must still not undo a person
    await asyncio.sleep(1.5)
    assert simulation.set_primary_targets() == ["ses-backup"]
    assert channel(daemon)["last_switch"]["trigger"] == "manual"


async def test_a_primary_changed_by_a_person_in_novu_is_respected(
    world: Callable[..., Any],
) -> None:
    simulation, daemon = await world()
    await until(lambda: all_up(daemon), within=10, what="candidates up")
    target = simulation.sim.integration("ses-backup")
    async with httpx.AsyncClient() as client:  # a person, through Novu's own API
        response = await client.post(
            f"{simulation.url}/v1/integrations/{target.id}/set-primary",
            headers={"Authorization": f"ApiKey {simulation.api_key('production')}"},
        )
    assert response.status_code == 200, response.text
    await until(  # the reconcile job re-reads Novu every `interval`; drift is saved after
        lambda: (channel(daemon)["primary"] or {}).get("integration") == "ses-backup"
        and channel(daemon)["last_switch"] is not None,
        within=5,
        what="the daemon to see the new primary and record the drift",
    )
    # The view shows the new primary before the drift is on disk (state is written first,
    # then kept in memory): wait for the history write too.
    await until(
        lambda: channel(daemon)["last_switch"] is not None, within=5, what="the drift recorded"
    )
    status = channel(daemon)
    assert status["last_switch"] == {
        "at": status["last_switch"]["at"],
        "from": "sendgrid-main",
        "to": "ses-backup",
        "trigger": "manual",
    }
    await asyncio.sleep(1.5)  # longer than failback.after: no failback over a person
    assert simulation.set_primary_targets() == ["ses-backup"]
    assert channel(daemon)["primary"]["integration"] == "ses-backup"


async def test_a_configmap_style_symlink_swap_reloads_the_rules(
    world: Callable[..., Any], tmp_path: Path
) -> None:
    """Kubernetes updates a ConfigMap volume by re-pointing `..data`; the watcher sees it."""
    _simulation, daemon = await world()
    text = (tmp_path / "rules.yaml").read_text()
    volume = tmp_path / "volume"
    (volume / "..v1").mkdir(parents=True)
    (volume / "..v1" / "rules.yaml").write_text(text)
    (volume / "..data").symlink_to("..v1")
    (volume / "rules.yaml").symlink_to("..data/rules.yaml")
    # point the daemon at the volume's file by replacing its rules file with a link
    (tmp_path / "rules.yaml").unlink()
    (tmp_path / "rules.yaml").symlink_to(volume / "rules.yaml")
    await daemon.reload(trigger="test setup")
    assert channel(daemon)["brake"]["max"] == 3

    (volume / "..v2").mkdir()
    (volume / "..v2" / "rules.yaml").write_text(
        text.replace("cooldown: 0s,", "cooldown: 0s, brake: {max: 7, per: 1h},")
    )
    (volume / "..data_tmp").symlink_to("..v2")
    (volume / "..data_tmp").replace(volume / "..data")  # the atomic swap kubelet does
    await until(
        lambda: channel(daemon)["brake"]["max"] == 7,
        within=10,
        what="the watcher to load the swapped rules",
    )
    assert daemon.ready()[1]["rules"]["error"] is None


async def test_a_reload_that_drops_a_candidate_drops_its_gauges(
    world: Callable[..., Any], tmp_path: Path
) -> None:
    _simulation, daemon = await world()
    await until(lambda: all_up(daemon), within=10, what="candidates up")

    async def scrape() -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{world.url}/metrics")).text  # type: ignore[attr-defined]

    assert 'integration="ses-backup"' in (await scrape())
    rules = tmp_path / "rules.yaml"
    text = rules.read_text()
    start = text.index("      - integration: ses-backup")
    end = text.index("    policy:")
    rules.write_text(text[:start] + text[end:])
    assert await daemon.reload(trigger="test")
    scraped = await scrape()
    assert (
        'novu_failover_candidate_health{channel="email",environment="production",integration="ses-backup"'
        not in scraped
    )
    assert 'integration="sendgrid-main"' in scraped


async def test_manual_failover_waits_for_a_routine_evaluation_instead_of_refusing(
    world: Callable[..., Any],
) -> None:
    """The channel lock is held for every evaluation; a person's request must not bounce."""
    simulation, daemon = await world()
    await until(lambda: all_up(daemon), within=10, what="candidates up")
    lock = daemon.owner("production/email").lock
    await lock.acquire()  # stands in for an evaluation in progress
    request = asyncio.create_task(
        DaemonControl(daemon).failover(
            channel="production/email", target="ses-backup", force=False, reason="r", by="bob"
        )
    )
    await asyncio.sleep(0.2)
    assert not request.done()
    lock.release()
    answer = await asyncio.wait_for(request, timeout=10)
    assert answer["ok"] is True
    assert simulation.set_primary_targets() == ["ses-backup"]


async def test_a_failed_switch_backs_off_shows_in_status_and_is_retried(
    world: Callable[..., Any],
) -> None:
    """Novu hangs on the first set-primary past the action bound: the action stays open
    (Novu might still do it) until its deadline has passed, is then settled as failed from
    Novu's view, status says when the daemon tries again, and the retry lands (no hammering
    in between)."""
    simulation, daemon = await world(action_timeout=1.0)
    await until(lambda: all_up(daemon), within=10, what="candidates up")
    simulation.sim.faults.add(
        Fault(kind="timeout", path="/v1/integrations/", method="POST", count=1, seconds=3.0)
    )
    simulation.set_provider_down("sendgrid", down=True)
    await until(lambda: channel(daemon)["open_action"] is not None, within=10, what="open")
    assert channel(daemon)["decision"]["kind"] == "wait"
    assert "settling action" in channel(daemon)["decision"]["reason"]
    await until(lambda: channel(daemon)["action_retry"] is not None, within=15, what="a backoff")
    retry = channel(daemon)["action_retry"]
    assert retry["failed_actions"] == 1
    failed = [e for e in daemon.events(limit=10, offset=0)["events"] if e["result"] == "failed"]
    assert len(failed) == 1
    assert "did not land: Novu shows sendgrid-main as primary" in failed[0]["error"]
    assert simulation.set_primary_targets() == []
    await until(
        lambda: simulation.set_primary_targets() == ["ses-backup"],
        within=15,
        what="the retry after the backoff",
    )
    assert daemon.clock.now() >= retry["not_before"]
    await until(lambda: channel(daemon)["action_retry"] is None, within=5, what="backoff reset")
