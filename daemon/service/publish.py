"""What an evaluation shows outside: the channel's gauges, and a log line when the decision
changed (not on every evaluation) or an action ended."""

from __future__ import annotations

import logging
from typing import Literal

from daemon.logs import log_event
from daemon.metrics import Metrics
from daemon.model import AuditRecord, ChannelView, Decision, DecisionKind, effective_pause
from daemon.service.runtime import ChannelRuntime
from daemon.state import StateStore

log = logging.getLogger("novu_failover.daemon")

ProbeResult = Literal["ok", "fail", "inconclusive"]
_RESULTS: dict[bool | None, ProbeResult] = {True: "ok", False: "fail", None: "inconclusive"}


def probe_result(ok: bool | None) -> ProbeResult:
    """An observation's result as the signal-check metric labels it."""
    return _RESULTS[ok]


def publish_decision(
    runtime: ChannelRuntime,
    decision: Decision,
    *,
    previous: Decision | None,
    metrics: Metrics,
    store: StateStore,
    now: float,
) -> None:
    rule = runtime.rule
    env, channel = rule.environment, rule.channel
    for candidate in rule.candidates:
        health = runtime.health.get(candidate.integration)
        if health is not None:
            metrics.set_candidate_health(env, channel, candidate.integration, health.state)
        for signal_id in candidate.signal_ids():
            state = runtime.signals[(candidate.integration, signal_id)]
            metrics.set_signal_health(env, channel, candidate.integration, signal_id, state.state)
    metrics.count_decision(env, channel, decision.kind)
    metrics.evaluated(env, channel, now=now)
    paused = effective_pause(store.global_pause, store.channel_pause(runtime.key), now)
    metrics.set_paused(env, channel, paused=paused is not None)
    metrics.set_blocked(env, channel, blocked=decision.kind is DecisionKind.BLOCKED)
    if _changed(previous, decision):
        level = logging.INFO if decision.kind is DecisionKind.KEEP else logging.WARNING
        log_event(
            log,
            level,
            "decision",
            f"{runtime.key}: {decision.kind.value}: {decision.reason}",
            channel=runtime.key,
            kind=decision.kind.value,
            current=decision.current,
            target=decision.target,
            trigger=decision.trigger,
        )


def log_action(channel: str, record: AuditRecord) -> None:
    level = logging.WARNING if record.result in ("ok", "dry_run") else logging.ERROR
    log_event(
        log,
        level,
        "action",
        f"{channel}: {record.trigger} {record.from_} -> {record.to}: {record.result}"
        + (f": {record.error}" if record.error else "")
        + f" ({record.attempts} attempts, {record.duration:.2f}s)",
        channel=channel,
        audit_id=record.id,
        result=record.result,
    )


def _changed(previous: Decision | None, decision: Decision) -> bool:
    if previous is None:
        return True
    return (previous.kind, previous.current, previous.target) != (
        decision.kind,
        decision.current,
        decision.target,
    )


def report_missing(runtime: ChannelRuntime, view: ChannelView) -> None:
    """Log candidates Novu does not know, once per change of that list."""
    rule = runtime.rule
    missing = [c.integration for c in rule.candidates if view.find(c.integration) is None]
    if missing == runtime.missing:
        return
    runtime.missing = missing
    if missing:
        log_event(
            log,
            logging.ERROR,
            "novu",
            f"{runtime.key}: Novu has no {rule.channel} integration named "
            f"{', '.join(missing)}; check the identifiers in the rules",
            channel=runtime.key,
        )
