"""The real daemon process driven by a real Alertmanager (Debian's prometheus-alertmanager)
on loopback: an alert posted to Alertmanager reaches the daemon through its webhook with the
bearer token, fails email over to ses-backup; resolving it brings the signal back up.

Skipped only when the binary is absent outside CI; with CI=true a missing binary fails."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal as signal_module
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import TOKEN, DaemonProcess, free_port

from daemon.commands.demo import DEMO_API_KEY_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

RULES = """\
defaults: {{interval: 500ms, timeout: 250ms, fall: 2, rise: 2}}
environments:
  production:
    api_url: {novu_url}
    api_key_env: DEMO_NOVU_API_KEY
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals:
          - http: {{url: {providers_url}/sendgrid/api/health}}
          - alert: {{matchers: ['novu_integration="sendgrid-main"', 'severity=~"critical|page"']}}
      - integration: ses-backup
        signals:
          - http: {{url: {providers_url}/ses/api/health}}
    policy: {{cooldown: 0s, failback: {{after: 1s}}}}
"""

ALERTMANAGER_CONFIG = """\
route:
  receiver: novu-failover
  group_by: [alertname, novu_channel]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: novu-failover
    webhook_configs:
      - url: {daemon_url}/v1/alerts/alertmanager
        send_resolved: {send_resolved}
        max_alerts: 0
        http_config:
          authorization: {{type: Bearer, credentials: {token}}}
"""

STARTS_AT = (datetime.now(UTC) - timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
"""One alert instance for the whole module (its resolve names the same startsAt)."""
LABELS = {
    "alertname": "NovuProviderDeliveryFailing",
    "novu_channel": "email",
    "novu_integration": "sendgrid-main",
    "severity": "critical",
}


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found:
        return found
    message = "Alertmanager not installed (apt-get install prometheus-alertmanager)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run this test")
    pytest.skip(message)


class Alertmanager:
    def __init__(
        self, workdir: Path, daemon_url: str, *, send_resolved: bool = True, name: str = "am"
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / f"{name}.yml"
        config.write_text(
            ALERTMANAGER_CONFIG.format(
                daemon_url=daemon_url, token=TOKEN, send_resolved=str(send_resolved).lower()
            )
        )
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    alertmanager_binary(),
                    f"--config.file={config}",
                    f"--storage.path={workdir / (name + '-data')}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"alertmanager exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        pytest.fail(f"alertmanager not ready within {timeout}s:\n{self.log()}")

    async def post_alert(self, *, ends_at: datetime | None) -> None:
        alert: dict[str, Any] = {
            "labels": LABELS,
            "annotations": {"summary": "SendGrid deliveries failing"},
            "startsAt": STARTS_AT,
        }
        if ends_at is not None:
            alert["endsAt"] = _rfc3339(ends_at)
        await self.post([alert])

    async def post(self, alerts: list[dict[str, Any]]) -> None:
        """Alerts as Prometheus sends them (`POST /api/v2/alerts`)."""
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{self.url}/api/v2/alerts", json=alerts)
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
def alertmanager_started(tmp_path: Path) -> Iterator[list[Alertmanager]]:
    started: list[Alertmanager] = []
    yield started
    for manager in started:
        manager.stop()


async def wait_until(check: Any, *, timeout: float, what: str, logs: Any) -> float:
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs()}")
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_a_real_alertmanager_alert_fails_email_over_and_its_resolve_brings_it_back(
    tmp_path: Path, simulation: Any, alertmanager_started: list[Alertmanager]
) -> None:
    alertmanager_binary()  # skip or fail before starting anything
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(novu_url=simulation.url, providers_url=simulation.providers_url))
    env = {
        **os.environ,
        DEMO_API_KEY_ENV: simulation.api_key("production"),
        "NOVU_FAILOVER_RULES": str(rules),
        "NOVU_FAILOVER_STATE_DIR": str(tmp_path / "state"),
        "NOVU_FAILOVER_API_TOKEN": TOKEN,
        "NOVU_FAILOVER_LOG_FORMAT": "json",
    }
    daemon = DaemonProcess(tmp_path, env)
    daemon.start()
    try:
        manager = Alertmanager(tmp_path, daemon.url)
        alertmanager_started.append(manager)
        await daemon.wait_ready()
        await manager.wait_ready()

        def logs() -> str:
            return f"--- daemon\n{daemon.log()}\n--- alertmanager\n{manager.log()}"

        async def email() -> dict[str, Any]:
            status = await daemon.get("/v1/status?channel=production/email&detail=full")
            (channel,) = status["channels"]
            return channel

        async def alert_signal() -> dict[str, Any]:
            sendgrid = (await email())["candidates"][0]
            return next(s for s in sendgrid["signals"] if s["kind"] == "alert")

        async def all_up() -> bool:
            return all(c["state"] == "up" for c in (await email())["candidates"])

        async def primary_is(name: str) -> bool:
            return ((await email())["primary"] or {}).get("integration") == name

        await wait_until(all_up, timeout=10, what="email candidates up", logs=logs)
        assert simulation.set_primary_targets() == []

        await manager.post_alert(ends_at=None)
        await wait_until(
            lambda: primary_is("ses-backup"), timeout=8, what="failover to ses-backup", logs=logs
        )
        signal = await alert_signal()
        assert signal["state"] == "down"
        assert "alert NovuProviderDeliveryFailing firing since" in signal["reason"]
        assert "alertmanager, fingerprint" in signal["reason"]
        assert simulation.set_primary_targets() == ["ses-backup"]

        await manager.post_alert(ends_at=datetime.now(UTC))

        async def signal_up() -> bool:
            return (await alert_signal())["state"] == "up"

        await wait_until(signal_up, timeout=8, what="the alert signal back up", logs=logs)
        assert "resolved" in (await alert_signal())["reason"]
        await wait_until(lambda: primary_is("sendgrid-main"), timeout=8, what="failback", logs=logs)
        metrics = await daemon.get("/metrics")
        assert (
            'novu_failover_alerts_received_total{source="alertmanager",status="accepted"}'
            in metrics
        )
        assert 'source="alertmanager",status="unauthorized"} 0.0' in metrics
        assert TOKEN not in daemon.log()
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.signal(signal_module.SIGTERM)
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()


# --- the Alertmanager API as the source of truth -----------------------------------------

SYNCED_RULES = (
    RULES
    + """\
