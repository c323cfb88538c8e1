"""Real alert webhook payloads: Alertmanager 0.25 captures in ../shared/fixtures/alertmanager
(`$ALERTMANAGER_FIXTURES` overrides the directory) and Grafana's in tests/fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "alertmanager"
LOCAL = Path(__file__).resolve().parent / "fixtures"


def alertmanager_dir() -> Path:
    override = os.environ.get("ALERTMANAGER_FIXTURES")
    path = Path(override) if override else SHARED
    if not (path / "v4-firing.json").is_file():
        msg = f"Alertmanager fixtures not found in {path} (set ALERTMANAGER_FIXTURES)"
        raise FileNotFoundError(msg)
    return path


def alertmanager(name: str) -> Any:
    """`v4-firing` or `v4-resolved`, as Alertmanager 0.25 sent it."""
    return json.loads((alertmanager_dir() / f"{name}.json").read_text())


def grafana(name: str) -> Any:
    """`v1-firing` or `v1-resolved`: Grafana unified alerting's webhook body."""
    return json.loads((LOCAL / f"grafana-{name}.json").read_text())
