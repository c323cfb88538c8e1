"""The JSON shapes of the status/control API, built from the shared model values.

`docs/api.md` documents these shapes; the service builds its `ControlPlane` answers with
these helpers so the API, the CLI and the docs agree. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daemon.model import (
    AuditRecord,
    CandidateHealth,
    Decision,
    Integration,
    Pause,
    SignalHealth,
)

JSON = dict[str, Any]


def pause_json(pause: Pause | None) -> JSON | None:
    """`{"reason", "since", "until", "by"}`, or None when there is no pause."""
    if pause is None:
        return None
    return {"reason": pause.reason, "since": pause.since, "until": pause.until, "by": pause.by}


def decision_json(decision: Decision | None) -> JSON | None:
    """The last decision of a channel, or None before the first evaluation."""
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


def primary_json(primary: Integration | None) -> JSON | None:
    """`{"integration": identifier, "active": bool}` for Novu's primary, None if there is none."""
    if primary is None:
        return None
    return {"integration": primary.identifier, "active": primary.active}


def signal_json(signal: SignalHealth, *, kind: str) -> JSON:
    return {
        "signal": signal.signal,
        "kind": kind,
        "state": signal.state.value,
        "reason": signal.reason,
        "since": signal.since,
        "passive": signal.passive,
    }


def candidate_json(
    health: CandidateHealth,
    *,
    integration: Integration | None,
    signal_kinds: Sequence[str],
) -> JSON:
    """One candidate; `integration` is Novu's record (None when Novu has no such identifier),
    `signal_kinds` the kind of each of `health.signals`, in the same order."""
    return {
        "integration": health.integration,
        "state": health.state.value,
        "reason": health.reason,
        "since": health.since,
        "active": None if integration is None else integration.active,
        "primary": False if integration is None else integration.primary,
        "signals": [
            signal_json(signal, kind=kind)
            for signal, kind in zip(health.signals, signal_kinds, strict=True)
        ],
    }


def brake_json(
    *,
    count: int,
    max_switches: int,
    per: float,
    blocked_until: float | None,
    acked_at: float | None,
) -> JSON:
    """Switches counted in the brake window, the limit, and when a tripped brake lets go."""
    return {
        "count": count,
        "max": max_switches,
        "per": per,
        "blocked_until": blocked_until,
        "acked_at": acked_at,
    }


def audit_json(record: AuditRecord) -> JSON:
    """One audit-trail event (`from_` is spelled `from` on the wire)."""
    return {
        "id": record.id,
        "at": record.at,
        "environment": record.environment,
        "channel": record.channel,
        "from": record.from_,
        "to": record.to,
        "trigger": record.trigger,
        "reason": record.reason,
        "result": record.result,
        "dry_run": record.dry_run,
        "attempts": record.attempts,
        "evidence": list(record.evidence),
        "error": record.error,
        "erased_conditions": [dict(condition) for condition in record.erased_conditions],
        "duration": record.duration,
        "extra": dict(record.extra),
    }
