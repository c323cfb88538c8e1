"""JSON views of the daemon's state for the status API and `explain` (no secrets, ever).

The shapes are documented in docs/api.md; the CLI renders them.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.control import JSON
from daemon.model import (
    AuditRecord,
    ChannelHistory,
    Decision,
    Observation,
    Pause,
    effective_pause,
)
from daemon.policy import brake_status, cooldown_until
from daemon.policy.readiness import Readiness
from daemon.service.owner import ChannelOwner
from daemon.state import StateStore, encode_audit


def event_json(record: AuditRecord) -> JSON:
    """An audit record as the API shows it: the same encoding as audit.jsonl."""
    return encode_audit(record)


def events_json(records: list[AuditRecord], *, total: int, limit: int, offset: int) -> JSON:
    """A page of the audit trail, newest first (docs/api.md)."""
    return {
        "events": [event_json(r) for r in records],
        "total": total,
        "offset": offset,
        "limit": limit,
    }


def ready_json(
    *,
    reached: Mapping[str, float | None],
    rules_path: str,
    rules_error: str | None,
    state_error: str | None,
) -> tuple[bool, JSON]:
    """For /readyz: every Novu environment reached once, the rules file as loaded, state
    writes working; `waiting_for` says what is not."""
    waiting = [
        f"Novu environment {name} not reached yet"
        for name, at in sorted(reached.items())
        if at is None
    ]
    if rules_error is not None:
        waiting.append(f"rules file has errors; running on the last good rules: {rules_error}")
    if state_error is not None:
        waiting.append(f"state: {state_error}")
    detail: JSON = {
        "rules": {"path": rules_path, "error": rules_error},
        "state": {"error": state_error},
        "environments": {name: {"reached_at": at} for name, at in sorted(reached.items())},
    }
    if waiting:
        detail["waiting_for"] = waiting
    return not waiting, detail


def decision_json(decision: Decision | None) -> JSON | None:
    if decision is None:
        return None
    return {
        "kind": decision.kind.value,
        "reason": decision.reason,
        "at": decision.at,
        "current": decision.current,
        "target": decision.target,
        "trigger": decision.trigger,
        "evidence": list(decision.evidence),
        "drift": decision.drift,
    }


def observation_json(observation: Observation | None) -> JSON | None:
    """A signal's last check: `result` ok / fail / inconclusive, its detail and latency."""
    if observation is None:
        return None
    result = {True: "ok", False: "fail", None: "inconclusive"}[observation.ok]
    return {
        "at": observation.at,
        "result": result,
        "detail": observation.detail,
        "latency": observation.latency,
        "failure_class": observation.failure_class,
    }


def pause_json(pause: Pause | None) -> JSON | None:
    if pause is None:
        return None
    return {"reason": pause.reason, "since": pause.since, "until": pause.until, "by": pause.by}


