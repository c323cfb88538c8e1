"""`novu-failover demo`, CI-sized with --speed, plays the whole story and exits 0."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_demo_shows_failover_failback_and_brake() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "demo", "--speed", "4"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in out + result.stderr
    assert "email failed over: primary is ses-backup" in out
    assert "email failed back: primary is sendgrid-main again" in out
    assert "sms brake tripped" in out
    assert re.search(r"status page +: http://127\.0\.0\.1:\d+/ ", out), out
    assert "/v1/status" in out
    assert "/metrics" in out
    assert re.search(r"email +failover +sendgrid-main -> ses-backup: ok", out), out
    assert re.search(r"email +failback +ses-backup -> sendgrid-main: ok", out), out
