"""Figure 4: CPU-seconds per 1,000 HTTP probes, the daemon beside blackbox_exporter.

Both probe the same local target at the same rate. The daemon: channels of 3 candidates x
3 http signals (interval 10 s, the issue's shape; 1 s for the smoke run) across
environments, reconcile every 5 minutes so Novu reads stay out of the window.
blackbox_exporter: the bench asks its `/probe?module=http_2xx&target=...` at the same
rate, as Prometheus would. Each window
counts the probes the target served and the prober's CPU (user + system) from /proc.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
from harness import (
    Child,
    Figure,
    children,
    start_blackbox,
    start_daemon,
    start_simulator_and_target,
    wait_http,
)
from world import SignalsOf, Slot, World, write_yaml

SIGNALS = 3


def _signals_for(target_url: str) -> SignalsOf:
    def signals(slot: Slot, candidate: int) -> list[dict[str, Any]]:
        base = f"{target_url}/ok/{slot.name}/{slot.integration(candidate)}"
        return [{"http": {"name": f"api{n}", "url": f"{base}/{n}"}} for n in range(SIGNALS)]

    return signals


def _served(client: httpx.Client, target_url: str) -> int:
    served: int = client.get(f"{target_url}/_count").json()["served"]
    return served


def _windows(child: Child, target_url: str, *, windows: int, seconds: float) -> list[float]:
    """CPU-seconds per 1,000 probes in each window (the target's count, less our own reads)."""
    costs = []
    with httpx.Client(timeout=10) as client:
        for _ in range(windows):
            before, served_before = child.usage(), _served(client, target_url)
            time.sleep(seconds)
            after, served_after = child.usage(), _served(client, target_url)
            probes = served_after - served_before - 1  # one of them was our /_count
            if probes > 0:
                costs.append((after.cpu - before.cpu) / probes * 1000)
    return costs


class _Driver(threading.Thread):
    """Asks blackbox_exporter to probe the target `rate` times a second until stopped."""

    def __init__(self, blackbox_url: str, target: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.url = f"{blackbox_url}/probe"
        self.params = {"module": "http_2xx", "target": target}
        self.period = 1.0 / rate
        self.halt = threading.Event()
        self.failed = 0

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            due = time.monotonic()
            while not self.halt.is_set():
                answer = client.get(self.url, params=self.params)
                if "probe_success 1" not in answer.text:
                    self.failed += 1
                due += self.period
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)


def measure(workdir: Path, *, smoke: bool) -> list[Figure]:
    channels = 2 if smoke else 54
    windows, seconds = (2, 1.5) if smoke else (4, 8.0)
    interval = 1.0 if smoke else 10.0
    world = World(channels=channels, candidates=3)
    rate = channels * 3 * SIGNALS / interval
    seed = write_yaml(workdir / "probe-seed.yaml", world.seed())
    with children() as started:
        sim_url, target_url = start_simulator_and_target(workdir, seed=seed, started=started)
        rules = world.rules(
            novu_url=sim_url,
            signals=_signals_for(target_url),
            defaults={"interval": "5m", "timeout": "5s"},
        )
        for channel in rules["channels"]:
            for candidate in channel["candidates"]:
                for entry in candidate["signals"]:
                    entry["http"]["interval"] = f"{interval:g}s"
                    entry["http"]["timeout"] = f"{interval / 2:g}s"
        path = write_yaml(workdir / "probe-rules.yaml", rules)
        daemon, url = start_daemon(workdir, path, api_keys=world.api_keys(), name="probe-daemon")
        started.append(daemon)
        wait_http(f"{url}/readyz", child=daemon, within=120)
        time.sleep(interval)  # first runs done: steady state
        ours = _windows(daemon, target_url, windows=windows, seconds=seconds)
        daemon.stop()
        blackbox = start_blackbox(workdir)
        theirs: list[float] = []
        note = f"{rate:.1f} probes/s each ({channels} channels x 3 candidates x {SIGNALS} "
        note += f"http signals every {interval:g}s); {windows} windows of {seconds:g}s"
        if blackbox is None:
            note += "; prometheus-blackbox-exporter not installed: no comparison"
        else:
            child, blackbox_url = blackbox
            started.append(child)
            driver = _Driver(blackbox_url, f"{target_url}/ok/blackbox", rate)
            driver.start()
            time.sleep(1.0)
            theirs = _windows(child, target_url, windows=windows, seconds=seconds)
            driver.halt.set()
            driver.join(timeout=10)
            note += f"; blackbox_exporter failed probes: {driver.failed}"
    figure = Figure(
        4,
        "probe cost: CPU-seconds per 1,000 HTTP probes (daemon)",
        "CPU-s",
        ours,
        baseline_name="prometheus-blackbox-exporter, same target and rate",
        baseline=theirs,
        target="<= 2x blackbox_exporter",
        note=note,
    )
    figure.met = None if not theirs else figure.ratio <= 2
    return [figure]
