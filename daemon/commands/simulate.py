"""`novu-failover simulate`: the Novu simulator and simulated providers on loopback.

One port serves both: Novu's API at `/v1/...` (control at `/_sim/...`) and the providers at
`/providers/{provider}/...` (control at `/_providers/...`). Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TextIO

from daemon.sim import (
    SeedError,
    Simulation,
    SimulationError,
    load_seed,
    serve_simulation,
)
from daemon.sim.state import NovuSimulator

__all__ = ["add_arguments", "run", "serve_simulation"]

DEFAULT_PORT = 9560


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    del name
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument(
        "--seed", type=Path, help="YAML/JSON world to start from (default: the bundled seed)"
    )
    parser.add_argument(
        "--traffic",
        type=float,
        default=1.0,
        metavar="N",
        help="messages per second per channel sent through Novu's routing (0 = none)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=30.0,
        metavar="N",
        help="requests per second per environment before 429 (0 = off; default 30)",
    )
    parser.add_argument(
        "--no-envelope", action="store_true", help='answer bare bodies, without {"data": ...}'
    )
    parser.add_argument(
        "--old-server",
        action="store_true",
        help="list every environment's integrations, 404 for another environment's",
    )
    parser.add_argument(
        "--no-idempotency", action="store_true", help="ignore idempotency-key (self-hosted)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")


def banner(simulation: Simulation) -> str:
    """What to tell the person who started the simulation: URLs, keys, and what to try."""
    url = simulation.url
    sim = simulation.sim
    keys = "\n".join(
        f"    {env.name:<12} {env.api_key}   (environment id {env.id})" for env in sim.environments
    )
    providers = ", ".join(simulation.farm.names)
    key = sim.api_key(sim.environments[0].name)
    return f"""\
Novu simulator    {url}        (control: {url}/_sim/state)
Providers         {simulation.providers_url}/{{provider}}/api/v2/summary.json, .../api/health
                  providers: {providers}       (control: {url}/_providers)
API keys (fake, simulator only):
{keys}

Try:
  curl -s -H 'Authorization: ApiKey {key}' {url}/v1/integrations
  curl -s -X POST {url}/_providers/sendgrid \\
       -H 'Content-Type: application/json' -d '{{"status": "major_outage", "api_down": true}}'
  curl -s -X POST {url}/_providers/sendgrid \\
       -H 'Content-Type: application/json' -d '{{"status": null, "api_down": false}}'
  curl -s -X POST {url}/_sim/faults \\
       -H 'Content-Type: application/json' -d '{{"kind": "error", "status": 503, "count": 3}}'
  curl -s {url}/_sim/calls
Ctrl-C to stop."""


def _simulator(args: argparse.Namespace) -> NovuSimulator:
    seed = load_seed(args.seed) if args.seed is not None else None
    return NovuSimulator(
        seed,
        envelope=not args.no_envelope,
        idempotency=not args.no_idempotency,
        old_server=args.old_server,
        rate_limit=args.rate_limit or None,
    )


async def _serve(args: argparse.Namespace, out: TextIO) -> None:
    simulation = await serve_simulation(
        args.host,
        args.port,
        sim=_simulator(args),
        traffic=args.traffic or None,
        access_log=args.access_log,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(banner(simulation), file=out, flush=True)
    stopping = asyncio.create_task(stop.wait())
    serving = asyncio.create_task(simulation.wait())
    try:
        await asyncio.wait({stopping, serving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopping, serving):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await simulation.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run(args: argparse.Namespace) -> int:
    if args.traffic < 0 or args.rate_limit < 0:
        print("simulate: --traffic and --rate-limit must not be negative", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args, sys.stdout))
    except (SeedError, SimulationError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    print("simulator stopped", file=sys.stdout, flush=True)
    return 0
