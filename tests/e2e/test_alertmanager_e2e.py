"""The real daemon process driven by a real Alertmanager (Debian's prometheus-alertmanager)
on loopback: an alert posted to Alertmanager reaches the daemon through its webhook with the
bearer token, fails email over to ses-backup; resolving it brings the signal back up.

Skipped only when the binary is absent outside CI; with CI=true a missing binary fails."""

from __future__ import annotations

import asyncio
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
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: {token}}}
"""

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
    def __init__(self, workdir: Path, daemon_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "alertmanager.yml"
        config.write_text(ALERTMANAGER_CONFIG.format(daemon_url=daemon_url, token=TOKEN))
        self.log_path = workdir / "alertmanager.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    alertmanager_binary(),
                    f"--config.file={config}",
                    f"--storage.path={workdir / 'alertmanager-data'}",
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
            "startsAt": _rfc3339(datetime.now(UTC) - timedelta(seconds=30)),
        }
        if ends_at is not None:
            alert["endsAt"] = _rfc3339(ends_at)
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}/api/v2/alerts", json=[alert])
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
            status = await daemon.get("/v1/status")
            return next(c for c in status["channels"] if c["channel"] == "production/email")

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
        assert 'status="unauthorized"' not in metrics
        assert TOKEN not in daemon.log()
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.signal(signal_module.SIGTERM)
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
