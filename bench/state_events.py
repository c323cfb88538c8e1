"""How long the audit trail takes to open and to serve a page, with 1,000,000 records.

Prints figures, asserts nothing. The baseline is one plain read of every byte of the trail
(what `events` did before it read from the tail): a page should cost a tiny fraction of
it, and only a deep offset should approach it (skipping lines costs a newline count).

    .venv/bin/python bench/state_events.py [records]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from daemon.state import AUDIT_FILE, STATE_FILE, StateStore, rotated_name

T0 = 1_700_000_000
TEMPLATE = (
    b'{"id":"r%d","at":%d,"environment":"production","channel":"email",'
    b'"from":"sendgrid-main","to":"ses-backup","trigger":"failover",'
    b'"reason":"primary sendgrid-main is down (3/3 checks failed)","result":"ok",'
    b'"dry_run":false,"attempts":1,"evidence":["statuspage: Mail Sending major_outage"],'
    b'"error":null,"erased_conditions":[],"duration":0.8,"extra":{},"action":"switch"}\n'
)


def _write_trail(directory: Path, records: int, files: int) -> int:
    per_file = records // files
    for generation in range(1, files + 1):
        first = (generation - 1) * per_file
        data = b"".join(TEMPLATE % (i, T0 + i) for i in range(first, first + per_file))
        name = AUDIT_FILE if generation == files else rotated_name(generation)
        (directory / name).write_bytes(data)
    state = {
        "version": 2,
        "global_pause": None,
        "pauses": {},
        "histories": {},
        "open_actions": {},
        "audit": {"generation": files, "offset": (directory / AUDIT_FILE).stat().st_size},
    }
    (directory / STATE_FILE).write_text(json.dumps(state))
    return sum(p.stat().st_size for p in directory.iterdir())


def _timed(label: str, run: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    print(f"  {label:<44} {best * 1000:9.2f} ms")
    return best


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    files = 5
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        size = _write_trail(directory, records, files)
        print(f"audit trail: {records:,} records in {files} files, {size / 2**20:.0f} MiB")

        def read_all() -> None:
            for path in directory.glob("audit*.jsonl"):
                path.read_bytes().split(b"\n")

        baseline = _timed("baseline: read and split every file", read_all)
        opened = _timed(
            "open (count lines, no parsing)",
            lambda: StateStore.open(directory, audit_keep=files).close(),
            repeat=3,
        )
        with StateStore.open(directory, audit_keep=files) as store:
            for offset in (0, 1_000, records // 2, records - 50):
                took = _timed(
                    f"events(limit=50, offset={offset:,})",
                    lambda o=offset: store.events(limit=50, offset=o),
                )
                print(f"  {'':<44} {took / baseline:9.4f} x baseline")
        print(f"  open is {opened / baseline:.2f} x baseline")


if __name__ == "__main__":
    main()
