"""Prometheus metrics: names pass `promtool check metrics`, values follow the events."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from daemon.channel_metrics import ChannelSample
from daemon.logs import register_secret
from daemon.metrics import Metrics
from daemon.model import DecisionKind, Health

ENV, CHAN = "production", "email"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, version="1.2.3")


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    """The sample's value in the exposition `/metrics` serves, None when it is absent."""
    wanted = (f"novu_failover_{name}", labels)
    for family in text_string_to_metric_families(metrics.text()):
        for s in family.samples:
            if (s.name, s.labels) == wanted:
                return s.value
    return None


def promtool_check(metrics: Metrics) -> None:
    """Lint the exposition with promtool; skipped only outside CI when it is not installed."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail("promtool is required in CI (install the `prometheus` package)")
        pytest.skip("promtool is not installed")
    proc = subprocess.run(
        [promtool, "check", "metrics"],
        input=metrics.text().encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    problems = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0, problems
    assert problems.strip() == ""


def sample(
    channel: str = CHAN,
    *,
    candidates: tuple[tuple[str, Health | None], ...] = (
        ("sendgrid-main", Health.DOWN),
        ("ses-backup", None),
    ),
    signals: tuple[tuple[str, str, Health], ...] = (("sendgrid-main", "statuspage", Health.UP),),
    primary: str | None = "sendgrid-main",
    primary_known: bool = True,
    paused: bool = False,
    blocked: bool = True,
    evaluated_at: float | None = 1_700_000_000.0,
    ready: tuple[tuple[str, bool], ...] = (("sendgrid-main", True), ("ses-backup", False)),
) -> ChannelSample:
    return ChannelSample(
        ENV,
        channel,
        candidates,
        signals,
        primary,
        primary_known,
        paused,
        blocked,
        evaluated_at,
        ready,
    )


class Channels:
    """The daemon's side of the collector: whatever channels it holds at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.now: list[ChannelSample] = []
        self.scrapes = 0
        metrics.watch_channels(self.samples)

    def samples(self) -> list[ChannelSample]:
        self.scrapes += 1
        return list(self.now)


def exercise_everything(metrics: Metrics) -> None:
    Channels(metrics).now = [sample()]
    metrics.observe_signal(ENV, CHAN, "sendgrid-main", "statuspage", result="ok", seconds=0.2)
    metrics.count_decision(ENV, CHAN, DecisionKind.SWITCH)
    metrics.count_switch(
        ENV, CHAN, from_integration="sendgrid-main", to_integration="ses-backup", trigger="failover"
    )
    metrics.count_action(ENV, CHAN, result="ok", seconds=1.5)
    metrics.set_global_paused(paused=True)
    metrics.novu_request(ENV)("set_primary", 200)
    metrics.alert_received("alertmanager", "accepted")
    metrics.config_reload(True, now=1_700_000_000.0)


def test_fresh_metrics_pass_promtool(metrics: Metrics) -> None:
    promtool_check(metrics)


def test_every_metric_in_use_passes_promtool(metrics: Metrics) -> None:
    exercise_everything(metrics)
    promtool_check(metrics)


def test_every_metric_has_the_prefix(metrics: Metrics) -> None:
    exercise_everything(metrics)
    names = {m.name for m in text_string_to_metric_families(metrics.text())}
    assert len(names) >= 19
    assert all(n.startswith("novu_failover_") for n in names), names


def test_build_info_and_reload_counters_exist_from_the_start(metrics: Metrics) -> None:
    assert value(metrics, "build_info", version="1.2.3") == 1
    assert value(metrics, "config_reloads_total", result="ok") == 0
    assert value(metrics, "config_reloads_total", result="error") == 0


def test_observe_signal_counts_by_result_and_times_the_check(metrics: Metrics) -> None:
    labels = {"environment": ENV, "channel": CHAN, "integration": "ses", "signal": "http"}
    metrics.observe_signal(ENV, CHAN, "ses", "http", result="fail", seconds=0.3)
    metrics.observe_signal(ENV, CHAN, "ses", "http", result="fail", seconds=0.1)
    metrics.observe_signal(ENV, CHAN, "ses", "http", result="inconclusive", seconds=None)
    assert value(metrics, "signal_checks_total", **labels, result="fail") == 2
    assert value(metrics, "signal_checks_total", **labels, result="inconclusive") == 1
    assert value(metrics, "signal_checks_total", **labels, result="ok") is None
    assert value(metrics, "signal_check_seconds_count", **labels) == 2
    assert value(metrics, "signal_check_seconds_sum", **labels) == pytest.approx(0.4)
    per_channel = {"environment": ENV, "channel": CHAN}
    assert value(metrics, "signal_check_duration_seconds_count", **per_channel) == 2
    assert value(metrics, "signal_check_duration_seconds_bucket", **per_channel, le="0.25") == 1
    assert value(metrics, "signal_checks_created", **labels, result="fail") is None


