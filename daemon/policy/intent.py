"""What a channel needs, judged from its primary: keep it, fail over, or fail back.

`channel_needs` returns either a final Decision (KEEP, NOT_MANAGED) or an `Intent`: a switch
the channel wants, which `daemon.policy.decide` then passes through its timers and limits.
What the channel needs is judged at once; every reason and piece of evidence is a wording
function, worded only when shown (see `daemon.model.Wording`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Final, Literal

from daemon.durations import format_duration
from daemon.model import (
    CandidateHealth,
    ChannelHistory,
    ChannelView,
    Decision,
    DecisionKind,
    Evidence,
    Health,
    Integration,
    Wording,
)
from daemon.policy.history import last_switch
from daemon.policy.targets import Eligibility, ReadinessLike, judge
from daemon.policy.text import health_phrase, iso, signal_tally
from daemon.rules.model import ChannelRule, Failback


@dataclass(slots=True)
class Intent:
    """A switch the channel wants, before timers and limits have their say.

    Fields are `Final` rather than the dataclass frozen, which would pay a function call
    per field on every decision that wants a switch."""

    trigger: Final[Literal["failover", "failback"]]
    current: Final[str | None]
    target: Final[str | None]
    why: Final[Wording]
    held: Final[Wording]
    """Words the HOLD reason when there is no target."""
    evidence: Final[Callable[[], Evidence]]
    confirm_until: Final[float | None] = None
    urgent: Final[bool] = False
    """The channel has no working primary (sends fail): no confirm, no cooldown."""

    @property
    def action(self) -> str:
        verb = "fail over" if self.trigger == "failover" else "fail back"
        if self.current is None:
            return f"{verb} to {self.target}"
        if self.current == self.target:
            return f"reactivate {self.target}"
        return f"{verb} {self.current} -> {self.target}"

    def then(self) -> str:
        """What it would do once the timer is over: `then fail over a -> b: why`."""
        return f"then {self.action}: {self.why()}" if self.target else self.held()


def channel_needs(
    rule: ChannelRule,
    primary: Integration | None,
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView,
    history: ChannelHistory,
    now: float,
    readiness: Mapping[str, ReadinessLike] | None = None,
) -> Decision | Intent:
    """What the channel needs, from the primary's state: a final Decision or a wanted switch."""
    if primary is not None and rule.candidate(primary.identifier) is None:
        identifier = primary.identifier
        return Decision(
            channel=rule.key,
            kind=DecisionKind.NOT_MANAGED,
            reason=lambda: (
                f"primary {identifier} is not a candidate of {rule.key}; not touching it"
            ),
            at=now,
            current=identifier,
        )
    if primary is None or not primary.active:
        return _broken(rule, primary, health=health, view=view, now=now, readiness=readiness)
    current = primary.identifier
    current_health = health.get(current)
    state = Health.UNKNOWN if current_health is None else current_health.state
    if state is Health.DOWN:
        return _failover(rule, current, health=health, view=view, now=now, readiness=readiness)
    if state is Health.UNKNOWN:
        return Decision(
            channel=rule.key,
            kind=DecisionKind.KEEP,
            reason=lambda: f"primary {current} health unknown; never switching without evidence",
            at=now,
            current=current,
            evidence=lambda: (health_phrase(current, current_health, now=now),),
        )
    assert current_health is not None
    return _failback_or_keep(
        rule,
        current,
        current_health,
        health=health,
        view=view,
        history=history,
        now=now,
        readiness=readiness,
    )


def _judge_all(
    rule: ChannelRule,
    identifiers: list[str],
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView,
    now: float,
    readiness: Mapping[str, ReadinessLike] | None,
) -> list[Eligibility]:
    """Each candidate's fitness to become the primary, in the rule's order."""
    return [
        judge(name, policy=rule.policy, health=health, view=view, now=now, readiness=readiness)
        for name in identifiers
    ]


def _refusal(judged: Eligibility) -> str:
    return "" if judged.refusal is None else judged.refusal()


def _skipped(passed_over: list[Eligibility]) -> Evidence:
    return tuple(f"skipped {_refusal(j)}" for j in passed_over)


def _pick(judged: list[Eligibility]) -> tuple[Eligibility | None, list[Eligibility]]:
    """The first eligible candidate, and those passed over before it."""
    for index, candidate in enumerate(judged):
        if candidate.eligible:
            return candidate, judged[:index]
    return None, judged


def _target_evidence(target: Eligibility | None, *, now: float) -> Evidence:
    if target is None:
        return ()
    return (health_phrase(target.identifier, target.health, now=now), *target.notes)


def _no_candidate(passed_over: list[Eligibility]) -> str:
    if not passed_over:
        return "no other candidate to switch to"
    return "no healthy candidate: " + ", ".join(_refusal(j) for j in passed_over)


