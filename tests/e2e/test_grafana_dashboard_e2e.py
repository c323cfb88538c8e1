"""Every PromQL expression of deploy/grafana/novu-failover.json, run against a real
Prometheus (Debian's `prometheus`, on loopback, scraping every second) that scrapes the real
daemon after it failed email over and received an alert webhook: each one parses and
returns data. Panel queries run as Grafana runs them (range or instant), with the template
variables replaced by concrete values (the "All" regex `.*` for environment and channel).

Skipped only when the binary is absent outside CI; with CI=true a missing binary fails."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grafana_dashboard
import httpx
import pytest
from e2e_support import RULES, TOKEN, free_port

from daemon.commands.demo import DEMO_API_KEY_ENV
from daemon.service.server import Running, run_daemon
from daemon.settings import load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PROMETHEUS_CONFIG = """\
global: {{scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}}
scrape_configs:
  - job_name: novu-failover
    static_configs: [{{targets: ["{target}"]}}]
"""

WEBHOOK = {
    "version": "4",
    "groupKey": '{}:{alertname="NovuProviderDeliveryFailing"}',
    "truncatedAlerts": 0,
    "receiver": "novu-failover",
    "status": "firing",
    "externalURL": "http://127.0.0.1:9093",
    "groupLabels": {"alertname": "NovuProviderDeliveryFailing"},
    "commonLabels": {"alertname": "NovuProviderDeliveryFailing"},
    "commonAnnotations": {},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "NovuProviderDeliveryFailing", "novu_integration": "other"},
            "annotations": {},
            "startsAt": "2026-11-28T13:39:28.762Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": "cc2f88f7320a1355",
        }
    ],
}
"""An Alertmanager v4 notification matching no signal: counted, changes no health."""


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found:
        return found
    message = "Prometheus not installed (apt-get install prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run this test")
    pytest.skip(message)


async def _until(check: Callable[[], Any], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for: {what}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def daemon(simulation: Any, tmp_path: Path) -> AsyncIterator[Running]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        RULES.format(novu_url=simulation.url, providers_url=simulation.providers_url, failback="1h")
    )
    settings = load_settings(
        rules=rules, listen="127.0.0.1:0", state_dir=tmp_path / "state", api_token=TOKEN
    )
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_daemon(
            settings,
            environ={DEMO_API_KEY_ENV: simulation.api_key("production")},
            on_started=started,
            handle_signals=False,
        )
    )
    running = await asyncio.wait_for(started, timeout=20)
    try:
        yield running
    finally:
        running.stop.set()
        assert await task == 0


def _start_prometheus(config: Path, *, tsdb: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def prometheus(daemon: Running, tmp_path: Path) -> AsyncIterator[str]:
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(target=daemon.url.removeprefix("http://")))
    port = free_port()
    log = tmp_path / "prometheus.log"
    proc = _start_prometheus(config, tsdb=tmp_path / "tsdb", port=port, log=log)
    url = f"http://127.0.0.1:{port}"
    try:

        async def ready() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{url}/-/ready")).status_code == 200
            except httpx.TransportError:
                return False

        await _until(ready, within=30, what="prometheus ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _query(client: httpx.AsyncClient, url: str, expr: str, *, instant: bool) -> Any:
    now = time.time()
    if instant:
        response = await client.get(f"{url}/api/v1/query", params={"query": expr, "time": now})
    else:
        params = {"query": expr, "start": now - 180, "end": now, "step": 1}
        response = await client.get(f"{url}/api/v1/query_range", params=params)
    body = response.json()
    assert response.status_code == 200, f"{expr}: {body.get('error')}"
    assert body["status"] == "success", body
    return body["data"]["result"]


async def test_every_dashboard_query_parses_and_returns_data(
    daemon: Running, prometheus: str, simulation: Any
) -> None:
    status = daemon.daemon.status

    def email() -> dict[str, Any]:
        return next(c for c in status()["channels"] if c["channel"] == "production/email")

    async def all_up() -> bool:
        return all(c["state"] == "up" for ch in status()["channels"] for c in ch["candidates"])

    await _until(all_up, within=30, what="every candidate up")
    simulation.set_provider_down("sendgrid", down=True)

    async def failed_over() -> bool:
        return (email()["primary"] or {}).get("integration") == "ses-backup"

    await _until(failed_over, within=30, what="email failed over to ses-backup")
    async with httpx.AsyncClient(timeout=10) as client:
        webhook = await client.post(
            f"{daemon.url}/v1/alerts/alertmanager",
            json=WEBHOOK,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert webhook.status_code == 200, webhook.text

        async def scraped_since() -> bool:
            """Enough scrapes after the switch and the webhook for rates and increases."""
            for metric in ("novu_failover_switches_total", "novu_failover_alerts_received_total"):
                result = await _query(
                    client, prometheus, f"count_over_time({metric}[1m])", instant=True
                )
                if not result or min(float(r["value"][1]) for r in result) < 3:
                    return False
            return True

        await _until(scraped_since, within=30, what="prometheus scraped the switch and the alert")
        queries = grafana_dashboard.queries(grafana_dashboard.load())
        assert len(queries) >= 25
        empty = []
        for query in queries:
            expr = grafana_dashboard.substitute(query.expr)
            if not await _query(client, prometheus, expr, instant=query.instant):
                empty.append(f"{query.where}: {expr}")
        assert empty == [], "queries without data:\n" + "\n".join(empty)
        # a daemon that started on valid rules says so (not only after its first reload)
        (valid,) = await _query(client, prometheus, "novu_failover_config_valid", instant=True)
        assert valid["value"][1] == "1"
