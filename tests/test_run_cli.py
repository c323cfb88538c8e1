"""`novu-failover run` start-up refusals: one clear line on stderr and exit 2, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXECUTABLE = Path(sys.executable).parent / "novu-failover"


def _run(tmp_path: Path, listen: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NOVU_FAILOVER_")}
    environ.update(NOVU_API_KEY="sk-run-cli-test", NOVU_FAILOVER_STATE_DIR=str(tmp_path))
    return subprocess.run(
        [str(EXECUTABLE), "run", "--rules", str(ROOT / "rules.yaml"), "--listen", listen],
        capture_output=True,
        text=True,
        check=False,
        env=environ,
        timeout=60,
    )


def test_a_port_already_taken_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run(tmp_path, f"127.0.0.1:{port}")
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"cannot listen on 127.0.0.1:{port}: Address already in use\n"