def _failover(
    rule: ChannelRule,
    current: str,
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView,
    now: float,
    readiness: Mapping[str, ReadinessLike] | None = None,
) -> Intent:
    """The active primary is down: the first eligible other candidate, once down for `confirm`."""
    others = [c.integration for c in rule.candidates if c.integration != current]
    judged = _judge_all(rule, others, health=health, view=view, now=now, readiness=readiness)
    target, passed_over = _pick(judged)
    current_health = health.get(current)
    since = None if current_health is None else current_health.since
    down_since = now if since is None else since  # unknown since when: confirm from now

    def why() -> str:
        return f"primary {health_phrase(current, current_health, now=now)}"

    return Intent(
        trigger="failover",
        current=current,
        target=None if target is None else target.identifier,
        why=why,
        held=lambda: f"{why()}; {_no_candidate(passed_over)}",
        evidence=lambda: (
            health_phrase(current, current_health, now=now),
            *_target_evidence(target, now=now),
            *_skipped(passed_over),
        ),
        confirm_until=down_since + rule.policy.confirm,
    )


def _broken(
    rule: ChannelRule,
    primary: Integration | None,
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView,
    now: float,
    readiness: Mapping[str, ReadinessLike] | None = None,
) -> Intent:
    """No active primary: sends fail now. The first eligible candidate, at once.

    An inactive primary is itself a target (the actuator re-activates it) when it is the
    first healthy candidate.
    """
    every = [c.integration for c in rule.candidates]
    judged = _judge_all(rule, every, health=health, view=view, now=now, readiness=readiness)
    target, passed_over = _pick(judged)
    current = None if primary is None else primary.identifier

    def why() -> str:
        if current is None:
            return "no primary integration in Novu (sends fail)"
        return f"primary {current} is inactive (sends fail)"

    return Intent(
        trigger="failover",
        current=current,
        target=None if target is None else target.identifier,
        why=why,
        held=lambda: f"{why()}; {_no_candidate(passed_over)}",
        evidence=lambda: (*_target_evidence(target, now=now), *_skipped(passed_over)),
        urgent=True,
    )


def _failback_or_keep(
    rule: ChannelRule,
    current: str,
    current_health: CandidateHealth,
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView,
    history: ChannelHistory,
    now: float,
    readiness: Mapping[str, ReadinessLike] | None = None,
) -> Decision | Intent:
    """The primary is up: keep it, unless failback is on and a preferred candidate is ready."""
    keep = Decision(
        channel=rule.key,
        kind=DecisionKind.KEEP,
        reason=partial(_up_reason, current, current_health),
        at=now,
        current=current,
        evidence=partial(_health_evidence, current, current_health, now),
    )
    failback = rule.policy.failback
    if not isinstance(failback, Failback) or rule.candidates[0].integration == current:
        return keep  # no failback, or the primary is the most preferred candidate already
    names = [c.integration for c in rule.candidates]
    earlier = names[: names.index(current)] if current in names else names
    preferred = _judge_all(rule, earlier, health=health, view=view, now=now, readiness=readiness)
    eligible = [j for j in preferred if j.eligible]
    if not eligible:
        return keep
    first = eligible[0].identifier
    last = last_switch(history)
    if last is not None and last.trigger == "manual" and last.to == current:
        chosen_at = last.at
        return keep.replace(
            reason=lambda: (
                f"no action: primary {current} is up; a person chose it at "
                f"{iso(chosen_at)}, so no failback to {first}"
            )
        )
    ready = [j for j in eligible if j.up_for(failback.after, now=now)]
    if not ready:
        due = [
            j.health.since + failback.after
            for j in eligible
            if j.health is not None and j.health.since is not None
        ]
        return keep.replace(
            reason=lambda: _failback_pending(current, eligible[0], failback, now=now),
            recheck_at=min(due, default=math.inf),
        )
    target = ready[0]
    waiting = eligible[: eligible.index(target)]  # preferred even more, but not up long enough
    return Intent(
        trigger="failback",
        current=current,
        target=target.identifier,
        why=lambda: f"preferred {health_phrase(target.identifier, target.health, now=now)}",
        held=lambda: "",
        evidence=lambda: (
            health_phrase(current, current_health, now=now),
            *_target_evidence(target, now=now),
            *(f"{j.identifier} not up for {format_duration(failback.after)} yet" for j in waiting),
        ),
    )


def _up_reason(current: str, health: CandidateHealth) -> str:
    return f"no action: primary {current} is up ({signal_tally(health)})"


def _health_evidence(identifier: str, health: CandidateHealth | None, now: float) -> Evidence:
    return (health_phrase(identifier, health, now=now),)


def _failback_pending(
    current: str, candidate: Eligibility, failback: Failback, *, now: float
) -> str:
    since = None if candidate.health is None else candidate.health.since
    if since is None:
        return (
            f"no action: primary {current} is up; failback to {candidate.identifier} "
            "waits until its up-time is known"
        )
    due = format_duration(max(since + failback.after - now, 0.0))
    return (
        f"no action: primary {current} is up; failback to {candidate.identifier} in {due} "
        f"(up since {iso(since)})"
    )
