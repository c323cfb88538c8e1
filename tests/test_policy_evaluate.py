"""`evaluate`: the previous evaluation stands while its inputs and the clock allow, and it
never answers differently from a fresh `decide` (kind, current, target) at any time."""

from __future__ import annotations

import math
from typing import Any

import pytest
from test_policy import MAIN, SES, T0, health, make_rule, novu

from daemon.health.channel import channel_health
from daemon.health.signal_state import new_signal_state, observe
from daemon.model import ChannelHistory, DecisionKind, Health, Observation, Pause, Switch
from daemon.policy import decide, evaluate

HEALTHY = {MAIN: health(MAIN, Health.UP), SES: health(SES, Health.UP)}
MAIN_DOWN = {MAIN: health(MAIN, Health.DOWN, for_=5.0), SES: health(SES, Health.UP)}
RECOVERED = {MAIN: health(MAIN, Health.UP, for_=30.0), SES: health(SES, Health.UP)}
AFTER_SWITCH = ChannelHistory(
    switches=(Switch(at=T0 - 10, from_=MAIN, to=SES, trigger="failover"),),
    last_known_primary=SES,
)

SCENARIOS = [
    pytest.param({}, HEALTHY, novu(), ChannelHistory(), None, id="keep-no-timer"),
    pytest.param({"confirm": "30s"}, MAIN_DOWN, novu(), ChannelHistory(), None, id="confirm"),
    pytest.param({"cooldown": "60s"}, MAIN_DOWN, novu(SES), AFTER_SWITCH, None, id="cooldown"),
    pytest.param(
        {"failback": {"after": "2m"}}, RECOVERED, novu(SES), AFTER_SWITCH, None, id="failback"
    ),
    pytest.param({"startup_grace": "40s"}, MAIN_DOWN, novu(), ChannelHistory(), None, id="grace"),
    pytest.param(
        {},
        MAIN_DOWN,
        novu(),
        ChannelHistory(),
        Pause(reason="drill", since=T0, until=T0 + 45),
        id="pause-expires",
    ),
]


@pytest.mark.parametrize(("policy", "healths", "view", "history", "pause"), SCENARIOS)
def test_evaluate_answers_as_decide_at_every_moment(
    policy: dict[str, Any], healths: Any, view: Any, history: Any, pause: Any
) -> None:
    """Chained evaluations over 5 minutes, second by second, say what a fresh decide says."""
    rule = make_rule(**policy)
    previous = None
    reused = 0
    for second in range(300):
        now = T0 + second
        args: dict[str, Any] = {
            "health": healths,
            "view": view,
            "history": history,
            "pause": pause,
            "started_at": T0,
            "now": now,
        }
        current = evaluate(rule, previous=previous, **args)
        reused += current is previous
        fresh = decide(rule, **args)
        got = (current.decision.kind, current.decision.current, current.decision.target)
        assert got == (fresh.kind, fresh.current, fresh.target), f"at +{second}s"
        previous = current
    assert reused >= 250  # and the point of it: most evaluations were the previous one


def test_a_timer_sets_recheck_at_to_when_it_ends() -> None:
    rule = make_rule(confirm="30s")
    decision = decide(
        rule, health=MAIN_DOWN, view=novu(), history=ChannelHistory(), pause=None,
        started_at=T0, now=T0,
    )  # fmt: skip
    assert decision.kind is DecisionKind.WAIT
    assert decision.recheck_at == MAIN_DOWN[MAIN].since + 30


def test_a_decision_without_timers_stands_until_an_input_changes() -> None:
    rule = make_rule()
    args: dict[str, Any] = {
        "view": novu(), "history": ChannelHistory(), "pause": None, "started_at": T0,
    }  # fmt: skip
    first = evaluate(rule, health=HEALTHY, now=T0, **args)
    assert first.decision.recheck_at == math.inf
    assert evaluate(rule, health=HEALTHY, now=T0 + 3600, previous=first, **args) is first
    changed = evaluate(rule, health=MAIN_DOWN, now=T0 + 3601, previous=first, **args)
    assert changed is not first
    assert changed.decision.kind is DecisionKind.SWITCH


def test_channel_health_keeps_a_candidate_whose_signals_did_not_change() -> None:
    rule = make_rule()
    signals = {}
    for candidate in rule.candidates:
        for ref, entry in zip(candidate.signal_refs(), candidate.signals, strict=True):
            state = new_signal_state(ref[1], entry)
            for n in range(2):
                state = observe(state, Observation(ref[1], True, T0 + n, "HTTP 200"))
            signals[ref] = state
    first = channel_health(rule, signals, previous={}, now=T0 + 2)
    again = channel_health(rule, signals, previous=first, now=T0 + 9)
    assert all(again[name] is first[name] for name in first)
    ref = rule.candidates[0].signal_refs()[0]
    signals[ref] = observe(signals[ref], Observation(ref[1], False, T0 + 10, "HTTP 503"))
    moved = channel_health(rule, signals, previous=again, now=T0 + 10)
    assert moved[MAIN] is not again[MAIN]
    assert "1 of 3 consecutive failures" in moved[MAIN].signals[0].reason
    assert moved[SES] is again[SES]
