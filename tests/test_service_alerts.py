"""Alert-driven failover in-process: the daemon and the simulator on loopback, the real
Alertmanager payloads posted to the daemon's own HTTP listener.

A firing alert matching sendgrid-main's alert signal fails email over to ses-backup at once;
resolving it lets failback bring sendgrid-main back; a firing alert past its endsAt expires;
a reload that leaves the signal unchanged keeps what the alert book knows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alert_fixtures import alertmanager, grafana
from inprocess import start_daemon, stop_daemon, until

from daemon.control import FULL
from daemon.service.daemon import Daemon
from daemon.service.server import Running
from daemon.sim import serve_simulation

pytestmark = pytest.mark.timeout(30)

TOKEN = "in-process-alert-token-1618"
RULES = """\
defaults: {{interval: 200ms, timeout: 100ms, fall: 2, rise: 2}}
environments:
  production: {{api_url: {novu}, api_key_env: NOVU_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals:
          - http: {{url: {providers}/sendgrid/api/health}}
          - alert: {{matchers: ['novu_integration="sendgrid-main"', 'severity=~"critical|page"']}}
      - integration: ses-backup
        signals: [{{http: {{url: {providers}/ses/api/health}}}}]
    policy: {{cooldown: 0s, failback: {{after: {failback}}}, brake: {{max: {brake}, per: 1h}}}}
"""


class World:
    def __init__(self, simulation: Any, running: Running) -> None:
        self.simulation = simulation
        self.running = running

    @property
    def daemon(self) -> Daemon:
        return self.running.daemon

    async def post(self, path: str, payload: Any) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(
                f"{self.running.url}{path}",
                json=payload,
                headers={"authorization": f"Bearer {TOKEN}"},
            )

    async def get_text(self, path: str) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.running.url}{path}")).text

    def channel(self) -> dict[str, Any]:
        return self.daemon.status(FULL)["channels"][0]

    def primary(self) -> str | None:
        return (self.channel()["primary"] or {}).get("integration")

    def alert_signal(self) -> dict[str, Any]:
        sendgrid = self.channel()["candidates"][0]
        return next(s for s in sendgrid["signals"] if s["kind"] == "alert")

    def all_up(self) -> bool:
        return all(c["state"] == "up" for c in self.channel()["candidates"])


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    simulation = await serve_simulation("127.0.0.1", 0)
    runs: list[tuple[Running, asyncio.Task[int]]] = []
    rules = tmp_path / "rules.yaml"

    async def start(*, failback: str = "600ms") -> World:
        text = RULES.format(
            novu=simulation.url, providers=simulation.providers_url, failback=failback, brake=3
        )
        rules.write_text(text)
        running, task = await start_daemon(
            simulation, rules=rules, state_dir=tmp_path / "state", api_token=TOKEN
        )
        runs.append((running, task))
        world = World(simulation, running)
        await until(world.all_up, within=10, what="candidates up")
        return world

    yield start
    for running, task in runs:
        await stop_daemon(running, task)
    await simulation.stop()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).isoformat().replace("+00:00", "Z")


async def test_a_firing_alert_fails_over_at_once_and_resolving_it_fails_back(
    world: Callable[..., Any],
) -> None:
    w: World = await world()
    # No Alertmanager API configured and no webhook yet: nothing says no alert fires.
    assert w.alert_signal()["state"] == "unknown"
    assert w.alert_signal()["reason"] == "no alert source heard since start"

    response = await w.post("/v1/alerts/alertmanager", alertmanager("v4-firing"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 1,
        "matched": [
            {
                "channel": "production/email",
                "integration": "sendgrid-main",
                "signal": "alert",
                "firing": 1,
            }
        ],
    }
    took = await until(lambda: w.primary() == "ses-backup", within=5, what="failover")
    assert took < 1.0  # evaluated on receipt, not on the next probe or tick
    signal = w.alert_signal()
    assert signal["state"] == "down"
    assert "alert NovuProviderDeliveryFailing firing since 2026-11-28T13:39:28Z" in signal["reason"]
    assert "fingerprint cc2f88f7320a1355" in signal["reason"]
    assert w.channel()["candidates"][0]["state"] == "down"
    event = w.daemon.events(limit=1, offset=0)["events"][0]
    assert (event["trigger"], event["to"], event["result"]) == ("failover", "ses-backup", "ok")
    assert any("NovuProviderDeliveryFailing" in line for line in event["evidence"])

    response = await w.post("/v1/alerts/alertmanager", alertmanager("v4-resolved"))
    assert response.status_code == 200, response.text
    assert response.json()["matched"][0]["firing"] == 0
    await until(lambda: w.alert_signal()["state"] == "up", within=2, what="signal up")
    await until(lambda: w.primary() == "sendgrid-main", within=5, what="failback")
    assert w.simulation.set_primary_targets() == ["ses-backup", "sendgrid-main"]


async def test_a_grafana_alert_that_matches_nothing_changes_nothing(
    world: Callable[..., Any],
) -> None:
    w: World = await world()
    payload = grafana("v1-firing")
    payload["alerts"][0]["labels"]["severity"] = "warning"
    response = await w.post("/v1/alerts/grafana", payload)
    assert response.json() == {"accepted": 1, "matched": []}
    # The first webhook is a source heard: the quiet signal is up (no alert of its fires).
    assert w.alert_signal()["state"] == "up"
    assert "webhook: none firing" in w.alert_signal()["reason"]
    await asyncio.sleep(0.5)  # several ticks and probe rounds
    assert w.simulation.set_primary_targets() == []
    metrics = await w.get_text("/metrics")
    assert 'novu_failover_alerts_unmatched_total{source="grafana"} 1.0' in metrics


async def test_a_firing_alert_expires_when_its_ends_at_passes(
    world: Callable[..., Any],
) -> None:
    w: World = await world(failback="1h")
    payload = grafana("v1-firing")
    payload["alerts"][0]["endsAt"] = _iso(w.daemon.clock.now() + 1.0)
    assert (await w.post("/v1/alerts/grafana", payload)).status_code == 200
    await until(lambda: w.primary() == "ses-backup", within=5, what="failover")
    await until(lambda: w.alert_signal()["state"] == "up", within=4, what="expiry")
    assert "endsAt" in w.alert_signal()["reason"]
    assert "passed" in w.alert_signal()["reason"]


async def test_a_reload_that_keeps_the_signal_keeps_the_firing_alert(
    world: Callable[..., Any], tmp_path: Path
) -> None:
    w: World = await world(failback="1h")
    assert (await w.post("/v1/alerts/alertmanager", alertmanager("v4-firing"))).status_code == 200
    await until(lambda: w.alert_signal()["state"] == "down", within=2, what="signal down")
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules.read_text().replace("max: 3,", "max: 5,"))
    assert await w.daemon.reload(trigger="test")
    assert w.channel()["brake"]["max"] == 5
    assert w.alert_signal()["state"] == "down"
    response = await w.post("/v1/alerts/alertmanager", alertmanager("v4-resolved"))
    assert response.json()["matched"][0]["firing"] == 0
    await until(lambda: w.alert_signal()["state"] == "up", within=2, what="signal up")
