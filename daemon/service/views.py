"""JSON views of the daemon's state for the API: readiness, events and `explain` (no
secrets, ever); `/v1/status` itself is built in daemon/service/status_view.py.

The shapes are documented in docs/api.md; the CLI renders them.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.control import JSON
from daemon.model import AuditRecord
from daemon.service.owner import ChannelOwner
from daemon.service.status_view import (
    channel_json,
    decision_json,
    known_names,
    observation_json,
    pause_json,
)
from daemon.state import StateStore, encode_audit

__all__ = [
    "decision_json",
    "event_json",
    "events_json",
    "explain_json",
    "known_names",
    "observation_json",
    "pause_json",
    "ready_json",
]


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


def explain_json(
    owner: ChannelOwner, *, store: StateStore, now: float, started_at: float, dry_run: bool
) -> JSON:
    """Everything needed to answer 'why did (or didn't) this channel switch?'."""
    runtime = owner.runtime
    data = channel_json(owner, store=store, now=now, dry_run=dry_run)
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
