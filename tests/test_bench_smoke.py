"""`make bench` cannot rot: its smoke run starts the real processes at tiny sizes and writes
every figure. No timing is asserted (figures go in bench/RESULTS.md, not in tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_the_bench_smoke_run_writes_all_five_figures(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(out),
         "--workdir", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text()
    assert "## Machine" in text
    assert "CPU:" in text
    rows = [line for line in text.splitlines() if re.match(r"\| \d \|", line)]
    assert {row.split("|")[1].strip() for row in rows} == {"1", "2", "3", "4", "5"}
    for row in rows:
        median = row.split("|")[3].strip()
        assert not median.startswith("n/a"), row
    headline = {row.split("|")[1].strip(): row for row in rows}
    assert "x |" in headline["1"]  # the alert reaction has its loopback baseline and ratio
    probe_cost = next(row for row in rows if "probe cost" in row)
    assert "blackbox" in probe_cost, "prometheus-blackbox-exporter must be installed"
    assert re.search(r"\| [0-9.]+x \|", probe_cost), probe_cost  # a ratio to blackbox
