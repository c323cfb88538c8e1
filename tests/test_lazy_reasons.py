"""Reasons are worded when read, once: judging and deciding build no sentences, and the
texts read later are the ones worded from the facts at decision time (daemon/model.py)."""

from __future__ import annotations

from collections.abc import Callable

from daemon.model import (
    CandidateHealth,
    ChannelHistory,
    ChannelView,
    Decision,
    DecisionKind,
    Health,
    Integration,
    SignalHealth,
)
from daemon.policy import decide
from daemon.rules.model import ChannelRule
from daemon.service.timeline import Timeline

T0 = 1_700_000_000.0
KEY = "production/email"


class Counted:
    """A wording function that counts its calls."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.text


def _decision(reason: Callable[[], str], kind: DecisionKind = DecisionKind.KEEP) -> Decision:
    return Decision(channel=KEY, kind=kind, reason=reason, at=T0, current="a")


def test_a_decision_words_its_reason_and_evidence_once_on_first_use() -> None:
    reason, evidence = Counted("no action"), Counted("a up")
    decision = Decision(
        channel=KEY,
        kind=DecisionKind.KEEP,
        reason=reason,
        at=T0,
        evidence=lambda: (evidence(),),
    )
    copy = decision.replace(current="a")
    assert (reason.calls, evidence.calls) == (0, 0)
    assert decision.reason == decision.reason == "no action"
    assert decision.evidence == ("a up",)
    assert decision.evidence == ("a up",)
    assert (reason.calls, evidence.calls) == (1, 1)
    assert copy.reason == "no action"  # the copy words its own, the same
    assert reason.calls == 2


def test_decisions_are_worded_to_compare_only_when_everything_else_is_equal() -> None:
    first, second = Counted("x"), Counted("x")
    assert _decision(first) != _decision(second, DecisionKind.HOLD)
    assert (first.calls, second.calls) == (0, 0)
    assert _decision(first) == _decision(second)
    assert _decision(Counted("x")) != _decision(Counted("y"))
    assert _decision(Counted("x")) == Decision(KEY, DecisionKind.KEEP, "x", T0, current="a")


def test_a_candidate_health_words_its_reason_once_and_compares_it_last() -> None:
    wording = Counted("up since t: 1/1 probe up (http)")
    health = CandidateHealth("a", Health.UP, wording, T0)
    assert health != CandidateHealth("a", Health.DOWN, "down", T0)
    assert wording.calls == 0
    assert health == CandidateHealth("a", Health.UP, "up since t: 1/1 probe up (http)", T0)
    assert health.reason == wording.text
    assert wording.calls == 1


def test_deciding_reads_no_reason_until_the_decision_is_read() -> None:
    """The primary's reason is quoted in the evidence: read then, not while deciding."""
    rule = ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": "email",
            "candidates": [
                {"integration": name, "signals": [{"http": {"url": f"https://{name}.test/"}}]}
                for name in ("a", "b")
            ],
        }
    )
    wording = Counted("3/3 probes up (http)")
    signals = (SignalHealth("http", Health.UP, "up: 3 consecutive successes", T0 - 60),)
    health = {"a": CandidateHealth("a", Health.UP, wording, T0 - 60, signals)}
    view = ChannelView(
        "production",
        "email",
        tuple(
            Integration(f"{n}" * 24, name, name, "sendgrid", "email", "6" * 24, True, n == 0)
            for n, name in enumerate(("a", "b"))
        ),
        fetched_at=T0,
    )
    decision = decide(
        rule,
        health=health,
        view=view,
        history=ChannelHistory(last_known_primary="a"),
        pause=None,
        started_at=T0 - 3600,
        now=T0,
    )
    assert decision.kind is DecisionKind.KEEP
    assert wording.calls == 0
    assert decision.reason == "no action: primary a is up (1/1 signals)"
    assert decision.evidence == ("a up for 1m (3/3 probes up (http))",)
    assert wording.calls == 1


def test_the_timeline_words_a_decision_only_when_it_records_it() -> None:
    timeline = Timeline()
    recorded, repeated = Counted("no action: a is up"), Counted("no action: a is up again")
    timeline.decision(_decision(recorded))
    timeline.decision(Decision(KEY, DecisionKind.KEEP, repeated, T0 + 1, current="a"))
    assert (recorded.calls, repeated.calls) == (1, 0)
    decisions = timeline.channel_json(KEY, since=T0 - 1)["decisions"]
    assert [d["reason"] for d in decisions] == ["no action: a is up"]
