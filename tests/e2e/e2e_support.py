"""End-to-end support: rules for the real daemon process and a handle on that process."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

TOKEN = "e2e-control-token-3141592653"

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
          - statuspage: {{url: {providers_url}/sendgrid, components: [Mail Sending]}}
          - http: {{url: {providers_url}/sendgrid/api/health}}
      - integration: ses-backup
        signals:
          - http: {{url: {providers_url}/ses/api/health}}
    policy: {{cooldown: 1s, failback: {{after: {failback}}}, brake: {{max: 3, per: 1h}}}}
  - environment: production
    channel: sms
    candidates:
      - integration: twilio-main
        signals:
          - http: {{url: {providers_url}/twilio/api/health}}
      - integration: vonage-backup
        signals:
          - http: {{url: {providers_url}/vonage/api/health}}
    policy: {{cooldown: 1s}}
"""

INTERVAL = 0.5
FALL = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DaemonProcess:
    """The real daemon as a child process, with its log captured to a file."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("novu-failover", path=str(Path(sys.executable).parent))
        cmd = [exe] if exe else [sys.executable, "-m", "daemon"]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*cmd, "run"],
            env={**self.env, "NOVU_FAILOVER_LISTEN": f"127.0.0.1:{self.port}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    async def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    pytest.fail(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    response = await client.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail(f"daemon not ready within {timeout}s:\n{self.log()}")

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.url}{path}")
            response.raise_for_status()
            return response.json() if "json" in response.headers["content-type"] else response.text

    async def post(self, path: str, body: Any, *, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient() as client:
            return await client.post(f"{self.url}{path}", json=body, headers=headers)
