"""The status page's timeline: a bounded in-memory ring of health transitions, decisions and
actions per channel, dated by the evidence, with no clock of its own."""

from __future__ import annotations

from daemon.health import observe
from daemon.model import AuditRecord, Decision, DecisionKind, Observation
from daemon.rules.loader import parse_rules
from daemon.service.runtime import build_runtimes
from daemon.service.timeline import Timeline

T0 = 1_700_000_000.0
KEY = "production/email"

RULES = """\
defaults: {interval: 10s, timeout: 2s, fall: 1, rise: 1}
environments:
  production: {api_url: "http://127.0.0.1:9", api_key_env: NOVU_KEY}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{http: {url: "http://127.0.0.1:9/a"}}]
      - integration: ses-backup
        signals: [{http: {url: "http://127.0.0.1:9/b"}}]
"""


def _decision(kind: DecisionKind, at: float, *, target: str | None = None) -> Decision:
    return Decision(
        channel=KEY, kind=kind, reason=f"{kind.value} at {at}", at=at, current="a", target=target
    )


def _states(timeline: Timeline, integration: str, signal: str | None, since: float) -> list:
    health = timeline.channel_json(KEY, since=since)["health"]
    found = next(s for s in health if (s["integration"], s["signal"]) == (integration, signal))
    return [(p["at"], p["state"]) for p in found["points"]]


def test_health_is_recorded_on_change_only_and_dated_by_at() -> None:
    timeline = Timeline()
    for at, state in [(T0, "unknown"), (T0 + 1, "up"), (T0 + 2, "up"), (T0 + 5, "down")]:
        timeline.health(KEY, "sendgrid-main", "http", state=state, reason=state, at=at)
    assert _states(timeline, "sendgrid-main", "http", since=0) == [
        (T0, "unknown"),
        (T0 + 1, "up"),
        (T0 + 5, "down"),
    ]


def test_a_window_starts_with_the_state_in_force_before_it() -> None:
    timeline = Timeline()
    timeline.health(KEY, "ses-backup", None, state="up", reason="", at=T0)
    timeline.health(KEY, "ses-backup", None, state="down", reason="", at=T0 + 100)
    timeline.decision(_decision(DecisionKind.KEEP, T0))
    timeline.decision(_decision(DecisionKind.HOLD, T0 + 100))
    assert _states(timeline, "ses-backup", None, since=T0 + 50) == [(T0, "up"), (T0 + 100, "down")]
    assert _states(timeline, "ses-backup", None, since=T0 + 150) == [(T0 + 100, "down")]
    kinds = [d["kind"] for d in timeline.channel_json(KEY, since=T0 + 150)["decisions"]]
    assert kinds == ["hold"]


def test_decisions_are_recorded_when_kind_or_target_changes() -> None:
    timeline = Timeline()
    timeline.decision(_decision(DecisionKind.KEEP, T0))
    timeline.decision(_decision(DecisionKind.KEEP, T0 + 1))
    timeline.decision(_decision(DecisionKind.WAIT, T0 + 2, target="b"))
    timeline.decision(_decision(DecisionKind.WAIT, T0 + 3, target="c"))
    timeline.decision(_decision(DecisionKind.WAIT, T0 + 4, target="c"))
    got = [(d["at"], d["kind"]) for d in timeline.channel_json(KEY, since=0)["decisions"]]
    assert got == [(T0, "keep"), (T0 + 2, "wait"), (T0 + 3, "wait")]


def test_actions_are_kept_as_they_happened() -> None:
    timeline = Timeline()
    record = AuditRecord(
        id="1",
        at=T0,
        environment="production",
        channel="email",
        from_="sendgrid-main",
        to="ses-backup",
        trigger="failover",
        reason="r",
        result="ok",
        attempts=1,
    )
    timeline.action(KEY, record)
    (action,) = timeline.channel_json(KEY, since=0)["actions"]
    assert action == {
        "at": T0,
        "result": "ok",
        "from": "sendgrid-main",
        "to": "ses-backup",
        "trigger": "failover",
        "dry_run": False,
        "error": None,
    }


def test_each_series_is_bounded_in_length() -> None:
    timeline = Timeline(per_series=10)
    for i in range(100):
        state = "up" if i % 2 else "down"
        timeline.health(KEY, "sendgrid-main", "http", state=state, reason="", at=T0 + i)
    points = _states(timeline, "sendgrid-main", "http", since=0)
    assert len(points) == 10
    assert points[-1] == (T0 + 99, "up")


def test_old_entries_are_forgotten_but_the_state_in_force_is_kept() -> None:
    timeline = Timeline(keep=3600)
    timeline.health(KEY, "sendgrid-main", None, state="down", reason="", at=T0)
    timeline.health(KEY, "sendgrid-main", None, state="up", reason="", at=T0 + 10)
    timeline.decision(_decision(DecisionKind.HOLD, T0))
    timeline.decision(_decision(DecisionKind.KEEP, T0 + 10))
    timeline.health(KEY, "ses-backup", None, state="up", reason="", at=T0 + 7200)
    assert _states(timeline, "sendgrid-main", None, since=0) == [(T0 + 10, "up")]
    kinds = [d["kind"] for d in timeline.channel_json(KEY, since=0)["decisions"]]
    assert kinds == ["keep"]


def test_a_channel_quiet_for_longer_than_keep_is_dropped() -> None:
    """A channel removed by a reload stops being evaluated; its memory goes with time."""
    timeline = Timeline(keep=3600)
    timeline.decision(_decision(DecisionKind.KEEP, T0))
    other = Decision(channel="production/sms", kind=DecisionKind.KEEP, reason="", at=T0 + 7200)
    timeline.decision(other)
    assert set(timeline.snapshot(since=0)) == {"production/sms"}


def test_a_clock_stepping_back_never_orders_points_backwards() -> None:
    timeline = Timeline()
    timeline.health(KEY, "a", None, state="up", reason="", at=T0 + 10)
    timeline.health(KEY, "a", None, state="down", reason="", at=T0)
    assert _states(timeline, "a", None, since=0) == [(T0 + 10, "up"), (T0 + 10, "down")]


def test_an_evaluation_records_signals_candidates_and_the_decision() -> None:
    rules = parse_rules(RULES, filename="rules.yaml")
    runtime = build_runtimes(rules)[KEY]
    ref = ("sendgrid-main", "http")
    runtime.signals[ref] = observe(runtime.signals[ref], Observation("http", False, T0 + 3, "503"))
    runtime.refresh_health(now=T0 + 4)
    timeline = Timeline()
    timeline.evaluated(runtime, _decision(DecisionKind.HOLD, T0 + 4))
    assert _states(timeline, "sendgrid-main", "http", since=0) == [(T0 + 3, "down")]
    since = runtime.health["sendgrid-main"].since
    assert _states(timeline, "sendgrid-main", None, since=0) == [(since, "down")]
    # no evidence yet: dated by the evaluation
    assert _states(timeline, "ses-backup", "http", since=0) == [(T0 + 4, "unknown")]
    assert [d["kind"] for d in timeline.channel_json(KEY, since=0)["decisions"]] == ["hold"]
    assert timeline.channel_json("production/sms", since=0) == {
        "health": [],
        "decisions": [],
        "actions": [],
    }