def channel_json(owner: ChannelOwner, *, store: StateStore, now: float) -> JSON:
    runtime = owner.runtime
    rule = runtime.rule
    history = store.history(runtime.key)
    view = runtime.view
    primary = view.primary if view else None
    candidates = []
    for candidate in rule.candidates:
        health = runtime.health.get(candidate.integration)
        integration = view.find(candidate.integration) if view else None
        signals = []
        for signal_id in candidate.signal_ids():
            state = runtime.signals[(candidate.integration, signal_id)]
            failure = state.last_failure
            signals.append(
                {
                    "signal": signal_id,
                    "kind": state.kind,
                    "state": state.state.value,
                    "reason": state.reason,
                    "since": state.since,
                    "passive": state.passive,
                    "last_failure": (
                        {"at": failure.at, "failure_class": failure.failure_class}
                        if failure is not None
                        else None
                    ),
                    "last": observation_json(state.last),
                }
            )
        candidates.append(
            {
                "integration": candidate.integration,
                "state": health.state.value if health else "unknown",
                "reason": health.reason if health else "not evaluated yet",
                "since": health.since if health else None,
                "present": integration is not None,
                "active": integration.active if integration else None,
                "primary": bool(integration and integration.primary),
                "conditions": len(integration.conditions) if integration else 0,
                "readiness": _readiness_json(runtime.readiness.get(candidate.integration)),
                "signals": signals,
            }
        )
    count, blocked_until = brake_status(rule.policy, history, now=now)
    pause = effective_pause(store.global_pause, store.channel_pause(runtime.key), now)
    candidate_ids = {c.integration for c in rule.candidates}
    return {
        "channel": runtime.key,
        "environment": rule.environment,
        "name": rule.channel,
        "primary": (
            {"integration": primary.identifier, "active": primary.active} if primary else None
        ),
        "managed": primary is None or primary.identifier in candidate_ids,
        "novu_error": runtime.view_error,
        "view_at": view.fetched_at if view else None,
        "decision": decision_json(runtime.last_decision),
        "pause": pause_json(pause),
        "brake": {
            "count": count,
            "max": rule.policy.brake.max,
            "per": rule.policy.brake.per,
            "blocked_until": blocked_until,
            "acked_at": history.brake_acked_at,
        },
        "cooldown_until": _future(cooldown_until(rule.policy, history), now),
        "dry_run": rule.policy.dry_run,
        "in_flight": owner.acting,
        "open_action": _open_action(owner, now),
        "action_retry": (
            {"failed_actions": owner.backoff.failures, "not_before": owner.backoff.not_before}
            if owner.backoff.not_before > now
            else None
        ),
        "last_switch": _last_switch(history),
        "candidates": candidates,
    }


def status_json(
    *,
    owners: list[ChannelOwner],
    store: StateStore,
    now: float,
    rules_path: str,
    loaded_at: float,
    rules_error: str | None,
    dry_run: bool,
    started_at: float,
    version: str,
) -> JSON:
    global_pause = store.global_pause
    return {
        "channels": [channel_json(owner, store=store, now=now) for owner in owners],
        "global_pause": pause_json(
            global_pause if global_pause and global_pause.active(now) else None
        ),
        "rules": {"path": rules_path, "loaded_at": loaded_at, "error": rules_error},
        "dry_run": dry_run,
        "started_at": started_at,
        "now": now,
        "version": version,
    }


def explain_json(owner: ChannelOwner, *, store: StateStore, now: float, started_at: float) -> JSON:
    """Everything needed to answer 'why did (or didn't) this channel switch?'."""
    runtime = owner.runtime
    data = channel_json(owner, store=store, now=now)
    grace_end = started_at + runtime.rule.policy.startup_grace
    data["timers"] = {
        "startup_grace_until": grace_end if grace_end > now else None,
        "cooldown_until": data["cooldown_until"],
        "brake_blocked_until": data["brake"]["blocked_until"],
        "pause_until": data["pause"]["until"] if data["pause"] else None,
    }
    history = store.history(runtime.key)
    data["recent_switches"] = [
        {"at": s.at, "from": s.from_, "to": s.to, "trigger": s.trigger}
        for s in history.switches[-10:]
    ]
    data["policy"] = runtime.rule.policy.model_dump(mode="json")
    data["now"] = now
    return data


def _open_action(owner: ChannelOwner, now: float) -> JSON | None:
    """An action whose outcome is not known yet (see daemon/service/settlement.py)."""
    open_action = owner.open_action
    if open_action is None:
        return None
    started = open_action.started
    return {
        "id": started.id,
        "at": started.at,
        "from": started.from_,
        "to": started.to,
        "trigger": started.trigger,
        "why": open_action.why,
        "settle_after": open_action.settle_after,
        "reason": open_action.describe(now),
    }


def _last_switch(history: ChannelHistory) -> JSON | None:
    if not history.switches:
        return None
    last = history.switches[-1]
    return {"at": last.at, "from": last.from_, "to": last.to, "trigger": last.trigger}


def _future(value: float | None, now: float) -> float | None:
    return value if value is not None and value > now else None


def _readiness_json(readiness: Readiness | None) -> JSON:
    if readiness is None:
        return {"ready": None, "reasons": ["not evaluated yet"], "notes": []}
    return {
        "ready": readiness.ready,
        "reasons": list(readiness.reasons),
        "notes": list(readiness.notes),
    }
