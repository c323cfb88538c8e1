"""`make bench`: the five figures of issue 11, written to bench/RESULTS.md.

    make bench                                   # all five figures (~10 minutes)
    .venv/bin/python bench/run.py --only 1,3     # some figures
    .venv/bin/python bench/run.py --smoke --out /tmp/r.md   # tiny sizes: the harness works

Prints and writes figures; asserts nothing. Hand-written analysis (missed targets, profile
excerpts) lives in bench/NOTES.md and is copied below the figures.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BENCH, BenchError, Figure
from report import print_table, render


def _figures(only: set[int], *, smoke: bool, workdir: Path) -> list[Figure]:
    def figure(module: str) -> Any:
        return importlib.import_module(module)

    figures: list[Figure] = []
    steps = [
        (1, lambda: figure("alert_reaction").measure(workdir, switches=4 if smoke else 200)),
        (2, lambda: figure("failover").measure(workdir, channels=2 if smoke else 20)),
        (
            3,
            lambda: figure("core").measure(
                channels=200 if smoke else 10_000, runs=2 if smoke else 5
            ),
        ),
        (4, lambda: figure("probe_cost").measure(workdir, smoke=smoke)),
        (5, lambda: figure("footprint").measure(workdir, smoke=smoke)),
    ]
    for number, step in steps:
        if number not in only:
            continue
        began = time.monotonic()
        print(f"figure {number}: measuring...", flush=True)
        try:
            measured = step()
        except BenchError as exc:  # one figure's failure is a result too; go on
            measured = [Figure(number, f"figure {number} FAILED", "", [], note=str(exc))]
        print_table(measured)
        print(f"figure {number}: {time.monotonic() - began:.0f}s", flush=True)
        figures += measured
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness")
    parser.add_argument("--only", default="1,2,3,4,5", help="comma-separated figure numbers")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--workdir", type=Path, help="keep logs and files here")
    args = parser.parse_args(argv)
    only = {int(n) for n in args.only.split(",") if n.strip()}
    with tempfile.TemporaryDirectory(prefix="novu-failover-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        figures = _figures(only, smoke=args.smoke, workdir=workdir)
    notes = BENCH / "NOTES.md"
    commentary = "" if args.smoke or not notes.is_file() else notes.read_text()
    mode = "smoke sizes" if args.smoke else "full sizes"
    args.out.write_text(render(figures, mode=mode, commentary=commentary))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