alertmanagers:
  interval: 1s
  timeout: 500ms
  servers:
{servers}
"""
)
FAILBACK_AFTER = 1.0


class World:
    """The simulator, one or two real Alertmanagers, and the real daemon (restartable on
    the same port, so the Alertmanagers keep delivering to it)."""

    def __init__(self, tmp_path: Path, simulation: Any, managers: list[Alertmanager]) -> None:
        self.tmp_path = tmp_path
        self.simulation = simulation
        self.managers = managers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.daemons: list[DaemonProcess] = []

    def add_manager(self, *, send_resolved: bool) -> Alertmanager:
        name = f"am{len(self.managers)}"
        manager = Alertmanager(self.tmp_path, self.url, send_resolved=send_resolved, name=name)
        self.managers.append(manager)
        return manager

    async def start_daemon(self, *, sync: bool = True) -> DaemonProcess:
        """The daemon, reading every Alertmanager's API unless `sync` is false."""
        servers = "\n".join(f"    - url: {m.url}" for m in self.managers)
        rules = self.tmp_path / "rules.yaml"
        rules.write_text(
            (SYNCED_RULES if sync else RULES).format(
                novu_url=self.simulation.url,
                providers_url=self.simulation.providers_url,
                servers=servers,
            )
        )
        env = {
            **os.environ,
            DEMO_API_KEY_ENV: self.simulation.api_key("production"),
            "NOVU_FAILOVER_RULES": str(rules),
            "NOVU_FAILOVER_STATE_DIR": str(self.tmp_path / "state"),
            "NOVU_FAILOVER_API_TOKEN": TOKEN,
            "NOVU_FAILOVER_LOG_FORMAT": "json",
            "NOVU_FAILOVER_LOG_LEVEL": "DEBUG",
        }
        daemon = DaemonProcess(self.tmp_path, env)
        daemon.port, daemon.url = self.port, self.url
        daemon.start()
        self.daemons.append(daemon)
        await daemon.wait_ready()
        return daemon

    def stop_daemon(self) -> None:
        daemon = self.daemons[-1]
        daemon.signal(signal_module.SIGTERM)
        assert daemon.wait(timeout=15) == 0

    @property
    def daemon(self) -> DaemonProcess:
        return self.daemons[-1]

    def logs(self) -> str:
        parts = [f"--- daemon\n{self.daemon.log()}"]
        parts += [f"--- {m.log_path.name}\n{m.log()}" for m in self.managers]
        return "\n".join(parts)

    async def email(self) -> dict[str, Any]:
        status = await self.daemon.get("/v1/status?channel=production/email&detail=full")
        (channel,) = status["channels"]
        return channel

    async def sendgrid_signal(self, kind: str) -> dict[str, Any]:
        sendgrid = (await self.email())["candidates"][0]
        return next(s for s in sendgrid["signals"] if s["kind"] == kind)

    async def primary(self) -> str | None:
        return ((await self.email())["primary"] or {}).get("integration")

    async def wait(self, check: Any, what: str, timeout: float = 15) -> None:
        await wait_until(check, timeout=timeout, what=what, logs=self.logs)

    async def failback_was_due(self) -> bool:
        """sendgrid's probe has been up longer than failback.after, and the channel was
        evaluated after that: a failback would have happened if nothing held it back."""
        http = await self.sendgrid_signal("http")
        decision = (await self.email())["decision"] or {}
        if http["state"] != "up" or http["since"] is None or decision.get("at") is None:
            return False
        return bool(decision["at"] > http["since"] + FAILBACK_AFTER + 1.0)


