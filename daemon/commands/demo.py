"""`novu-failover demo`: the whole product on loopback in about a minute.

Starts the Novu simulator and simulated providers, runs the real daemon against them with
the bundled demo rules, and plays a timeline: all healthy; SendGrid goes down and email
fails over; SendGrid recovers and email fails back after the delay; SES's credentials
expire, its canary fails and the daemon refuses it as a target; a burst of invalid phone
numbers does not move SMS; Twilio flaps and the brake stops the ping-pong. Exits 0 when
the story played out, 1 if the daemon misbehaved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from string import Template

from daemon.control import FULL
from daemon.demo.timeline import LiveView, World, play, short
from daemon.durations import format_duration
from daemon.logs import PROCESS_LOGGERS, configure_logging
from daemon.service.server import Running, run_daemon
from daemon.settings import load_settings
from daemon.sim import NovuSimulator, serve_simulation

DEMO_API_KEY_ENV = "DEMO_NOVU_API_KEY"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    del name
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="run the timeline N times faster (intervals and delays shrink; default 1)",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="stay up after the story (Ctrl-C to stop) to explore the API and metrics",
    )
    parser.add_argument("--port", type=int, default=0, help="API port (default: any free one)")
    parser.add_argument(
        "--log-level", default="ERROR", help="daemon log level shown (default ERROR)"
    )


def render_rules(*, novu_url: str, providers_url: str, scale: float) -> str:
    """The bundled demo rules with URLs filled in and durations scaled."""
    interval = 2.0 * scale

    def dur(seconds: float) -> str:
        return f"{round(seconds * 1000)}ms"

    template = Template(resources.files("daemon.demo").joinpath("rules.yaml").read_text())
    return template.substitute(
        novu_url=novu_url,
        providers_url=providers_url,
        interval=dur(interval),
        timeout=dur(min(1.0, interval / 2)),
        cooldown=dur(5.0 * scale),
        brake_per=dur(600.0 * scale),
        failback=dur(10.0 * scale),
        sms_failback=dur(1.0 * scale),
        canary_interval=dur(4.0 * scale),
        canary_deadline=dur(2.0 * scale),
        canary_poll=dur(0.1 * scale),
        delivery_window=dur(30.0 * scale),
    )


def _recipient_burst(sim: NovuSimulator, channel: str, provider: str, count: int) -> None:
    """`count` messages through the channel's primary, 90% rejected for their recipient."""
    sim.set_provider_failing(provider, True, rate=0.9, failure_class="recipient")
    try:
        for _ in range(count):
            sim.send(channel)
    finally:
        sim.set_provider_failing(provider, False)


def run(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("--speed must be positive", file=sys.stderr)
        return 2
    configure_logging(fmt="text", level=args.log_level, capture=PROCESS_LOGGERS)
    try:
        return asyncio.run(_demo(args))
    except KeyboardInterrupt:
        return 0


async def _demo(args: argparse.Namespace) -> int:
    scale = 1.0 / args.speed
    out = sys.stdout
    started = time.monotonic()
    simulation = await serve_simulation("127.0.0.1", 0)
    simulation.sim.triggers.configure({"message_delay": 0.2 * scale})
    workdir = Path(tempfile.mkdtemp(prefix="novu-failover-demo-"))
    try:
        rules_path = workdir / "rules.yaml"
        rules_path.write_text(
            render_rules(
                novu_url=simulation.url, providers_url=simulation.providers_url, scale=scale
            )
        )
        settings = load_settings(
            rules=rules_path, listen=f"127.0.0.1:{args.port}", state_dir=workdir / "state"
        )
        environ = {DEMO_API_KEY_ENV: simulation.api_key("production")}
        loop = asyncio.get_running_loop()
        started_future: asyncio.Future[Running] = loop.create_future()
        daemon_task = asyncio.create_task(
            run_daemon(settings, environ=environ, on_started=started_future, handle_signals=False)
        )
        running = await asyncio.wait_for(asyncio.shield(started_future), timeout=15)
        print(
            f"novu-failover demo (speed x{args.speed:g}, probes every "
            f"{format_duration(2.0 * scale)})\n"
            f"  Novu simulator : {simulation.url}\n"
            f"  status page    : {running.url}/   (open it in a browser to watch the story)\n"
            f"  status API     : {running.url}/v1/status\n"
            f"  metrics        : {running.url}/metrics\n"
            f"  rules          : {rules_path}\n",
            file=out,
            flush=True,
        )
        world = World(
            set_outage=lambda provider, down: simulation.set_provider_down(provider, down=down),
            status=lambda: running.daemon.status(FULL),  # readiness reasons, signals
            set_canary=lambda integration, outcome: simulation.sim.triggers.configure(
                {"outcomes": {integration: outcome}}
            ),
            recipient_burst=lambda channel, provider, count: _recipient_burst(
                simulation.sim, channel, provider, count
            ),
            events=lambda: running.daemon.events(limit=20, offset=0),
        )
        view = LiveView(world, out, started=started)
        live = asyncio.create_task(view.run(period=0.1))
        code = 0
        try:
            await play(view, world, scale=scale)
        except TimeoutError as exc:
            view.say(f"✘ {exc}")
            code = 1
        finally:
            live.cancel()
        events = running.daemon.events(limit=50, offset=0)["events"]
        switches = [
            e for e in reversed(events) if e["action"] == "switch" and e["result"] != "started"
        ]
        print("\naudit trail (oldest first):", file=out)
        for event in switches:
            print(
                f"  {event['channel']:<6} {event['trigger']:<9} {event['from']} -> "
                f"{event['to']}: {event['result']} ({event['attempts']} attempt(s)) "
                f"- {short(event['reason'])}",
                file=out,
            )
        if code == 0:
            print(
                "\ndemo finished: failover, failback, canary readiness, failure classes and "
                "the brake all worked.",
                file=out,
            )
        if args.keep_running:
            print(
                f"\nstill running: open {running.url}/ or try "
                f"`novu-failover status --url {running.url}`",
                file=out,
            )
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        running.stop.set()
        await daemon_task
        return code
    finally:
        await simulation.stop()
