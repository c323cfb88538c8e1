"""Actions a previous process started but never finished (it died or was stopped between the
write-ahead `started` record and the final one); their owners settle them
(daemon/service/settlement.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from daemon.model import AuditRecord, ChannelHistory, ChannelKey, Switch, channel_key
from daemon.policy import record_switch
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


def unremembered_switches(
    newest_first: Iterable[AuditRecord], histories: Mapping[ChannelKey, ChannelHistory]
) -> dict[ChannelKey, Switch]:
    """Per channel, a switch the audit trail shows as done but the history lacks.

    A process can die between an action's final audit record and the write of the channel's
    history (two files). Without this, the next read of Novu would show the switch as a
    change nobody recorded: drift, a person's choice, and failback turned off."""
    missing: dict[ChannelKey, Switch] = {}
    seen: set[ChannelKey] = set()
    for record in newest_first:
        key = channel_key(record.environment, record.channel)
        if key in seen or record.action != "switch" or record.result != "ok" or record.dry_run:
            continue
        seen.add(key)  # only the newest switch of a channel can be the one not remembered
        history = histories.get(key, ChannelHistory())
        newest = max((s.at for s in history.switches), default=None)
        if record.to is None or (newest is not None and newest >= record.at):
            continue
        missing[key] = Switch(
            at=record.at, from_=record.from_, to=record.to, trigger=record.trigger
        )
    return missing


def remember_finished_switches(store: StateStore) -> None:
    """At start-up: put switches the trail finished but the history lacks into the history."""
    records, _total = store.events(limit=500, offset=0)
    keys = {channel_key(r.environment, r.channel) for r in records}
    histories = {key: store.history(key) for key in keys}
    for key, switch in unremembered_switches(records, histories).items():
        # keep=inf prunes nothing here; the owner's next switch prunes by the rule's windows
        store.set_history(key, record_switch(histories[key], switch, keep=math.inf))