@pytest.fixture
def world(
    tmp_path: Path, simulation: Any, alertmanager_started: list[Alertmanager]
) -> Iterator[World]:
    alertmanager_binary()  # skip or fail before starting anything
    made = World(tmp_path, simulation, alertmanager_started)
    yield made
    for daemon in made.daemons:
        daemon.kill()


def assert_only_json_lines(log: str) -> None:
    """LOG_FORMAT=json: every line the process wrote (stdout and stderr) is a JSON object."""
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines
    for line in lines:
        try:
            assert isinstance(json.loads(line), dict), line
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {line!r}")


async def _fail_over_then_restart(w: World, manager: Alertmanager) -> None:
    """The alert fires; email fails over; the daemon restarts while it still fires."""
    await w.wait(lambda: _up(w, "http"), "sendgrid's probe up")
    await manager.post_alert(ends_at=None)
    await w.wait(lambda: _primary_is(w, "ses-backup"), "failover to ses-backup")
    assert w.simulation.set_primary_targets() == ["ses-backup"]
    w.stop_daemon()
    await w.start_daemon()
    # Learned from the Alertmanager API at start-up (before any webhook could come).
    signal = await w.sendgrid_signal("alert")
    assert signal["state"] == "down", signal
    assert "NovuProviderDeliveryFailing" in signal["reason"]
    await w.wait(w.failback_was_due, "sendgrid up long enough for a failback to be due")
    assert await w.primary() == "ses-backup"
    assert w.simulation.set_primary_targets() == ["ses-backup"]  # no failback


async def _up(w: World, kind: str) -> bool:
    return (await w.sendgrid_signal(kind))["state"] == "up"


async def _primary_is(w: World, name: str) -> bool:
    return await w.primary() == name


@pytest.mark.parametrize("send_resolved", [True, False], ids=["send-resolved", "no-resolve"])
async def test_a_restart_while_the_alert_fires_holds_failback_until_it_resolves(
    world: World, send_resolved: bool
) -> None:
    manager = world.add_manager(send_resolved=send_resolved)
    await world.start_daemon()
    await manager.wait_ready()
    await _fail_over_then_restart(world, manager)

    await manager.post_alert(ends_at=datetime.now(UTC))  # resolved in Alertmanager
    await world.wait(lambda: _up(world, "alert"), "the alert signal up after the resolve")
    reason = (await world.sendgrid_signal("alert"))["reason"]
    # With send_resolved the webhook and the next API read race to tell; without, only the
    # read can.
    assert "no longer active in Alertmanager" in reason or (send_resolved and "resolved" in reason)
    await world.wait(lambda: _primary_is(world, "sendgrid-main"), "failback")
    assert world.simulation.set_primary_targets() == ["ses-backup", "sendgrid-main"]
    for daemon in world.daemons:
        assert_only_json_lines(daemon.log())
        assert TOKEN not in daemon.log()


