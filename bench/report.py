"""RESULTS.md: the machine, then every figure as median, p99, baseline and ratio."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime

from harness import Figure, median


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(info.readline().split()[1])
            return f"{kib / 1048576:.0f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return found.stdout.strip() or "unknown"


def machine() -> list[str]:
    return [
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {_commit()}",
        f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores; memory {_memory()}",
        f"- {platform.platform()}; Python {platform.python_version()}",
        f"- load average (1/5/15 min) when the run ended: {_load()}",
    ]


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _met(figure: Figure) -> str:
    if figure.met is None:
        return ""
    return "yes" if figure.met else "**no**"


def table(figures: Sequence[Figure]) -> list[str]:
    lines = [
        "| # | figure | median | p99 | baseline (median) | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        baseline = f"{_num(median(f.baseline))} {f.unit} ({f.baseline_name})" if f.baseline else ""
        ratio = f"{_num(f.ratio)}x" if f.baseline else ""
        lines.append(
            f"| {f.number} | {f.name} | {_num(f.median)} {f.unit} | {_num(f.p99)} {f.unit} "
            f"| {baseline} | {ratio} | {f.target} | {_met(f)} |"
        )
    notes = [f"- figure {f.number}, {f.name.strip()}: {f.note}" for f in figures if f.note]
    return [*lines, "", *notes] if notes else lines


def render(figures: Sequence[Figure], *, mode: str, commentary: str = "") -> str:
    parts = [
        "# novu-failover benchmarks",
        "",
        f"Written by `make bench` ({mode}). Each figure: median and p99 over repeated runs, "
        "and its ratio to a baseline measured in the same run on the same machine.",
        "",
        "## Machine",
        *machine(),
        "",
        "## Figures",
        *table(figures),
    ]
    if commentary:
        parts += ["", commentary.rstrip()]
    return "\n".join(parts) + "\n"


def print_table(figures: Sequence[Figure]) -> None:
    for line in table(figures):
        print(line)