def test_signal_health_is_a_state_set_with_exactly_one_state_set(metrics: Metrics) -> None:
    channels = Channels(metrics)
    labels = {"environment": ENV, "channel": CHAN, "integration": "ses", "signal": "http"}

    def states() -> dict[str, float | None]:
        return {s.value: value(metrics, "signal_health", **labels, state=s.value) for s in Health}

    channels.now = [sample(signals=(("ses", "http", Health.UNKNOWN),))]
    assert states() == {"up": 0, "down": 0, "unknown": 1}
    channels.now = [sample(signals=(("ses", "http", Health.DOWN),))]
    assert states() == {"up": 0, "down": 1, "unknown": 0}


def test_candidate_health_is_a_state_set_once_judged(metrics: Metrics) -> None:
    Channels(metrics).now = [sample(candidates=(("ses", Health.UP), ("mailgun", None)))]
    labels = {"environment": ENV, "channel": CHAN, "integration": "ses"}
    assert value(metrics, "candidate_health", **labels, state="up") == 1
    assert value(metrics, "candidate_health", **labels, state="down") == 0
    assert value(metrics, "candidate_health", **labels, state="unknown") == 0
    not_yet = {"environment": ENV, "channel": CHAN, "integration": "mailgun", "state": "unknown"}
    assert value(metrics, "candidate_health", **not_yet) is None


def test_candidate_ready_is_one_series_per_judged_candidate(metrics: Metrics) -> None:
    channels = Channels(metrics)
    channels.now = [sample(ready=(("sendgrid-main", True), ("ses-backup", False)))]
    ch = {"environment": ENV, "channel": CHAN}
    assert value(metrics, "candidate_ready", **ch, integration="sendgrid-main") == 1
    assert value(metrics, "candidate_ready", **ch, integration="ses-backup") == 0
    channels.now = [sample(ready=())]
    assert value(metrics, "candidate_ready", **ch, integration="ses-backup") is None


def test_primary_marks_one_integration_and_follows_the_state(metrics: Metrics) -> None:
    channels = Channels(metrics)

    def primary() -> dict[str, float]:
        return {
            s.labels["integration"]: s.value
            for m in text_string_to_metric_families(metrics.text())
            if m.name == "novu_failover_primary"
            for s in m.samples
            if s.labels["channel"] == CHAN
        }

    three = (("sendgrid", Health.UP), ("ses", Health.UP), ("mailgun", Health.UP))
    two = three[:2]
    sms = sample("sms", candidates=(("twilio", Health.UP),), primary="twilio")
    channels.now = [sms, sample(candidates=three, primary="sendgrid")]
    assert primary() == {"sendgrid": 1, "ses": 0, "mailgun": 0}
    channels.now = [sms, sample(candidates=two, primary="ses")]
    assert primary() == {"sendgrid": 0, "ses": 1}, "mailgun left the rules: its series goes"
    channels.now = [sms, sample(candidates=two, primary="postmark")]
    assert primary() == {"sendgrid": 0, "ses": 0, "postmark": 1}, "not managed, still shown"
    channels.now = [sms, sample(candidates=two, primary=None)]
    assert primary() == {"sendgrid": 0, "ses": 0}
    channels.now = [sms, sample(candidates=two, primary=None, primary_known=False)]
    assert primary() == {}, "Novu not read yet: no primary series"
    assert value(metrics, "primary", environment=ENV, channel="sms", integration="twilio") == 1


def test_switch_decision_and_action_counters(metrics: Metrics) -> None:
    ch = {"environment": ENV, "channel": CHAN}
    metrics.count_switch(ENV, CHAN, from_integration=None, to_integration="ses", trigger="manual")
    metrics.count_decision(ENV, CHAN, DecisionKind.HOLD)
    metrics.count_decision(ENV, CHAN, DecisionKind.HOLD)
    metrics.count_decision(ENV, CHAN, DecisionKind.BLOCKED)
    metrics.count_action(ENV, CHAN, result="failed", seconds=12.0)
    switch = {"from_integration": "", "to_integration": "ses", "trigger": "manual"}
    assert value(metrics, "switches_total", **ch, **switch) == 1
    assert value(metrics, "decisions_total", **ch, kind="hold") == 2
    assert value(metrics, "decisions_total", **ch, kind="blocked") == 1
    assert value(metrics, "actions_total", **ch, result="failed") == 1
    assert value(metrics, "action_duration_seconds_sum", **ch) == 12.0


