"""Serve the Novu simulator and the simulated providers together on one loopback port.

Layout of the one app:
- `/v1/...`, `/_sim/...`: the Novu simulator (`create_novu_app`);
- `/providers/{provider}/api/v2/summary.json`, `/providers/{provider}/api/health`: the
  providers (`create_providers_app` mounted at `/providers`);
- `/_providers`, `/_providers/{provider}`: the providers' control endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from daemon.sim.novu import create_novu_app
from daemon.sim.providers import ProviderFarm, create_providers_app, provider_control_routes
from daemon.sim.state import NovuSimulator
from daemon.sim.traffic import generate_traffic
from daemon.sim.wiring import connect

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0


class SimulationError(RuntimeError):
    """The simulation could not start (port taken, bad seed, ...)."""


def create_simulation_app(sim: NovuSimulator, farm: ProviderFarm) -> Starlette:
    """One app: Novu at `/`, providers at `/providers`, provider control at `/_providers`."""
    return Starlette(
        routes=[
            Mount("/providers", app=create_providers_app(farm)),
            *provider_control_routes(farm),
            Mount("", app=create_novu_app(sim)),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn that reports when it listens and leaves signals to its host program."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one.

    The protocol is named (`IPPROTO_TCP`, not the default 0) because asyncio sets
    `TCP_NODELAY` on an accepted connection only when the socket says it is TCP: without
    it every small response waits for the client's delayed ACK (~40 ms on Linux loopback).
    Accepted sockets inherit the listening socket's protocol.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        msg = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise SimulationError(msg) from exc
    sock.setblocking(False)
    return sock


@dataclass
class Simulation:
    """A running simulation: its URLs, its state objects and a way to stop it."""

    host: str
    port: int
    sim: NovuSimulator
    farm: ProviderFarm
    _server: _Server
    _task: asyncio.Task[None]
    _extra_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Novu's base URL (what the daemon's `api_url` points at)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def providers_url(self) -> str:
        """Base of the providers: `{providers_url}/sendgrid/api/health`, ..."""
        return f"{self.url}/providers"

    def api_key(self, environment: str = "production") -> str:
        return self.sim.api_key(environment)

    def set_provider_down(self, provider: str, *, down: bool) -> None:
        """A provider's page shows a major outage and its API answers 503 (or both clear)."""
        self.farm.set_down(provider, down=down)

    def set_primary_targets(self) -> list[str]:
        return self.sim.set_primary_targets()

    async def stop(self) -> None:
        """Stop serving (hung requests are released first); safe to call twice."""
        for task in self._extra_tasks:
            task.cancel()
        for task in self._extra_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._extra_tasks.clear()
        self.sim.release_hangs()
        self._server.should_exit = True
        if self._task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self) -> None:
        """Until the server stops on its own (`stop()` from elsewhere, or a failure)."""
        await asyncio.shield(self._task)


async def serve_simulation(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: str | Path | None = None,
    sim: NovuSimulator | None = None,
    farm: ProviderFarm | None = None,
    traffic: float | None = None,
    access_log: bool = False,
) -> Simulation:
    """Start the simulator and providers on `host:port` in this event loop.

    `port=0` binds a free port (see `.port`/`.url`). `traffic` sends that many messages per
    second per channel in the background. Provider outages make Novu's messages to that
    provider fail. Stop with `await simulation.stop()`.
    """
    if sim is None:
        sim = NovuSimulator.from_file(seed) if seed is not None else NovuSimulator()
    farm = farm or ProviderFarm()
    connect(farm, sim)
    sock = bind(host, port)
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_simulation_app(sim, farm),
        lifespan="off",
        log_level="info" if access_log else "warning",
        access_log=access_log,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="novu-simulation")
    listening = asyncio.create_task(server.listening.wait())
    done, _ = await asyncio.wait(
        {task, listening}, timeout=STARTUP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    if listening not in done:
        listening.cancel()
        server.should_exit = True
        sock.close()
        msg = f"the simulation did not start listening on {host}:{bound_port}"
        if task.done() and task.exception() is not None:
            raise SimulationError(msg) from task.exception()
        task.cancel()
        raise SimulationError(msg)
    simulation = Simulation(host, bound_port, sim, farm, server, task)
    if traffic:
        simulation._extra_tasks.append(
            asyncio.create_task(generate_traffic(sim, per_second=traffic), name="sim-traffic")
        )
    return simulation
