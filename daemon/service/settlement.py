"""Settling an open action: one whose `started` record has no final record yet.

An action is open when its write to Novu may or may not have happened: the process died or
was stopped mid-call, the call timed out, or its answer was lost. Novu may still carry the
call out after the daemon gave up on it (a slow set-primary completes server-side), so the
outcome is known for certain only from Novu itself:

- once Novu shows the action's target as the channel's one active primary, it **landed**
  (whenever that is seen, before or after the deadline);
- once the action's deadline (its start + the action timeout it ran with) plus a margin
  for a request still inside Novu has passed and Novu shows anything else, it **did not
  land**, and never will.

Until then the channel takes no action and reports no drift: the change it would see is
probably its own. The final record says how the outcome was known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from daemon.durations import format_duration
from daemon.model import AuditRecord, ChannelKey, ChannelView, Decision, DecisionKind, Switch

SETTLE_MARGIN = 5.0
"""Seconds past an action's deadline before 'not primary' means 'did not land': covers a
request that Novu received just before the deadline and is still processing."""


@dataclass(frozen=True, slots=True)
class OpenAction:
    """A write-ahead record still waiting for its outcome, and when absence is conclusive."""

    started: AuditRecord
    settle_after: float
    why: str
    """How it came to be open ("interrupted by a restart", "timed out while ...")."""

    @classmethod
    def of(
        cls, started: AuditRecord, *, action_timeout: float, why: str, deadline: float | None = None
    ) -> OpenAction:
        """`deadline` from the action itself, else from its record, else start + timeout."""
        if deadline is None:
            deadline = _recorded_deadline(started)
        if deadline is None:
            deadline = started.at + action_timeout
        return cls(started=started, settle_after=deadline + SETTLE_MARGIN, why=why)

    def describe(self, now: float) -> str:
        route = f"{self.started.from_ or '(none)'} -> {self.started.to}"
        wait = max(0.0, self.settle_after - now)
        return (
            f"settling action {self.started.id} ({route}, {self.why}): no action until "
            f"Novu shows {self.started.to} as primary or {format_duration(wait)} pass"
        )

    def decision(self, channel: ChannelKey, *, now: float) -> Decision:
        """What the channel decides while this is open: wait, and say for what."""
        return Decision(
            channel=channel,
            kind=DecisionKind.WAIT,
            reason=self.describe(now),
            at=now,
            current=self.started.from_,
            target=self.started.to,
            trigger=self.started.trigger,
        )


@dataclass(frozen=True, slots=True)
class Settled:
    """The final record, and the switch to remember when the action landed."""

    record: AuditRecord
    switch: Switch | None


def settle(action: OpenAction, view: ChannelView, *, now: float) -> Settled | None:
    """The outcome of `action` given Novu's `view` read at `now`, or None: not known yet."""
    started = action.started
    primary = view.primary
    landed = primary is not None and primary.identifier == started.to and primary.active
    if not landed and now < action.settle_after:
        return None
    seen = primary.identifier if primary else "no integration"
    if landed:
        how = f"Novu's view shows {started.to} as the active primary"
    else:
        how = f"Novu shows {seen} as primary after the action's deadline"
    final = replace(
        started,
        result="ok" if landed else "failed",
        error=None if landed else f"{action.why}; did not land: {how}",
        duration=max(0.0, now - started.at),
        extra={**started.extra, "settled": f"{action.why}; {how}"},
    )
    if not landed or started.to is None:
        return Settled(final, None)
    switch = Switch(at=started.at, from_=started.from_, to=started.to, trigger=started.trigger)
    return Settled(final, switch)


def _recorded_deadline(started: AuditRecord) -> float | None:
    raw = started.extra.get("deadline")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) < 1e12 else None  # a sane epoch
