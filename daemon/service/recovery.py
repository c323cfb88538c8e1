"""Actions a previous process started but never finished (it died between the write-ahead
`started` record and the final one), settled from what Novu shows now."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from daemon.model import AuditRecord, ChannelKey, ChannelView, Switch, channel_key


def interrupted_actions(newest_first: Iterable[AuditRecord]) -> dict[ChannelKey, AuditRecord]:
    """Per channel, the newest `started` record without a final record of the same id.

    Give it `StateStore.open_actions()`: the store keeps every open `started` record in
    state.json, across rotations of the audit trail, so nothing is read from the trail here.
    Audit records newest first (a final one closes the `started` of its id) work too.
    """
    records = list(newest_first)
    finished = {r.id for r in records if r.result != "started"}
    interrupted: dict[ChannelKey, AuditRecord] = {}
    for record in records:
        if record.result == "started" and record.id not in finished:
            interrupted.setdefault(channel_key(record.environment, record.channel), record)
    return interrupted


def settle(
    started: AuditRecord, view: ChannelView, *, now: float
) -> tuple[AuditRecord, Switch | None]:
    """The final record for `started`, and the switch to remember if it landed.

    Landed means Novu shows the target as the one active primary: then it is remembered with
    its own trigger (so it is not mistaken for a person's drift) and counts for the cooldown
    and the brake. Otherwise the attempt is recorded as failed.
    """
    primary = view.primary
    landed = primary is not None and primary.identifier == started.to and primary.active
    seen = primary.identifier if primary else "no integration"
    final = replace(
        started,
        result="ok" if landed else "failed",
        error=None if landed else f"interrupted by a restart; Novu shows {seen} as primary",
        duration=max(0.0, now - started.at),
        extra={**started.extra, "settled": "after a restart, from Novu's read-back"},
    )
    if not landed or started.to is None:
        return final, None
    return final, Switch(at=started.at, from_=started.from_, to=started.to, trigger=started.trigger)
