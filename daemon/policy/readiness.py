"""Standby readiness: may a candidate take traffic, judged from Novu's view and its canary?

Health says whether the provider works; readiness says whether this integration, as Novu
has it, can carry the channel: it exists in the rule's environment and channel, it has no
conditions set-primary would erase (unless allowed), and, where a canary is configured,
a canary got through it recently. An inactive integration is ready: set-primary activates
it. Each reason it is not ready is one line an on-call engineer can read aloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from daemon.durations import format_duration
from daemon.health import SignalState
from daemon.model import ChannelView, Health, Observation
from daemon.policy.targets import conditions_refusal, missing_refusal
from daemon.rules.model import CanarySignal, ChannelRule

NOT_READ = "Novu's view not read yet"


@dataclass(frozen=True, slots=True)
class Readiness:
    integration: str
    reasons: tuple[str, ...] = ()
    """Why it is not ready, one line each; empty when it is ready."""
    notes: tuple[str, ...] = ()
    """Worth knowing, not blocking (e.g. inactive: set-primary activates it)."""

    @property
    def ready(self) -> bool:
        return not self.reasons

    @property
    def summary(self) -> str:
        return "ready" if self.ready else "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class CanaryEvidence:
    """What readiness needs of one canary signal."""

    signal: str
    state: Health
    last_ok_at: float | None
    last_failure: Observation | None
    max_age: float
    """A success older than this no longer vouches for the candidate."""


def canary_max_age(spec: CanarySignal) -> float:
    """Two intervals and a deadline: one missed or late canary does not unready a standby."""
    return 2 * spec.interval + spec.deadline


def _ago(at: float, now: float) -> str:
    return f"{format_duration(max(now - at, 0.0))} ago"


def canary_reason(evidence: CanaryEvidence, *, now: float) -> str | None:
    """Why the canary does not vouch for the candidate now, or None when it does."""
    failure = evidence.last_failure
    failure_class = f" ({failure.failure_class})" if failure and failure.failure_class else ""
    if evidence.state is Health.DOWN and failure is not None:
        return f"canary failed {_ago(failure.at, now)}{failure_class}"
    if evidence.last_ok_at is None:
        if failure is not None:
            return f"no canary delivered yet (last failed {_ago(failure.at, now)}{failure_class})"
        return "no canary delivered yet"
    if now - evidence.last_ok_at > evidence.max_age:
        return (
            f"last canary delivered {_ago(evidence.last_ok_at, now)} "
            f"(older than {format_duration(evidence.max_age)})"
        )
    return None


def readiness(
    identifier: str,
    *,
    rule: ChannelRule,
    view: ChannelView | None,
    canaries: tuple[CanaryEvidence, ...] = (),
    now: float,
) -> Readiness:
    """Is `identifier` ready to become the channel's primary now? (Health is judged apart.)"""
    reasons: list[str] = []
    notes: list[str] = []
    if view is None:
        reasons.append(NOT_READ)
    else:
        integration = view.find(identifier)
        if integration is None:
            reasons.append(missing_refusal(identifier, view))
        else:
            if integration.conditions and not rule.policy.allow_erase_conditions:
                reasons.append(conditions_refusal(integration))
            if not integration.active:
                notes.append(f"{identifier} is inactive; set-primary activates it")
    for evidence in canaries:
        reason = canary_reason(evidence, now=now)
        if reason is not None:
            reasons.append(reason)
    return Readiness(identifier, tuple(reasons), tuple(notes))


def canary_evidence(
    rule: ChannelRule, identifier: str, signals: Mapping[tuple[str, str], SignalState]
) -> tuple[CanaryEvidence, ...]:
    """The evidence of the candidate's canary signals, from their states."""
    candidate = rule.candidate(identifier)
    if candidate is None:
        return ()
    evidence: list[CanaryEvidence] = []
    for signal_id, entry in zip(candidate.signal_ids(), candidate.signals, strict=True):
        spec = entry.spec
        state = signals.get((identifier, signal_id))
        if not isinstance(spec, CanarySignal) or state is None:
            continue
        evidence.append(
            CanaryEvidence(
                signal=signal_id,
                state=state.state,
                last_ok_at=state.last_ok_at,
                last_failure=state.last_failure,
                max_age=canary_max_age(spec),
            )
        )
    return tuple(evidence)


def channel_readiness(
    rule: ChannelRule,
    *,
    view: ChannelView | None,
    signals: Mapping[tuple[str, str], SignalState],
    now: float,
) -> dict[str, Readiness]:
    """Readiness of every candidate of the channel."""
    return {
        c.integration: readiness(
            c.integration,
            rule=rule,
            view=view,
            canaries=canary_evidence(rule, c.integration, signals),
            now=now,
        )
        for c in rule.candidates
    }
