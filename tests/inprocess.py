"""Running the real daemon in the test's own event loop, against the simulator on loopback.

Shared by the in-process service tests; tests/e2e runs it as a separate process instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.service.server import Running, run_daemon
from daemon.settings import load_settings

API_KEY_ENV = "NOVU_KEY"
"""The variable the tests' rules name in `api_key_env`."""

_EMAIL_RULES = """\
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
        signals: [{{http: {{url: {providers}/ses/api/health}}}}]
    policy: {policy}
"""


def email_rules(simulation: Any, *, policy: str = "{cooldown: 0s}") -> str:
    """Rules for the simulator's email channel: sendgrid-main, then ses-backup, each with
    one fast http probe of its simulated provider."""
    return _EMAIL_RULES.format(
        novu=simulation.url, providers=simulation.providers_url, policy=policy
    )


async def start_daemon(
    simulation: Any, *, rules: Path, state_dir: Path, **overrides: Any
) -> tuple[Running, asyncio.Task[int]]:
    """Start `run_daemon` on a free loopback port; returns it once it serves and has started."""
    settings = load_settings(rules=rules, listen="127.0.0.1:0", state_dir=state_dir, **overrides)
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_daemon(
            settings,
            environ={API_KEY_ENV: simulation.api_key("production")},
            on_started=started,
            handle_signals=False,
        )
    )
    running = await asyncio.wait_for(started, timeout=10)
    return running, task


async def stop_daemon(running: Running, task: asyncio.Task[int]) -> None:
    running.stop.set()
    assert await task == 0


async def until(predicate: Callable[[], bool], *, within: float, what: str) -> float:
    """Poll until `predicate()` holds; the seconds it took. Fails the test after `within`."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > within:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - began
