"""Actions a previous process started but never finished (it died or was stopped between the
write-ahead `started` record and the final one); their owners settle them
(daemon/service/settlement.py)."""

from __future__ import annotations

from collections.abc import Iterable

from daemon.model import AuditRecord, ChannelKey, channel_key


def interrupted_actions(newest_first: Iterable[AuditRecord]) -> dict[ChannelKey, AuditRecord]:
    """Per channel, the newest `started` record without a final record of the same id."""
    records = list(newest_first)
    finished = {r.id for r in records if r.result != "started"}
    interrupted: dict[ChannelKey, AuditRecord] = {}
    for record in records:
        if record.result == "started" and record.id not in finished:
            interrupted.setdefault(channel_key(record.environment, record.channel), record)
    return interrupted
