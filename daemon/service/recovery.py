"""Actions a previous process started but never finished (it died or was stopped between the
write-ahead `started` record and the final one); their owners settle them
(daemon/service/settlement.py)."""

from __future__ import annotations

from collections.abc import Iterable

from daemon.model import AuditRecord, ChannelKey, channel_key
from daemon.service.settlement import OpenAction
from daemon.state import StateStore


def interrupted_actions(newest_first: Iterable[AuditRecord]) -> dict[ChannelKey, AuditRecord]:
    """Per channel, the newest `started` record without a final record of the same id."""
    records = list(newest_first)
    finished = {r.id for r in records if r.result != "started"}
    interrupted: dict[ChannelKey, AuditRecord] = {}
    for record in records:
        if record.result == "started" and record.id not in finished:
            interrupted.setdefault(channel_key(record.environment, record.channel), record)
    return interrupted


def open_actions(store: StateStore, *, action_timeout: float) -> dict[ChannelKey, OpenAction]:
    """The actions a previous process left open, per channel, ready for their owners."""
    records, _total = store.events(limit=500, offset=0)
    return {
        key: OpenAction.of(
            started, action_timeout=action_timeout, why="interrupted by a restart or shutdown"
        )
        for key, started in interrupted_actions(records).items()
    }
