"""Crashes, shutdowns and reloads in the middle of switching, against the real process.

The simulated SendGrid flaps so the daemon keeps failing over and back, while Novu's
set-primary is slowed. Each test then checks the audit trail against the simulator's own
call log: every action the daemon recorded `ok` was carried out by Novu, every action it
recorded `failed` was not, nothing is left open, no switch is taken for a person's
(drift), each channel ends with exactly one active primary, and failback still works.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import TOKEN, DaemonProcess

from daemon.commands.demo import DEMO_API_KEY_ENV
from daemon.sim.faults import Fault

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RULES = """\
defaults: {{interval: 100ms, timeout: 80ms, fall: 1, rise: 1}}
environments:
  production: {{api_url: {novu_url}, api_key_env: DEMO_NOVU_API_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{{http: {{url: {providers_url}/sendgrid/api/health}}}}]
      - integration: ses-backup
        signals: [{{http: {{url: {providers_url}/ses/api/health}}}}]
    policy: {{cooldown: 0s, failback: {{after: 200ms}}, brake: {{max: 1000, per: 1m}}}}
"""
SET_PRIMARY_LATENCY = 0.4
ACTION_TIMEOUT = 1.0


@pytest.fixture
def chaos(tmp_path: Path, simulation: Any) -> Iterator[Any]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(novu_url=simulation.url, providers_url=simulation.providers_url))
    env = {
        **os.environ,
        DEMO_API_KEY_ENV: simulation.api_key("production"),
        "NOVU_FAILOVER_RULES": str(rules),
        "NOVU_FAILOVER_STATE_DIR": str(tmp_path / "state"),
        "NOVU_FAILOVER_API_TOKEN": TOKEN,
        "NOVU_FAILOVER_LOG_FORMAT": "json",
        "NOVU_FAILOVER_ACTION_TIMEOUT": str(ACTION_TIMEOUT),
        "NOVU_FAILOVER_SHUTDOWN_TIMEOUT": "0.1",
        "NOVU_FAILOVER_RELOAD_POLL": "60",
    }
    simulation.sim.faults.add(
        Fault(
            kind="latency",
            path="/v1/integrations/",
            method="POST",
            seconds=SET_PRIMARY_LATENCY,
        )
    )
    processes: list[DaemonProcess] = []

    def start() -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, env)
        daemon.start()
        processes.append(daemon)
        return daemon

    yield start
    for daemon in processes:
        daemon.kill()


@contextlib.asynccontextmanager
async def flapping(simulation: Any, *, period: float = 0.35) -> AsyncIterator[None]:
    """SendGrid goes down and up again and again, so switches keep happening."""

    async def flap() -> None:
        down = False
        while True:
            down = not down
            simulation.set_provider_down("sendgrid", down=down)
            await asyncio.sleep(period)

    task = asyncio.create_task(flap())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        simulation.set_provider_down("sendgrid", down=False)


async def test_sigkill_at_random_points_never_misrecords_a_switch(
    simulation: Any, chaos: Any
) -> None:
    rng = random.Random(20261130)
    async with flapping(simulation):
        for _ in range(50):
            daemon = chaos()
            await daemon.wait_ready()
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            daemon.kill()
    assert len(switch_calls(simulation)) >= 10, "too few switches to prove anything"
    await settle_and_check(simulation, chaos(), interrupted=True)


async def test_sigterm_past_the_shutdown_bound_never_misrecords_a_switch(
    simulation: Any, chaos: Any
) -> None:
    rng = random.Random(7)
    cut_short = 0
    async with flapping(simulation):
        for _ in range(50):
            daemon = chaos()
            await daemon.wait_ready()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            # SIGTERM while a set-primary is inside Novu: the 0.1s bound cuts it short
            await wait_for_action_in_flight(daemon, within=3.0)
            daemon.signal(signal.SIGTERM)
            assert await asyncio.to_thread(daemon.wait, 15) == 0
            log = daemon.log()
            assert "Traceback" not in log, log
            cut_short += "abandoning in-flight work" in log
    assert cut_short >= 10, "SIGTERM rarely caught an action in flight; the test proves little"
    await settle_and_check(simulation, chaos(), interrupted=True)


async def test_a_sighup_storm_during_switching_yields_no_phantom_switch_or_false_drift(
    simulation: Any, chaos: Any
) -> None:
    daemon = chaos()
    await daemon.wait_ready()
    async with flapping(simulation):
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            daemon.signal(signal.SIGHUP)
            await asyncio.sleep(0.05)
    assert len(switch_calls(simulation)) >= 6, "too few switches during the storm"
    log = daemon.log()
    assert log.count("rules reloaded") >= 50
    await settle_and_check(simulation, daemon, interrupted=False, started=True)


# -- the checks -------------------------------------------------------------------------------


def switch_calls(simulation: Any) -> list[Any]:
    return [c for c in simulation.sim.calls if c.kind == "set-primary"]


async def wait_for_action_in_flight(daemon: DaemonProcess, *, within: float) -> None:
    """Until the daemon reports an action in flight (it may not come: then just go on)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                status = (await client.get(f"{daemon.url}/v1/status")).json()
                if status["channels"][0]["in_flight"]:
                    return
            await asyncio.sleep(0.02)


async def settle_and_check(
    simulation: Any, daemon: DaemonProcess, *, interrupted: bool, started: bool = False
) -> None:
    """With SendGrid healthy: the last run settles what is open and fails back; then the
    audit trail must agree with what Novu did."""
    if not started:
        await daemon.wait_ready()
    await until_settled(daemon, simulation)
    daemon.signal(signal.SIGTERM)
    assert await asyncio.to_thread(daemon.wait, 15) == 0
    records = read_audit(daemon.workdir / "state" / "audit.jsonl")
    switches = [r for r in records if r["action"] == "switch"]
    finals = {r["id"]: r for r in switches if r["result"] != "started"}
    started_ids = [r["id"] for r in switches if r["result"] == "started"]
    assert set(started_ids) <= set(finals), "an action was left open"
    settled = [r for r in finals.values() if "settled" in r["extra"]]
    if interrupted:
        assert settled, "no action was caught mid-flight; the run proves nothing"
    executed = {
        c.idempotency_key.removeprefix("novu-failover-")
        for c in switch_calls(simulation)
        if c.executed and c.result == 200 and not c.replay
    }
    for action_id, record in finals.items():
        if record["result"] == "ok":
            assert action_id in executed, f"audit says ok, Novu never did it: {record}"
        elif record["result"] == "failed":
            assert action_id not in executed, f"audit says failed, Novu did it: {record}"
    assert executed <= set(finals), "Novu performed a switch the audit trail does not show"
    keys = [c.idempotency_key for c in switch_calls(simulation) if c.executed and not c.replay]
    assert len(keys) == len(set(keys)), "one action was carried out twice"
    assert not [r for r in records if r["action"] == "drift"], "own switch taken for drift"
    assert not [r for r in switches if r["result"] == "ok" and r["from"] == r["to"]]
    primaries = [
        i for i in simulation.sim.integrations("production") if i.channel == "email" and i.primary
    ]
    assert [(i.identifier, i.active) for i in primaries] == [("sendgrid-main", True)]


async def until_settled(daemon: DaemonProcess, simulation: Any) -> None:
    """Failback to sendgrid-main has happened and nothing is open or in flight."""
    deadline = time.monotonic() + ACTION_TIMEOUT + 30.0
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            status = (await client.get(f"{daemon.url}/v1/status")).json()
            email = status["channels"][0]
            primary = (email["primary"] or {}).get("integration")
            if (
                primary == "sendgrid-main"
                and email["open_action"] is None
                and not email["in_flight"]
                and simulation.sim.primary("production", "email").identifier == "sendgrid-main"
            ):
                return
            await asyncio.sleep(0.1)
    pytest.fail(f"did not settle and fail back:\n{json.dumps(email, indent=1)}")


def read_audit(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))  # a line cut by SIGKILL is skipped, as the daemon does
    return records
