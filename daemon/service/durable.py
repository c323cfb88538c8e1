"""The state store as the running service uses it: writes off the event loop, one at a time,
and a failed write reported (log, metric, readiness) before it is raised to the caller.

Reads (pauses, histories) come from the store's memory and stay synchronous.

History writes that arrive while another write is in flight are coalesced: the next write
of state.json carries all of them (at start-up every channel records its first sight of
its primary at once; one rewrite per channel would be quadratic). Audit records likewise:
those that arrive while an append is in flight go into the next append, one write and one
fsync for all of them (a group commit; an alert storm switches many channels at once).
Every caller still returns only once its own change is on disk, and gets its own error if
it is not.

Audit appends and state.json writes take separate turns: an action's write-ahead record
never waits behind a rewrite of state.json. The open-action index in state.json follows
the trail with the next write of state.json, or the tick's catch-up (docs/state.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from daemon.logs import log_event
from daemon.metrics import Metrics
from daemon.model import AuditRecord, ChannelHistory, ChannelKey, Pause
from daemon.state import StateError, StateStore

log = logging.getLogger("novu_failover.state")


@dataclass
class _HistoryBatch:
    """History changes waiting for the next state.json write, and who waits for them."""

    changes: dict[ChannelKey, ChannelHistory] = field(default_factory=dict)
    waiters: list[tuple[ChannelKey, asyncio.Future[None]]] = field(default_factory=list)


class DurableState:
    """Async writes over a `StateStore`; `error` holds the last write failure until a write
    succeeds again (shown by /readyz)."""

    def __init__(self, store: StateStore, *, metrics: Metrics) -> None:
        self.store = store
        self._metrics = metrics
        self._lock = asyncio.Lock()  # state.json: one write at a time
        self._batch: _HistoryBatch | None = None
        self._records: list[tuple[AuditRecord, asyncio.Future[None]]] | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._catching_up = False
        self.error: str | None = None

    async def record(self, entry: AuditRecord) -> None:
        """Append an audit record durably (fsync in a worker thread); returns once it is on
        disk (StateError if not). Joins the append waiting for its turn, or starts one."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._records is None:
            self._records = [(entry, done)]
            self._spawn(self._append(), "audit-append")
        else:
            self._records.append((entry, done))
        await done

    async def _append(self) -> None:
        """Append what has gathered, and again while more gathers during an append."""
        try:
            while self._records:
                batch, self._records = self._records, []
                try:
                    problems = await asyncio.to_thread(
                        self.store.record_many, [entry for entry, _ in batch]
                    )
                except Exception as exc:
                    problems = [StateError(f"cannot write audit records: {exc}")] * len(batch)
                except BaseException:
                    self._settle(batch, [StateError("audit append interrupted")] * len(batch))
                    raise
                self._settle(batch, problems)
        finally:
            left, self._records = self._records or [], None
            self._settle(left, [StateError("audit append interrupted")] * len(left))

    def _settle(
        self,
        batch: list[tuple[AuditRecord, asyncio.Future[None]]],
        problems: list[StateError | None],
    ) -> None:
        """Report failed records (log, metric, readiness) and wake every waiter."""
        for (entry, _), problem in zip(batch, problems, strict=True):
            if problem is not None:
                self._failed(f"audit record {entry.id}", str(problem))
        if batch and not any(problems) and self.error is not None:
            log_event(log, logging.INFO, "state", "state writes succeed again")
            self.error = None
        for (_, done), problem in zip(batch, problems, strict=True):
            if done.done():
                continue  # its caller was cancelled; the record is written all the same
            if problem is None:
                done.set_result(None)
            else:
                done.set_exception(problem)

    def catch_up(self) -> asyncio.Task[None] | None:
        """Bring state.json's open-action index up to the trail in the background, if it
        lags (the service's tick calls this: an action's own path never waits for it); the
        write's task, or None when there is nothing to do or a catch-up is under way. A
        failure is reported like any write; the next write, or a start, catches up."""
        if self._catching_up or not self.store.lagging:
            return None
        self._catching_up = True

        async def catch_up() -> None:
            try:
                async with self._lock:
                    if self.store.lagging:
                        with contextlib.suppress(StateError):
                            await self._write_locked("open-action index", self.store.flush)
            finally:
                self._catching_up = False

        return self._spawn(catch_up(), "state-index-write")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)
        return task

    async def set_history(self, channel: ChannelKey, history: ChannelHistory) -> None:
        """Keep `channel`'s history durably; returns once it is on disk (StateError if not).

        Joins the batch waiting for the next write, or starts one; the write runs in a task
        of its own, so a caller cancelled while waiting takes nobody else's change with it.
        """
        batch = self._batch
        if batch is None:
            batch = self._batch = _HistoryBatch()
            self._spawn(self._flush(batch), "state-history-write")
        batch.changes[channel] = history
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch.waiters.append((channel, done))
        await done

    async def _flush(self, batch: _HistoryBatch) -> None:
        """One write for the whole batch; if it fails, one write per channel, so that one
        channel's bad history never costs another channel its change. Settles every waiter."""
        written: set[ChannelKey] = set()
        failed: dict[ChannelKey, BaseException] = {}
        try:
            async with self._lock:
                self._batch = None  # changes arriving from now on go into the next write
                changes = dict(batch.changes)
                if len(changes) > 1:
                    what = f"histories of {len(changes)} channels"
                    with contextlib.suppress(StateError):  # then one write each, reported
                        await self._write_locked(
                            what, self.store.set_histories, changes, report=False
                        )
                        written.update(changes)
                for channel, history in changes.items():
                    if channel in written:
                        continue
                    try:
                        await self._write_locked(
                            f"history of {channel}", self.store.set_history, channel, history
                        )
                        written.add(channel)
                    except StateError as exc:
                        failed[channel] = exc
        finally:
            if self._batch is batch:
                self._batch = None
            for channel, waiter in batch.waiters:
                if waiter.done():
                    continue  # its caller was cancelled
                if channel in written:
                    waiter.set_result(None)
                else:
                    problem = failed.get(channel)
                    waiter.set_exception(
                        problem or StateError(f"cannot write history of {channel}: interrupted")
                    )

    async def set_pause(self, channel: ChannelKey | None, pause: Pause | None) -> None:
        what = f"pause of {channel or 'all channels'}"
        await self._write(what, self.store.set_pause, channel, pause)

    async def _write(self, what: str, write: Callable[..., None], *args: object) -> None:
        async with self._lock:  # one write at a time: state.json is rewritten whole
            await self._write_locked(what, write, *args)

    async def _write_locked(
        self, what: str, write: Callable[..., None], *args: object, report: bool = True
    ) -> None:
        """Run `write` in a worker thread (the caller holds the lock); a failure is reported
        (log, metric, /readyz) unless `report` is false, and raised as StateError."""
        try:
            await asyncio.to_thread(write, *args)
        except StateError as exc:
            if report:
                self._failed(what, str(exc))
            raise
        except OSError as exc:
            if report:
                self._failed(what, exc.strerror or type(exc).__name__)
            msg = f"cannot write {what}: {exc.strerror or type(exc).__name__}"
            raise StateError(msg) from exc
        if self.error is not None:
            log_event(log, logging.INFO, "state", "state writes succeed again")
            self.error = None

    def _failed(self, what: str, problem: str) -> None:
        self.error = f"cannot write {what}: {problem}"
        self._metrics.state_write_failed()
        log_event(log, logging.ERROR, "state", self.error)