async def test_two_alertmanagers_as_a_pair_one_of_them_down_at_restart(world: World) -> None:
    """Prometheus sends each alert to both members; both deliver webhooks (duplicates the
    daemon absorbs). With one member gone the other answers for the pair."""
    first = world.add_manager(send_resolved=True)
    second = world.add_manager(send_resolved=True)
    await world.start_daemon()
    await first.wait_ready()
    await second.wait_ready()
    await world.wait(lambda: _up(world, "http"), "sendgrid's probe up")
    for manager in (first, second):
        await manager.post_alert(ends_at=None)
    await world.wait(lambda: _primary_is(world, "ses-backup"), "failover to ses-backup")

    first.stop()
    world.stop_daemon()
    await world.start_daemon()
    assert (await world.sendgrid_signal("alert"))["state"] == "down"
    await world.wait(world.failback_was_due, "a failback due")
    assert world.simulation.set_primary_targets() == ["ses-backup"]
    assert "cannot read active alerts from 127.0.0.1:" in world.daemon.log()

    await second.post_alert(ends_at=datetime.now(UTC))
    await world.wait(lambda: _primary_is(world, "sendgrid-main"), "failback")
    assert world.simulation.set_primary_targets() == ["ses-backup", "sendgrid-main"]


async def test_a_group_of_two_thousand_alerts_is_accepted_and_acted_on(world: World) -> None:
    """max_alerts: 0 sends the whole group in one webhook (well over 1 MiB). No API sync
    here: the failover comes from the webhook alone."""
    manager = world.add_manager(send_resolved=True)
    daemon = await world.start_daemon(sync=False)
    await manager.wait_ready()
    await world.wait(lambda: _up(world, "http"), "sendgrid's probe up")
    noise = [
        {
            "labels": {**LABELS, "novu_integration": f"other-{i}", "instance": f"host-{i}"},
            "annotations": {"summary": "x" * 400},
            "startsAt": STARTS_AT,
        }
        for i in range(1999)
    ]
    matching = {"labels": LABELS, "annotations": {}, "startsAt": STARTS_AT}
    await manager.post([*noise, matching])
    await world.wait(lambda: _primary_is(world, "ses-backup"), "failover", timeout=30)

    async def whole_group_in_one_webhook() -> bool:
        return '"unmatched": 1999' in daemon.log()  # the DEBUG line for unmatched alerts

    await world.wait(whole_group_in_one_webhook, "one webhook with the whole group")
    metrics = await daemon.get("/metrics")
    assert 'novu_failover_alerts_received_total{source="alertmanager",status="rejected"} 0.0' in (
        metrics
    )
    assert "1999 alert(s) matched no alert signal" in daemon.log()


async def test_a_refused_webhook_is_logged_as_json_with_its_reason(world: World) -> None:
    world.add_manager(send_resolved=True)
    daemon = await world.start_daemon()
    response = await daemon.post("/v1/alerts/alertmanager", {"version": "4"}, token="wrong")
    assert response.status_code == 401
    response = await daemon.post("/v1/alerts/alertmanager", {"version": "4"})
    assert response.status_code == 422

    def refusals() -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in daemon.log().splitlines() if x.strip()]
        return [line for line in lines if line.get("event") == "webhook"]

    async def both_logged() -> bool:
        return len(refusals()) == 2

    await world.wait(both_logged, "two refusals in the log")
    wrong, malformed = refusals()
    assert (wrong["status"], wrong["route"], wrong["remote"]) == (
        401,
        "/v1/alerts/alertmanager",
        "127.0.0.1",
    )
    assert "wrong bearer token" in wrong["msg"]
    assert malformed["status"] == 422
    assert "alerts is required" in malformed["msg"]
    metrics = await daemon.get("/metrics")
    assert "novu_failover_config_valid 1.0" in metrics  # from start, not only after a reload
    world.stop_daemon()
    assert_only_json_lines(daemon.log())
