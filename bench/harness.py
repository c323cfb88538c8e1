"""Processes and numbers for the benchmarks: the daemon, the simulator, the probe target and
blackbox_exporter as child processes on loopback; their CPU and RSS from /proc; medians.

The daemon is driven as a black box (`novu-failover run`, its HTTP API), so the harness
does not depend on how the service is built inside.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TOKEN = "bench-token-3f9c2a7d5e1b"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class BenchError(RuntimeError):
    """A process did not start, or did not become ready in time."""


# --- numbers --------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median of the numbers (NaN marks a sample that failed: left out)."""
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (nearest rank); with few samples it is the maximum."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1))
    return ordered[rank]


@dataclass
class Figure:
    """One row of RESULTS.md: a measured quantity with its baseline from the same run."""

    number: int
    name: str
    unit: str
    samples: list[float]
    baseline_name: str = ""
    baseline: list[float] = field(default_factory=list)
    target: str = ""
    met: bool | None = None
    note: str = ""
    higher_is_better: bool = False

    @property
    def median(self) -> float:
        return median(self.samples)

    @property
    def p99(self) -> float:
        """p99 of the worse tail: the low end when higher is better."""
        if self.higher_is_better:
            return -p99([-v for v in self.samples])
        return p99(self.samples)

    @property
    def ratio(self) -> float:
        base = median(self.baseline)
        return self.median / base if base else float("nan")


# --- processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _exe(name: str) -> list[str]:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "daemon"]


@dataclass
class Usage:
    """CPU seconds (user + system) and resident memory of one process at one moment."""

    cpu: float
    rss_mb: float
    at: float


def usage(pid: int) -> Usage:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        rss = int(statm.read().split()[1]) * PAGE / 1e6
    return Usage(cpu=cpu, rss_mb=rss, at=time.monotonic())


class Child:
    """A child process whose output goes to a log file in the bench's work directory."""

    def __init__(self, name: str, argv: list[str], *, workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self._log, cwd=workdir, env=env
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def first_line(self, pattern: str, *, within: float = 30.0) -> re.Match[str]:
        """Read stdout lines until one matches `pattern` (the rest goes to the log)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            self._log.write(line.encode())
            found = re.search(pattern, line)
            if found:
                return found
        self.stop()
        msg = f"{self.name} did not print {pattern!r}; see {self.log_path}"
        raise BenchError(msg)

    def usage(self) -> Usage:
        return usage(self.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOVU_FAILOVER_")}
    env.update(extra)
    return env


def start_simulator(workdir: Path, *, seed: Path | None = None) -> tuple[Child, str]:
    """`novu-failover simulate` on a free port, rate limit and traffic off; (child, url)."""
    argv = [*_exe("novu-failover"), "simulate", "--port", "0", "--traffic", "0"]
    argv += ["--rate-limit", "0"]
    if seed is not None:
        argv += ["--seed", str(seed)]
    child = Child("simulator", argv, workdir=workdir, env=_env())
    found = child.first_line(r"Novu simulator\s+(http://\S+)")
    return child, found.group(1)


def start_target(workdir: Path) -> tuple[Child, str]:
    child = Child("target", [sys.executable, str(BENCH / "target.py")], workdir=workdir, env=_env())
    found = child.first_line(r"listening (\d+)")
    return child, f"http://127.0.0.1:{found.group(1)}"


def start_simulator_and_target(
    workdir: Path, *, seed: Path, started: list[Child]
) -> tuple[str, str]:
    """The simulator with `seed` and the probe target, added to `started`; their URLs."""
    simulator, sim_url = start_simulator(workdir, seed=seed)
    started.append(simulator)
    target, target_url = start_target(workdir)
    started.append(target)
    return sim_url, target_url


def start_daemon(
    workdir: Path, rules: Path, *, api_keys: dict[str, str], name: str = "daemon"
) -> tuple[Child, str]:
    """`novu-failover run` on a free port with `rules`; returns as soon as it is spawned."""
    port = free_port()
    state = workdir / f"{name}-state"
    shutil.rmtree(state, ignore_errors=True)
    env = _env(
        NOVU_FAILOVER_RULES=str(rules),
        NOVU_FAILOVER_LISTEN=f"127.0.0.1:{port}",
        NOVU_FAILOVER_STATE_DIR=str(state),
        NOVU_FAILOVER_API_TOKEN=TOKEN,
        NOVU_FAILOVER_LOG_FORMAT="json",
        **api_keys,
    )
    child = Child(name, [*_exe("novu-failover"), "run"], workdir=workdir, env=env)
    return child, f"http://127.0.0.1:{port}"


def start_blackbox(workdir: Path) -> tuple[Child, str] | None:
    """prometheus-blackbox-exporter with an `http_2xx` module, or None when not installed."""
    exe = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if exe is None:
        return None
    config = workdir / "blackbox.yml"
    config.write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
        "    http:\n      preferred_ip_protocol: ip4\n"
    )
    port = free_port()
    argv = [exe, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
    child = Child("blackbox", argv, workdir=workdir, env=_env())
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/healthy", child=child, within=20)
    return child, url


def wait_http(
    url: str, *, child: Child, within: float, status: int = 200, every: float = 0.01
) -> float:
    """Poll `url` every `every` seconds until it answers `status`; seconds since the child
    was spawned."""
    deadline = time.monotonic() + within
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                msg = f"{child.name} exited with {child.proc.returncode}; see {child.log_path}"
                raise BenchError(msg)
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == status:
                    return time.monotonic() - child.started_at
            time.sleep(every)
    msg = f"{url} did not answer {status} within {within:g}s; see {child.log_path}"
    raise BenchError(msg)


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """Stops every child appended to the list, whatever happens."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


# --- the daemon's API -----------------------------------------------------------------


def round_trips(client: httpx.Client, url: str, count: int) -> list[float]:
    """Seconds per GET of `url`, `count` times over the client's kept-alive connection."""
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        client.get(url).raise_for_status()
        samples.append(time.perf_counter() - began)
    return samples


def status(client: httpx.Client, url: str) -> dict[str, Any]:
    answer = client.get(f"{url}/v1/status", timeout=30)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def all_candidates_up(body: dict[str, Any]) -> bool:
    return all(c["state"] == "up" for channel in body["channels"] for c in channel["candidates"])


def wait_until_up(url: str, *, child: Child, within: float) -> float:
    """Poll /v1/status until every candidate of every channel is up; seconds it took."""
    began = time.monotonic()
    with httpx.Client() as client:
        while time.monotonic() - began < within:
            if not child.alive():
                msg = f"{child.name} exited; see {child.log_path}"
                raise BenchError(msg)
            with contextlib.suppress(httpx.HTTPError):
                if all_candidates_up(status(client, url)):
                    return time.monotonic() - began
            time.sleep(0.1)
    msg = f"not every candidate came up within {within:g}s; see {child.log_path}"
    raise BenchError(msg)


def metric_sum(text: str, name: str) -> float:
    """Sum of every sample of `name` in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def sim_calls(client: httpx.Client, sim_url: str) -> list[dict[str, Any]]:
    answer = client.get(f"{sim_url}/_sim/calls", params={"kind": "set-primary"}, timeout=30)
    answer.raise_for_status()
    calls: list[dict[str, Any]] = answer.json()["calls"]
    return calls


def dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1))