def test_channel_gauges_and_global_pause(metrics: Metrics) -> None:
    channels = Channels(metrics)
    ch = {"environment": ENV, "channel": CHAN}
    channels.now = [sample(blocked=True, paused=True, evaluated_at=1_700_000_123.5)]
    assert value(metrics, "channel_blocked", **ch) == 1
    assert value(metrics, "paused", **ch) == 1
    assert value(metrics, "last_evaluation_timestamp_seconds", **ch) == 1_700_000_123.5
    channels.now = [sample(blocked=False, paused=False, evaluated_at=None)]
    assert value(metrics, "channel_blocked", **ch) == 0
    assert value(metrics, "paused", **ch) == 0
    assert value(metrics, "last_evaluation_timestamp_seconds", **ch) is None
    assert value(metrics, "global_paused") == 0
    metrics.set_global_paused(paused=True)
    assert value(metrics, "global_paused") == 1


def test_state_gauges_are_read_at_scrape_time_only(metrics: Metrics) -> None:
    """Nothing is pushed per evaluation: the source is read when, and only when, scraped."""
    channels = Channels(metrics)
    channels.now = [sample()]
    before = channels.scrapes
    metrics.count_decision(ENV, CHAN, DecisionKind.KEEP)
    assert channels.scrapes == before
    metrics.text()
    assert channels.scrapes == before + 1


def test_novu_request_callback_counts_per_environment(metrics: Metrics) -> None:
    on_request = metrics.novu_request("staging")
    on_request("list_integrations", 200)
    on_request("list_integrations", 200)
    on_request("set_primary", 503)
    on_request("set_primary", "timeout")
    env = {"environment": "staging"}
    assert value(metrics, "novu_requests_total", **env, call="list_integrations", status="200") == 2
    assert value(metrics, "novu_requests_total", **env, call="set_primary", status="503") == 1
    assert value(metrics, "novu_requests_total", **env, call="set_primary", status="timeout") == 1


def test_alerts_and_config_reloads(metrics: Metrics) -> None:
    metrics.alert_received("grafana", "rejected")
    assert value(metrics, "alerts_received_total", source="grafana", status="rejected") == 1
    metrics.config_reload(True, now=100.0)
    metrics.config_reload(False, now=200.0)
    assert value(metrics, "config_reloads_total", result="ok") == 1
    assert value(metrics, "config_reloads_total", result="error") == 1
    assert value(metrics, "config_valid") == 0
    assert value(metrics, "config_last_reload_success_timestamp_seconds") == 100.0
    metrics.config_reload(True, now=300.0)
    assert value(metrics, "config_valid") == 1
    assert value(metrics, "config_last_reload_success_timestamp_seconds") == 300.0


def test_a_channel_gone_from_the_state_leaves_no_gauges_but_keeps_its_counters(
    metrics: Metrics,
) -> None:
    channels = Channels(metrics)
    channels.now = [sample(), sample("sms")]
    metrics.count_decision(ENV, CHAN, DecisionKind.SWITCH)
    channels.now = [sample("sms")]  # a reload removed production/email
    exposition = metrics.text()
    gauge_lines = [
        line
        for line in exposition.splitlines()
        if f'channel="{CHAN}"' in line
        and line.split("{")[0].removeprefix("novu_failover_")
        in {
            "signal_health",
            "candidate_health",
            "primary",
            "channel_blocked",
            "paused",
            "last_evaluation_timestamp_seconds",
        }
    ]
    assert gauge_lines == []
    ch = {"environment": ENV, "channel": CHAN}
    assert value(metrics, "decisions_total", **ch, kind="switch") == 1
    assert value(metrics, "channel_blocked", environment=ENV, channel="sms") == 1
    promtool_check(metrics)


def test_registered_secret_never_becomes_a_label_value(metrics: Metrics) -> None:
    secret = "re_live_secret_token_9"
    register_secret(secret)
    metrics.novu_request(ENV)(f"call-{secret}", 401)
    metrics.alert_received(secret, "accepted")
    exposition = metrics.text()
    assert secret not in exposition
    assert 'call="call-***"' in exposition
    assert Metrics.label(f"id-{secret}") == "id-***"


def test_a_label_seen_before_a_secret_was_registered_is_redacted_after(metrics: Metrics) -> None:
    """Label values are redacted once and remembered; a new secret invalidates that."""
    secret = "later_registered_secret_42"
    metrics.alert_received(f"src-{secret}", "accepted")
    register_secret(secret)
    metrics.alert_received(f"src-{secret}", "accepted")
    exposition = metrics.text()
    assert 'source="src-***"' in exposition


def test_separate_registries_do_not_collide() -> None:
    """Each test (and each daemon) builds its own registry; nothing global is touched."""
    one, two = CollectorRegistry(), CollectorRegistry()
    Metrics(one).set_global_paused(paused=True)
    Metrics(two)
    assert one.get_sample_value("novu_failover_global_paused") == 1
    assert two.get_sample_value("novu_failover_global_paused") == 0
