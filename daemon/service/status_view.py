"""`/v1/status` from the channel owners: a summary per channel by default, in full on request.

The summary is what an on-call person scans across a thousand channels (state, primary,
decision and its reason, pause, brake, each candidate's health and readiness); the full
form adds the candidates' reasons and every signal's evidence (docs/api.md). Both are built
from the same state here, so the summary always equals `daemon.control.summarize` of the
full form (tests/test_status_view.py pins it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping

from daemon.control import JSON, ControlError, StatusQuery, channel_state, state_counts
from daemon.model import ChannelHistory, Decision, Observation, Pause, effective_pause
from daemon.policy import brake_status, cooldown_until
from daemon.policy.readiness import Readiness
from daemon.service.owner import ChannelOwner
from daemon.state import StateStore

SLICE = 100
"""Channels read per turn of the event loop (~20-30 µs each in summary)."""


def decision_json(decision: Decision | None, *, full: bool = True) -> JSON | None:
    if decision is None:
        return None
    data: JSON = {
        "kind": decision.kind.value,
        "reason": decision.reason,
        "at": decision.at,
        "current": decision.current,
        "target": decision.target,
        "trigger": decision.trigger,
        "drift": decision.drift,
    }
    if full:
        data["evidence"] = list(decision.evidence)
    return data


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


def channel_json(
    owner: ChannelOwner, *, store: StateStore, now: float, dry_run: bool = False, full: bool = True
) -> JSON:
    """One channel as `/v1/status` shows it: in full, or its summary (`full=False`).
    `dry_run` is the daemon-wide dry run (it makes every channel's state `dry-run`)."""
    data = _head(owner, store=store, now=now, full=full)
    data["candidates"] = _candidates(owner) if full else _candidate_summaries(owner)
    data["state"] = channel_state(data, dry_run=dry_run)
    return data


class StatusRead:
    """One `/v1/status` answer, read a slice of channels at a time (`read`), so a thousand
    channels never hold the event loop for the whole answer (`read_in_slices`)."""

    def __init__(
        self,
        *,
        owners: Mapping[str, ChannelOwner],
        environments: Collection[str],
        query: StatusQuery,
        store: StateStore,
        now: float,
        dry_run: bool,
        head: JSON,
    ) -> None:
        """ControlError 404 for a channel or an environment that is not in the rules."""
        if query.channel is not None and query.channel not in owners:
            msg = f"no channel {query.channel!r} in the rules (known: {known_names(owners)})"
            raise ControlError(404, msg)
        if query.environment is not None and query.environment not in environments:
            known = known_names(environments)
            msg = f"no environment {query.environment!r} in the rules (known: {known})"
            raise ControlError(404, msg)
        self.query, self.store, self.now, self.dry_run, self.head = query, store, now, dry_run, head
        if query.channel is not None:  # one channel: no walk over a thousand
            self.owners = [owners[query.channel]]
        else:
            self.owners = [
                o for o in owners.values() if query.selects(o.key, o.runtime.rule.environment)
            ]
        self.channels: list[JSON] = []
        self._next = 0

    def read(self, count: int) -> bool:
        """Read the next `count` channels; True once every selected channel is read."""
        query, store, now, dry_run = self.query, self.store, self.now, self.dry_run
        full = query.detail == "full"
        for owner in self.owners[self._next : self._next + count]:
            if query.states:
                summary = channel_json(owner, store=store, now=now, dry_run=dry_run, full=False)
                if summary["state"] not in query.states:
                    continue
                if not full:
                    self.channels.append(summary)
                    continue
            self.channels.append(
                channel_json(owner, store=store, now=now, dry_run=dry_run, full=full)
            )
        self._next += count
        return self._next >= len(self.owners)

    def document(self) -> JSON:
        """The answer (docs/api.md), from what was read."""
        global_pause = self.store.global_pause
        return {
            "detail": self.query.detail,
            "states": state_counts(self.channels),
            "global_pause": pause_json(
                global_pause if global_pause and global_pause.active(self.now) else None
            ),
            **self.head,
            "dry_run": self.dry_run,
            "now": self.now,
            "channels": self.channels,
        }

    def all(self) -> JSON:
        """Every channel at once (in-process callers, tests)."""
        self.read(len(self.owners))
        return self.document()


async def read_in_slices(read: StatusRead) -> JSON:
    """The answer, reading SLICE channels per turn of the event loop: /healthz and the
    probes wait for a slice (~3 ms), not for a thousand channels. Each channel is read
    whole in one turn; channels of one answer may be read a few milliseconds apart."""
    while not read.read(SLICE):  # noqa: ASYNC110 - yields to the loop between slices
        await asyncio.sleep(0)
    return read.document()


def known_names(names: Iterable[str], *, shown: int = 20) -> str:
    """Names for an error message: all of a few, the first `shown` of a thousand."""
    ordered = sorted(names)
    if not ordered:
        return "none"
    if len(ordered) <= shown:
        return ", ".join(ordered)
    return f"{', '.join(ordered[:shown])} and {len(ordered) - shown} more"


def _head(owner: ChannelOwner, *, store: StateStore, now: float, full: bool) -> JSON:
    """Everything about a channel but its candidates."""
    runtime = owner.runtime
    rule = runtime.rule
    history = store.history(runtime.key)
    view = runtime.view
    primary = view.primary if view else None
    count, blocked_until = brake_status(rule.policy, history, now=now)
    pause = effective_pause(store.global_pause, store.channel_pause(runtime.key), now)
    data: JSON = {
        "channel": runtime.key,
        "environment": rule.environment,
        "name": rule.channel,
        "primary": (
            {"integration": primary.identifier, "active": primary.active} if primary else None
        ),
        "managed": primary is None
        or any(c.integration == primary.identifier for c in rule.candidates),
        "novu_error": runtime.view_error,
        "decision": decision_json(runtime.last_decision, full=full),
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
    }
    if full:
        data["view_at"] = view.fetched_at if view else None
    return data


def _candidate_summaries(owner: ChannelOwner) -> list[JSON]:
    runtime = owner.runtime
    # once per channel, not a scan of the view per candidate (a thousand channels)
    found = {i.identifier: i for i in runtime.view.integrations} if runtime.view else {}
    summaries = []
    for candidate in runtime.rule.candidates:
        identifier = candidate.integration
        health = runtime.health.get(identifier)
        integration = found.get(identifier)
        readiness = runtime.readiness.get(identifier)
        summaries.append(
            {
                "integration": identifier,
                "state": health.state.value if health else "unknown",
                "since": health.since if health else None,
                "primary": bool(integration and integration.primary),
                "active": integration.active if integration else None,
                "ready": readiness.ready if readiness else None,
            }
        )
    return summaries


def _candidates(owner: ChannelOwner) -> list[JSON]:
    runtime = owner.runtime
    view = runtime.view
    candidates = []
    for candidate in runtime.rule.candidates:
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
    return candidates


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
