"""The shipped alerting rules (deploy/prometheus/alerts.yaml) under `promtool test rules`:
every alert has a case where it fires and the clean start fires none of them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from daemon.metrics import Metrics

PROMETHEUS = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yaml"
UNIT_TESTS = PROMETHEUS / "alerts.test.yaml"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool not installed (apt-get install prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run this test")
    pytest.skip(message)


def _alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def _cases() -> list[dict[str, object]]:
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["tests"]
    return [case for test in tests for case in test["alert_rule_test"]]


def test_promtool_unit_tests_of_the_alerting_rules_pass() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", UNIT_TESTS.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROMETHEUS,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_shipped_alert_has_a_case_where_it_fires() -> None:
    firing = {case["alertname"] for case in _cases() if case.get("exp_alerts")}
    assert sorted(set(_alert_names()) - firing) == []


def test_the_clean_start_case_checks_every_alert_stays_quiet() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["tests"]
    clean = next(t for t in tests if t["name"] == "a clean start fires nothing")
    quiet = {c["alertname"] for c in clean["alert_rule_test"] if c["exp_alerts"] == []}
    assert sorted(set(_alert_names()) - quiet) == []


def test_the_counters_the_alerts_watch_exist_at_zero_once_a_channel_loads() -> None:
    """The unit tests feed `..._total` series from 0; the daemon must export them so."""
    metrics = Metrics(CollectorRegistry())
    metrics.channel_loaded("production", "email", ["sendgrid-main", "ses-backup"])
    text = metrics.text()
    for series in (
        'novu_failover_actions_total{channel="email",environment="production",result="failed"} 0.0',
        'novu_failover_switches_total{channel="email",environment="production",'
        'from_integration="sendgrid-main",to_integration="ses-backup",trigger="failover"} 0.0',
        'novu_failover_alerts_received_total{source="alertmanager",status="rejected"} 0.0',
        'novu_failover_alertmanager_syncs_total{result="error"} 0.0',
    ):
        assert series in text
