"""The decision for one channel: a pure function of rules, health, Novu's view, history and now.

Two steps. `daemon.policy.intent.channel_needs` says what the channel needs (keep it, fail over,
fail back, or a final answer such as NOT_MANAGED); `_gate` then applies what may hold a
wanted switch back (startup grace, confirm, no target, brake, cooldown, dry run), in the
order an operator would want to hear about them. Reasons are wording functions, worded
only when shown (see `daemon.model.Wording`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from daemon.durations import format_duration
from daemon.model import (
    CandidateHealth,
    ChannelHistory,
    ChannelView,
    Decision,
    DecisionKind,
    Pause,
    Wording,
)
from daemon.policy.history import brake_status, cooldown_until, observe_primary
from daemon.policy.intent import Intent, channel_needs
from daemon.policy.targets import ReadinessLike
from daemon.policy.text import iso, left, pause_phrase
from daemon.rules.model import ChannelRule, Policy

NOT_REACHED = "Novu not reached yet; not acting without its view"


def decide(
    rule: ChannelRule,
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView | None,
    history: ChannelHistory,
    pause: Pause | None,
    started_at: float,
    now: float,
    dry_run: bool = False,
    readiness: Mapping[str, ReadinessLike] | None = None,
) -> Decision:
    """Decide what to do with one channel now, with a one-line reason.

    `health` is keyed by integration identifier; `view` is None until Novu has been read;
    `dry_run` is the global override, OR'ed with the rule's own. `readiness` (keyed like
    `health`, see `daemon.policy.readiness`) keeps a candidate that is not ready from being
    a target; without it only Novu's view and health are judged. A pause wins over
    everything, but its evidence still says what the channel would do without it.
    """
    decision = _unpaused(
        rule,
        health=health,
        view=view,
        history=history,
        started_at=started_at,
        now=now,
        dry_run=dry_run or rule.policy.dry_run,
        readiness=readiness,
    )
    if pause is None or not pause.active(now):
        return decision
    return Decision(
        channel=rule.key,
        kind=DecisionKind.PAUSED,
        reason=lambda: pause_phrase(pause),
        at=now,
        current=decision.current,
        evidence=lambda: (
            f"without the pause ({decision.kind.value}): {decision.reason}",
            *decision.evidence,
        ),
        drift=decision.drift,
        recheck_at=min(decision.recheck_at, math.inf if pause.until is None else pause.until),
    )


def _unpaused(
    rule: ChannelRule,
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView | None,
    history: ChannelHistory,
    started_at: float,
    now: float,
    dry_run: bool,
    readiness: Mapping[str, ReadinessLike] | None,
) -> Decision:
    if view is None:
        return Decision(channel=rule.key, kind=DecisionKind.HOLD, reason=NOT_REACHED, at=now)
    primary = view.primary
    known = history.last_known_primary
    drift = primary is not None and known is not None and primary.identifier != known
    # A change not yet observed counts as a manual switch at `now`, so the decision is the
    # same whether the service calls observe_primary before or after decide.
    history = observe_primary(history, view, now=now)
    result = channel_needs(
        rule, primary, health=health, view=view, history=history, now=now, readiness=readiness
    )
    if isinstance(result, Intent):
        result = _gate(
            rule.key,
            result,
            policy=rule.policy,
            history=history,
            started_at=started_at,
            now=now,
            dry_run=dry_run,
        )
    if not drift:
        return result
    assert primary is not None
    decided, seen = result, primary.identifier  # bound once, narrowed, for the closure
    return decided.replace(
        reason=lambda: (
            f"primary changed outside novu-failover: {known} -> {seen}; respected; {decided.reason}"
        ),
        drift=True,
    )


def _gate(
    channel: str,
    intent: Intent,
    *,
    policy: Policy,
    history: ChannelHistory,
    started_at: float,
    now: float,
    dry_run: bool,
) -> Decision:
    """Turn a wanted switch into a Decision: the first timer or limit that holds it wins."""
    kind, reason, recheck_at = _held_by(
        intent, policy=policy, history=history, started_at=started_at, now=now, dry_run=dry_run
    )
    return Decision(
        channel=channel,
        kind=kind,
        reason=reason,
        at=now,
        current=intent.current,
        target=intent.target,
        trigger=None if intent.target is None else intent.trigger,
        evidence=intent.evidence,
        recheck_at=recheck_at,
    )


def _held_by(
    intent: Intent,
    *,
    policy: Policy,
    history: ChannelHistory,
    started_at: float,
    now: float,
    dry_run: bool,
) -> tuple[DecisionKind, Wording, float]:
    """(kind, reason, recheck_at): what holds the switch back, in that order, or nothing.

    The reasons are closures; the names they read are bound once (`until`, `end`), as
    mypy does not carry a narrowed `float | None` into a closure."""
    grace_end = started_at + policy.startup_grace
    if now < grace_end:
        return (
            DecisionKind.WAIT,
            lambda: f"startup grace {left(grace_end, now)}; {intent.then()}",
            grace_end,
        )
    confirm_until = intent.confirm_until
    if confirm_until is not None and now < confirm_until:
        return (
            DecisionKind.WAIT,
            lambda: (
                f"confirming {intent.current} is down for "
                f"{format_duration(policy.confirm)} {left(confirm_until, now)}; {intent.then()}"
            ),
            confirm_until,
        )
    if intent.target is None:
        return DecisionKind.HOLD, intent.held, math.inf
    count, blocked_until = brake_status(policy, history, now=now)
    if blocked_until is not None:
        until = blocked_until
        return (
            DecisionKind.BLOCKED,
            lambda: (
                f"brake: {count} automatic {'switch' if count == 1 else 'switches'} "
                f"in {format_duration(policy.brake.per)}; blocked until {iso(until)} or ack; "
                f"{intent.then()}"
            ),
            until,
        )
    cooldown_end = cooldown_until(policy, history)
    if not intent.urgent and cooldown_end is not None and now < cooldown_end:
        end = cooldown_end
        return (
            DecisionKind.WAIT,
            lambda: f"cooldown after the last switch {left(end, now)}; {intent.then()}",
            end,
        )
    if dry_run:
        return (
            DecisionKind.WOULD_SWITCH,
            lambda: f"dry run: would {intent.action}: {intent.why()}",
            math.inf,
        )
    return DecisionKind.SWITCH, lambda: f"{intent.action}: {intent.why()}", math.inf
