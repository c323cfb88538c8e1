"""The daemon in-process with canaries and failure classes, against the simulator on loopback:
a backup whose canary fails is never the target (and the decision says why), and a burst of
invalid recipients on the primary does not trip a failover while an outage does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from inprocess import start_daemon, stop_daemon, until

from daemon.control import FULL
from daemon.service.daemon import Daemon
from daemon.sim import Simulation, serve_simulation

pytestmark = pytest.mark.timeout(60)

CANARY = (
    "{{canary: {{workflow: canary, subscriber_id: sink, email: sink@example.test, "
    "interval: 1s, deadline: 600ms, poll: 50ms}}}}"
)
CANARY_RULES = (
    """\
defaults: {{interval: 200ms, timeout: 100ms, fall: 2, rise: 2}}
environments:
  production: {{api_url: {novu}, api_key_env: NOVU_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{{http: {{url: {providers}/sendgrid/api/health}}}}]
      - integration: ses-backup
        signals: [{{http: {{url: {providers}/ses/api/health}}}}, """
    + CANARY
    + """]
      - integration: mailgun-backup
        signals: [{{http: {{url: {providers}/mailgun/api/health}}}}, """
    + CANARY
    + """]
    policy: {{cooldown: 0s}}
"""
)
DELIVERY_RULES = """\
defaults: {{interval: 200ms, timeout: 100ms, fall: 2, rise: 2}}
environments:
  production: {{api_url: {novu}, api_key_env: NOVU_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals:
          - novu_delivery: {{window: 1m, min_messages: 20, max_failure_rate: 0.2, fall: 1}}
      - integration: ses-backup
        signals: [{{http: {{url: {providers}/ses/api/health}}}}]
    policy: {{cooldown: 0s}}
"""


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    simulation = await serve_simulation("127.0.0.1", 0)
    simulation.sim.triggers.configure({"message_delay": 0.05})
    runs: list[Any] = []

    async def start(
        rules: str, *, outcomes: dict[str, str] | None = None
    ) -> tuple[Simulation, Daemon, str]:
        # before the daemon starts: its first canaries go at once
        simulation.sim.triggers.configure({"outcomes": outcomes or {}})
        path = tmp_path / "rules.yaml"
        path.write_text(rules.format(novu=simulation.url, providers=simulation.providers_url))
        running, task = await start_daemon(simulation, rules=path, state_dir=tmp_path / "state")
        runs.append((running, task))
        return simulation, running.daemon, running.url

    yield start
    for running, task in runs:
        await stop_daemon(running, task)
    await simulation.stop()


def candidate(daemon: Daemon, name: str) -> dict[str, Any]:
    candidates = daemon.status(FULL)["channels"][0]["candidates"]
    (found,) = [c for c in candidates if c["integration"] == name]
    return found


def _first_reason(daemon: Daemon, name: str) -> str:
    reasons: list[str] = candidate(daemon, name)["readiness"]["reasons"]
    return reasons[0] if reasons else ""


def decision(daemon: Daemon) -> dict[str, Any]:
    return daemon.status(FULL)["channels"][0]["decision"] or {}


async def scrape(url: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/metrics")).text


async def test_a_backup_whose_canary_fails_is_refused_and_the_decision_says_why(
    world: Callable[..., Any],
) -> None:
    simulation, daemon, url = await world(CANARY_RULES, outcomes={"ses-backup": "credentials"})
    await until(
        lambda: (
            candidate(daemon, "mailgun-backup")["readiness"]["ready"] is True
            and _first_reason(daemon, "ses-backup").startswith("canary failed")
            and candidate(daemon, "sendgrid-main")["state"] == "up"
        ),
        within=20,
        what="mailgun-backup ready, ses-backup not (failed canary)",
    )
    ses = candidate(daemon, "ses-backup")
    (reason,) = ses["readiness"]["reasons"]
    assert reason.startswith("canary failed ")
    assert reason.endswith(" ago (credentials)")
    (canary,) = [s for s in ses["signals"] if s["kind"] == "canary"]
    assert canary["last_failure"]["failure_class"] == "credentials"
    metrics = await scrape(url)
    ready = 'novu_failover_candidate_ready{channel="email",environment="production",'
    assert f'{ready}integration="ses-backup"}} 0.0' in metrics
    assert f'{ready}integration="mailgun-backup"}} 1.0' in metrics
    assert 'failure_class="credentials",integration="ses-backup",signal="canary"' in metrics

    simulation.set_provider_down("sendgrid", down=True)
    await until(
        lambda: simulation.sim.primary("production", "email").identifier == "mailgun-backup",  # type: ignore[union-attr]
        within=20,
        what="the failover to mailgun-backup",
    )
    assert simulation.set_primary_targets() == ["mailgun-backup"]

    def finished() -> list[dict[str, Any]]:
        events = daemon.events(limit=10, offset=0)["events"]
        return [e for e in events if e["result"] == "ok"]

    # the trail holds the write-ahead `started` record, then the final one: wait for it
    await until(lambda: bool(finished()), within=10, what="the switch's final audit record")
    (event,) = finished()
    skipped = [e for e in event["evidence"] if e.startswith("skipped ses-backup")]
    assert skipped, event["evidence"]
    assert "(credentials)" in skipped[0]


async def test_an_up_backup_without_a_delivered_canary_is_held_back(
    world: Callable[..., Any],
) -> None:
    """A canary to an invalid sink is no evidence against SES (recipient), so SES stays up,
    but it is not ready: nothing has proved it delivers."""
    simulation, daemon, _url = await world(
        CANARY_RULES, outcomes={"ses-backup": "recipient", "mailgun-backup": "never"}
    )
    await until(
        lambda: (
            candidate(daemon, "ses-backup")["state"] == "up"
            and candidate(daemon, "mailgun-backup")["state"] == "down"
            and candidate(daemon, "ses-backup")["readiness"]["reasons"]
            != ["no canary delivered yet"]
            and candidate(daemon, "ses-backup")["readiness"]["ready"] is False
        ),
        within=20,
        what="ses-backup up but not ready, mailgun-backup down",
    )
    simulation.set_provider_down("sendgrid", down=True)
    await until(lambda: decision(daemon).get("kind") == "hold", within=20, what="a hold decision")
    reason = decision(daemon)["reason"]
    assert "no healthy candidate: ses-backup up but not ready: no canary delivered yet" in reason
    assert "(recipient)" in reason
    assert "mailgun-backup down" in reason
    assert simulation.set_primary_targets() == []


def _delivery_signal(daemon: Daemon) -> dict[str, Any]:
    (signal,) = candidate(daemon, "sendgrid-main")["signals"]
    return signal


async def test_invalid_recipients_do_not_trip_a_failover_but_an_outage_does(
    world: Callable[..., Any],
) -> None:
    simulation, daemon, _url = await world(DELIVERY_RULES)
    sim = simulation.sim
    sim.set_provider_failing("sendgrid", True, rate=0.9, failure_class="recipient")
    for _ in range(40):
        sim.send("email")
    await until(
        lambda: (
            "not counted" in _delivery_signal(daemon)["reason"]
            and _delivery_signal(daemon)["state"] == "up"
        ),
        within=20,
        what="the delivery signal judging the recipient errors (and staying up)",
    )
    assert decision(daemon)["kind"] == "keep"
    assert simulation.set_primary_targets() == []

    sim.set_provider_failing("sendgrid", True, rate=0.3, failure_class="outage")
    for _ in range(200):
        sim.send("email")  # the window now holds mostly the outage's messages
    await until(
        lambda: sim.primary("production", "email").identifier == "ses-backup",  # type: ignore[union-attr]
        within=20,
        what="the failover after outage errors",
    )
    assert simulation.set_primary_targets() == ["ses-backup"]


BUDGET_RULES = """\
defaults: {{interval: 200ms, timeout: 100ms, fall: 2, rise: 2}}
environments:
  production: {{api_url: {novu}, api_key_env: NOVU_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{{http: {{url: {providers}/sendgrid/api/health}}}}]
      - integration: ses-backup
        signals:
          - canary: {{workflow: canary, subscriber_id: sink, email: sink@example.test,
                     interval: 500ms, deadline: 300ms, poll: 50ms, daily_budget: 1}}
    policy: {{cooldown: COOLDOWN}}
"""


def _canary_checks(metrics: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("novu_failover_signal_checks_total{") and 'signal="canary"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_reload_does_not_reset_a_canarys_daily_budget(
    world: Callable[..., Any], tmp_path: Path
) -> None:
    simulation, daemon, url = await world(BUDGET_RULES.replace("COOLDOWN", "0s"))
    await until(
        lambda: "daily budget of 1 canaries used up" in _canary_reason(daemon),
        within=20,
        what="the one canary of the day sent, the next one refused by the budget",
    )
    assert simulation.sim.triggers.triggers == 1
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules.read_text().replace("cooldown: 0s", "cooldown: 1s"))
    assert await daemon.reload(trigger="test")
    checks = _canary_checks(await scrape(url))
    deadline = asyncio.get_running_loop().time() + 20
    while _canary_checks(await scrape(url)) < checks + 2:  # the new probe ran, twice
        assert asyncio.get_running_loop().time() < deadline, "no canary check after the reload"
        await asyncio.sleep(0.05)
    assert simulation.sim.triggers.triggers == 1  # still the one real message of the day
    assert "daily budget of 1 canaries used up" in _canary_reason(daemon)


def _canary_reason(daemon: Daemon) -> str:
    (signal,) = candidate(daemon, "ses-backup")["signals"]
    reason: str = signal["reason"]
    return reason
