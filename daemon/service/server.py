"""Process lifecycle: load, serve the API, run the jobs, stop cleanly on SIGTERM.

SIGTERM/SIGINT: stop scheduling, let an in-flight action finish within the shutdown bound,
flush state, exit 0. SIGHUP: reload the rules (the file is also watched for changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.routing import Route

from daemon import __version__
from daemon.api import create_app
from daemon.api.alerts import GrafanaSigning, alert_routes
from daemon.api.auth import GRAFANA_SIGNATURE_HEADER
from daemon.clock import Clock, SystemClock
from daemon.heap import collector_paused
from daemon.logs import log_event, register_secret
from daemon.metrics import Metrics
from daemon.rules.loader import RulesError, load_rules
from daemon.rules.model import Rules
from daemon.secrets import SecretError
from daemon.service.control import DaemonControl
from daemon.service.daemon import Daemon
from daemon.service.probing import probe_client
from daemon.settings import Settings
from daemon.state import StateError, StateStore

log = logging.getLogger("novu_failover.server")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the daemon owns SIGTERM/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _register_token(settings: Settings) -> None:
    """The API token is a secret the redactor must know: pasted anywhere, it shows as ***."""
    if settings.api_token is not None:
        register_secret(settings.api_token.get_secret_value())


def _listen(host: str, port: int) -> socket.socket | None:
    """A listening TCP socket on host:port, or None after printing one line saying why not
    (the port is taken, the host does not resolve)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).split(" (while attempting", 1)[0]
        print(f"cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return None
    # create_server leaves the protocol 0; asyncio sets TCP_NODELAY on accepted connections
    # only when the socket says IPPROTO_TCP (else answers can wait ~40 ms for delayed ACKs)
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, listener.detach())


@dataclass
class Running:
    """A started daemon (for the demo and tests that run it in-process)."""

    daemon: Daemon
    control: DaemonControl
    url: str
    stop: asyncio.Event


@collector_paused()  # rules of 1,000 channels: ~90k YAML nodes, then their models
def _load(settings: Settings, rules_path: Path) -> tuple[Rules, StateStore] | None:
    """Rules and state, or None after printing why the daemon cannot start."""
    try:
        rules = load_rules(rules_path)
    except RulesError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        print(f"{len(exc.errors)} error(s) in {rules_path}; not starting", file=sys.stderr)
        return None
    except OSError as exc:
        print(f"cannot read rules file {rules_path}: {exc.strerror}", file=sys.stderr)
        return None
    try:
        store = StateStore.open(
            Path(settings.state_dir),
            audit_max_bytes=settings.audit_max_bytes,
            audit_keep=settings.audit_keep,
        )
    except StateError as exc:
        print(f"state: {exc}", file=sys.stderr)
        return None
    return rules, store


def _webhooks(
    daemon: Daemon, *, settings: Settings, metrics: Metrics, clock: Clock
) -> list[Route]:
    """The alert webhook routes: a bearer token, or Grafana's HMAC signature when set."""
    signing = None
    if settings.grafana_hmac_secret is not None:
        register_secret(settings.grafana_hmac_secret.get_secret_value())
        signing = GrafanaSigning(
            settings.grafana_hmac_secret,
            timestamp_header=settings.grafana_hmac_timestamp_header.strip() or None,
            max_age=settings.grafana_hmac_max_age,
            header=settings.grafana_hmac_header.strip() or GRAFANA_SIGNATURE_HEADER,
        )
    return alert_routes(
        daemon.receive_alerts,
        api_token=settings.api_token,
        count=metrics.alert_received,
        grafana_signing=signing,
        clock=clock.now,
    )


async def run_daemon(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    on_started: asyncio.Future[Running] | None = None,
    handle_signals: bool = True,
) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set). Returns the process exit code."""
    environ = os.environ if environ is None else environ
    clock = clock or SystemClock()
    _register_token(settings)
    stop = stop or asyncio.Event()
    rules_path = Path(settings.rules)
    loaded = _load(settings, rules_path)
    if loaded is None:
        return 2
    rules, store = loaded
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    host, port = settings.listen_address
    async with (
        httpx.AsyncClient(
            headers={"User-Agent": f"novu-failover/{__version__}"}, follow_redirects=False
        ) as http,
        probe_client() as probe_http,
    ):
        try:
            with collector_paused():
                daemon = Daemon(
                    rules,
                    rules_path=rules_path,
                    settings=settings,
                    http=http,
                    probe_http=probe_http,
                    clock=clock,
                    store=store,
                    metrics=metrics,
                    environ=environ,
                )
        except SecretError as exc:
            print(f"cannot start: {exc}", file=sys.stderr)
            return 2
        metrics.rules_loaded(now=clock.now())
        control = DaemonControl(daemon)
        webhooks = _webhooks(daemon, settings=settings, metrics=metrics, clock=clock)
        app = create_app(
            control,
            registry=registry,
            families=metrics.families,
            api_token=settings.api_token,
            alert_routes=webhooks,
            timeline=daemon.timeline,
        )
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()
        if handle_signals:
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGHUP, daemon.request_reload, "SIGHUP")
        listener = _listen(host, port)  # bound here: uvicorn's bind error is a traceback
        if listener is None:
            return 2
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started:
            if serving.done():
                print(f"cannot listen on {host}:{port}", file=sys.stderr)
                return 2
            await asyncio.sleep(0.02)
        bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
        url = f"http://{host}:{bound}"
        log_event(
            log,
            logging.INFO,
            "start",
            f"novu-failover {__version__} serving on {url} "
            f"({len(rules.channels)} channel(s), rules {rules_path})",
            url=url,
        )
        await daemon.start()
        if on_started is not None and not on_started.done():
            on_started.set_result(Running(daemon=daemon, control=control, url=url, stop=stop))
        await stop.wait()
        log_event(log, logging.INFO, "stop", "stopping: finishing in-flight work")
        await daemon.stop(grace=settings.shutdown_timeout)
        server.should_exit = True
        await serving
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
    log_event(log, logging.INFO, "stop", "stopped")
    return 0
