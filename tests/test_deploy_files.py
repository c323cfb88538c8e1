"""The files in deploy/ that tools can check are checked, so they don't rot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from daemon.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None and os.environ.get("CI") != "true",
    reason="promtool (Debian package prometheus) not installed; CI installs it",
)


@needs_promtool
def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(ROOT / "deploy/prometheus/alerts.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_alert_rules_name_only_metrics_the_daemon_exports() -> None:
    """Every novu_failover_* series an alert uses is registered by daemon.metrics."""
    registry = CollectorRegistry()
    Metrics(registry)
    exported = generate_latest(registry).decode()
    names = set(
        re.findall(
            r"\b(novu_failover_[a-z_]+)", (ROOT / "deploy/prometheus/alerts.yaml").read_text()
        )
    )
    assert names
    missing = sorted(
        n
        for n in names
        if f"# TYPE {n.removesuffix('_total')} " not in exported and f"# TYPE {n} " not in exported
    )
    assert missing == []
