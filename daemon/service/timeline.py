"""What happened to each channel lately, for the status page: a bounded in-memory ring.

Health transitions (per signal and per candidate), decisions (when their kind, current or
target changes) and actions are kept per channel, each series capped in length and in age.
It is a picture, not a record: it starts empty at every start and forgets on its own; the
audit trail (state.py) stays the durable record of actions.

No clock: every call says when (`at`), so a test drives it with plain numbers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from daemon.control import JSON
from daemon.model import AuditRecord, Decision
from daemon.service.runtime import ChannelRuntime

SeriesKey = tuple[str, str | None]
"""(integration, signal id) for a signal's health, (integration, None) for the candidate's."""

KEEP_SECONDS = 24 * 3600.0
PER_SERIES = 256
PER_CHANNEL_DECISIONS = 512
PER_CHANNEL_ACTIONS = 256
SWEEP_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class HealthPoint:
    at: float
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class DecisionPoint:
    at: float
    kind: str
    reason: str
    current: str | None
    target: str | None


@dataclass(frozen=True, slots=True)
class ActionPoint:
    at: float
    result: str
    from_: str | None
    to: str | None
    trigger: str
    dry_run: bool
    error: str | None


_Point = TypeVar("_Point", HealthPoint, DecisionPoint)


@dataclass
class _ChannelLog:
    health: dict[SeriesKey, deque[HealthPoint]] = field(default_factory=dict)
    decisions: deque[DecisionPoint] = field(
        default_factory=lambda: deque(maxlen=PER_CHANNEL_DECISIONS)
    )
    actions: deque[ActionPoint] = field(default_factory=lambda: deque(maxlen=PER_CHANNEL_ACTIONS))
    last_at: float = 0.0


class Timeline:
    """Per-channel ring buffers of health transitions, decisions and actions."""

    def __init__(self, *, keep: float = KEEP_SECONDS, per_series: int = PER_SERIES) -> None:
        self._keep = keep
        self._per_series = per_series
        self._channels: dict[str, _ChannelLog] = {}
        self._swept_at = float("-inf")

    # ----------------------------------------------------------------- recording
    def health(
        self,
        channel: str,
        integration: str,
        signal: str | None,
        *,
        state: str,
        reason: str,
        at: float,
    ) -> None:
        """A signal's (or, with `signal=None`, a candidate's) health is `state` since `at`;
        recorded only when it differs from the last state recorded for that series."""
        log = self._log(channel, at)
        series = log.health.get((integration, signal))
        if series is None:
            series = log.health[(integration, signal)] = deque(maxlen=self._per_series)
        if series and series[-1].state == state:
            return
        if series and at < series[-1].at:
            at = series[-1].at  # never out of order, even if a clock stepped back
        series.append(HealthPoint(at=at, state=state, reason=reason))

    def _last_state(self, channel: str, series: SeriesKey) -> str | None:
        log = self._channels.get(channel)
        points = None if log is None else log.health.get(series)
        return points[-1].state if points else None

    def decision(self, decision: Decision) -> None:
        """A decision; recorded when its kind, current or target differs from the last one."""
        log = self._log(decision.channel, decision.at)
        if log.decisions:
            last = log.decisions[-1]
            if (last.kind, last.current, last.target) == (
                decision.kind.value,
                decision.current,
                decision.target,
            ):
                return  # not read: a decision's reason is worded on first use
        log.decisions.append(
            DecisionPoint(
                at=decision.at,
                kind=decision.kind.value,
                reason=decision.reason,
                current=decision.current,
                target=decision.target,
            )
        )

    def action(self, channel: str, record: AuditRecord) -> None:
        """An action finished (switch, dry-run switch, failure or refusal)."""
        self._log(channel, record.at).actions.append(
            ActionPoint(
                at=record.at,
                result=record.result,
                from_=record.from_,
                to=record.to,
                trigger=record.trigger,
                dry_run=record.dry_run,
                error=record.error,
            )
        )

    def evaluated(self, runtime: ChannelRuntime, decision: Decision) -> None:
        """One evaluation of a channel: the health of its signals and candidates, and the
        decision. A transition is dated by the evidence that caused it (`since`)."""
        key = runtime.key
        for candidate in runtime.rule.candidates:
            name = candidate.integration
            for signal_id in candidate.signal_ids():
                signal = runtime.signals.get((name, signal_id))
                if signal is not None:
                    self.health(
                        key,
                        name,
                        signal_id,
                        state=signal.state.value,
                        reason=signal.reason,
                        at=signal.since if signal.since is not None else decision.at,
                    )
            health = runtime.health.get(name)
            # the reason is read only for a transition: it is worded on first use
            if health is not None and self._last_state(key, (name, None)) != health.state.value:
                self.health(
                    key,
                    name,
                    None,
                    state=health.state.value,
                    reason=health.reason,
                    at=health.since if health.since is not None else decision.at,
                )
        self.decision(decision)

    # ------------------------------------------------------------------- reading
    def channel_json(self, channel: str, *, since: float) -> JSON:
        """The channel's entries from `since` on, plus, per health series, the last point
        before `since` (the state the window starts in). Empty lists for an unknown channel."""
        log = self._channels.get(channel)
        if log is None:
            return {"health": [], "decisions": [], "actions": []}
        health = []
        for (integration, signal), series in log.health.items():
            points = _from(series, since)
            if points:
                health.append(
                    {
                        "integration": integration,
                        "signal": signal,
                        "points": [
                            {"at": p.at, "state": p.state, "reason": p.reason} for p in points
                        ],
                    }
                )
        return {
            "health": health,
            "decisions": [
                {
                    "at": d.at,
                    "kind": d.kind,
                    "reason": d.reason,
                    "current": d.current,
                    "target": d.target,
                }
                for d in _from(log.decisions, since)
            ],
            "actions": [
                {
                    "at": a.at,
                    "result": a.result,
                    "from": a.from_,
                    "to": a.to,
                    "trigger": a.trigger,
                    "dry_run": a.dry_run,
                    "error": a.error,
                }
                for a in log.actions
                if a.at >= since
            ],
        }

    def snapshot(self, *, since: float, channels: Iterable[str] | None = None) -> dict[str, JSON]:
        """`channel_json` of every channel with entries (of those in `channels` if given)."""
        keys = self._channels if channels is None else [c for c in channels if c in self._channels]
        return {key: self.channel_json(key, since=since) for key in keys}

    # ------------------------------------------------------------------ internals
    def _log(self, channel: str, at: float) -> _ChannelLog:
        log = self._channels.get(channel)
        if log is None:
            log = self._channels[channel] = _ChannelLog()
        log.last_at = max(log.last_at, at)
        cutoff = at - self._keep
        _prune(log, cutoff)
        if at - self._swept_at > SWEEP_SECONDS:
            self._swept_at = at
            for key in [k for k, other in self._channels.items() if other.last_at < cutoff]:
                del self._channels[key]  # quiet for `keep`: removed from the rules
        return log


def _prune(log: _ChannelLog, cutoff: float) -> None:
    """Drop entries older than `cutoff`, keeping each series' latest one (still in force)."""
    for series in log.health.values():
        while len(series) > 1 and series[1].at <= cutoff:
            series.popleft()
    while len(log.decisions) > 1 and log.decisions[1].at <= cutoff:
        log.decisions.popleft()
    while log.actions and log.actions[0].at < cutoff:
        log.actions.popleft()


def _from(entries: deque[_Point], since: float) -> list[_Point]:
    """Entries at or after `since`, preceded by the last one before it (the state in force)."""
    result: list[_Point] = []
    before: _Point | None = None
    for entry in entries:
        if entry.at < since:
            before = entry
        else:
            result.append(entry)
    if before is not None:
        result.insert(0, before)
    return result
