"""`serve_simulation` on real loopback (port 0) and the `novu-failover simulate` command."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from openapi_contract import validate_exchange

from daemon.cli import build_parser
from daemon.commands.simulate import banner
from daemon.commands.simulate import serve_simulation as exported
from daemon.sim import Fault, NovuSimulator, SimulationError, serve_simulation

REPO = Path(__file__).resolve().parents[1]


async def test_serves_novu_and_providers_on_a_free_loopback_port() -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    try:
        assert simulation.port > 0
        assert simulation.url == f"http://127.0.0.1:{simulation.port}"
        assert simulation.providers_url == f"{simulation.url}/providers"
        headers = {"Authorization": f"ApiKey {simulation.api_key('production')}"}
        async with httpx.AsyncClient(base_url=simulation.url, headers=headers) as client:
            listed = await client.get("/v1/integrations")
            validate_exchange(listed)
            assert len(listed.json()["data"]) == 6
            page = await client.get("/providers/sendgrid/api/v2/summary.json")
            assert page.json()["page"]["name"] == "SendGrid"
            assert (await client.get("/providers/ses/api/health")).status_code == 200
            assert (await client.get("/_providers")).status_code == 200
            assert (await client.get("/_sim/state")).status_code == 200
    finally:
        await simulation.stop()


async def test_provider_down_shows_everywhere_and_set_primary_is_logged() -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    try:
        simulation.set_provider_down("sendgrid", down=True)
        headers = {"Authorization": f"ApiKey {simulation.api_key()}"}
        async with httpx.AsyncClient(base_url=simulation.url, headers=headers) as client:
            assert (await client.get("/providers/sendgrid/api/health")).status_code == 503
            summary = await client.get("/providers/sendgrid/api/v2/summary.json")
            assert summary.json()["status"]["indicator"] == "critical"
            assert simulation.sim.send("email")["status"] == "error"  # type: ignore[index]
            ses = simulation.sim.integration("ses-backup").id
            await client.post(f"/v1/integrations/{ses}/set-primary")
        assert simulation.set_primary_targets() == ["ses-backup"]
        simulation.set_provider_down("sendgrid", down=False)
        assert simulation.sim.failing_providers() == {}
    finally:
        await simulation.stop()


async def test_timeout_fault_outlasts_the_client_timeout_and_stop_is_prompt() -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    simulation.sim.faults.add(Fault(kind="timeout", seconds=60))
    headers = {"Authorization": f"ApiKey {simulation.api_key()}"}
    async with httpx.AsyncClient(base_url=simulation.url, headers=headers, timeout=0.3) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/v1/integrations")
    started = time.monotonic()
    await simulation.stop()
    assert time.monotonic() - started < 4


async def test_stop_closes_the_port_and_is_idempotent() -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    url = simulation.url
    await simulation.stop()
    await simulation.stop()
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/_sim/state")


async def test_a_taken_port_is_a_simulation_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SimulationError, match="cannot listen"):
            await serve_simulation("127.0.0.1", port)


async def test_seed_file_and_ready_made_simulator_are_honoured(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "environments:\n"
        "  - name: staging\n"
        "    id: aaaaaaaaaaaaaaaaaaaaaaaa\n"
        "    api_key: sim-staging-key\n"
    )
    simulation = await serve_simulation("127.0.0.1", 0, seed=seed)
    try:
        assert simulation.api_key("staging") == "sim-staging-key"
    finally:
        await simulation.stop()
    mine = NovuSimulator(envelope=False)
    simulation = await serve_simulation("127.0.0.1", 0, sim=mine)
    try:
        assert simulation.sim is mine
    finally:
        await simulation.stop()


async def test_background_traffic_fills_the_message_log() -> None:
    simulation = await serve_simulation("127.0.0.1", 0, traffic=200)
    try:
        production = simulation.sim.environment("production")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            page = simulation.sim.list_messages(production, channel="sms", page=0, limit=5)
            if page["data"]:
                break
            await asyncio.sleep(0.02)
        assert page["data"][0]["providerId"] == "twilio"
    finally:
        await simulation.stop()


def test_simulate_command_exports_serve_simulation() -> None:
    assert exported is serve_simulation


def test_simulate_arguments_and_defaults() -> None:
    args = build_parser().parse_args(["simulate"])
    assert (args.host, args.port, args.seed) == ("127.0.0.1", 9560, None)
    args = build_parser().parse_args(
        ["simulate", "--port", "0", "--seed", "x.yaml", "--no-envelope", "--old-server"]
    )
    assert (args.port, str(args.seed), args.no_envelope, args.old_server) == (
        0,
        "x.yaml",
        True,
        True,
    )


async def test_banner_names_urls_keys_and_outage_commands() -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    try:
        text = banner(simulation)
    finally:
        await simulation.stop()
    assert simulation.url in text
    assert f"{simulation.providers_url}/" in text
    assert simulation.api_key("production") in text
    assert simulation.api_key("development") in text
    assert "/_providers/sendgrid" in text
    assert "major_outage" in text


def _start(*extra: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "simulate", "--port", "0", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", first)
    if match is None:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"no URL in the first line {first!r}; stderr: {err}")
    return proc, match.group(0)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_simulate_command_serves_until_a_signal_then_exits_0(signum: int) -> None:
    proc, url = _start("--traffic", "0")
    try:
        response = httpx.get(f"{url}/providers/twilio/api/health", timeout=5)
        assert response.status_code == 200
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "simulator stopped" in out
    assert "Traceback" not in err


def test_simulate_command_with_a_bad_seed_exits_2(tmp_path: Path) -> None:
    seed = tmp_path / "bad.yaml"
    seed.write_text("environments: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "simulate", "--port", "0", "--seed", str(seed)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "environments" in result.stderr
    assert "Traceback" not in result.stderr
