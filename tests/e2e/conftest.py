"""End-to-end fixtures: the Novu simulator and providers on loopback (in the test process)
and the real `novu-failover run` process against them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import RULES, TOKEN, DaemonProcess

from daemon.commands.demo import DEMO_API_KEY_ENV
from daemon.sim import serve_simulation


@pytest.fixture
async def simulation() -> AsyncIterator[Any]:
    sim = await serve_simulation("127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def make_daemon(tmp_path: Path, simulation: Any) -> AsyncIterator[Any]:
    started: list[DaemonProcess] = []

    def make(*, failback: str = "3s", state_dir: Path | None = None) -> DaemonProcess:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            RULES.format(
                novu_url=simulation.url,
                providers_url=simulation.providers_url,
                failback=failback,
            )
        )
        env = {
            **os.environ,
            DEMO_API_KEY_ENV: simulation.api_key("production"),
            "NOVU_FAILOVER_RULES": str(rules),
            "NOVU_FAILOVER_STATE_DIR": str(state_dir or tmp_path / "state"),
            "NOVU_FAILOVER_API_TOKEN": TOKEN,
            "NOVU_FAILOVER_LOG_FORMAT": "json",
            "NOVU_FAILOVER_RELOAD_POLL": "0.5",
        }
        daemon = DaemonProcess(tmp_path, env)
        daemon.start()
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.signal(signal.SIGTERM)
            try:
                # off the loop: the simulator runs on this loop and must keep answering
                # while the daemon finishes its in-flight work
                await asyncio.to_thread(daemon.wait, 10)
            except subprocess.TimeoutExpired:
                daemon.kill()
