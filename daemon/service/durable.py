"""The state store as the running service uses it: writes off the event loop, one at a time,
and a failed write reported (log, metric, readiness) before it is raised to the caller.

Reads (pauses, histories) come from the store's memory and stay synchronous.

History writes that arrive while another write is in flight are coalesced: the next write
of state.json carries all of them (at start-up every channel records its first sight of
its primary at once; one rewrite per channel would be quadratic). Every caller still
returns only once its own change is on disk, and gets its own error if it is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

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
        self._lock = asyncio.Lock()
        self._batch: _HistoryBatch | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self.error: str | None = None

    async def record(self, entry: AuditRecord) -> None:
        """Append an audit record durably (fsync in a worker thread)."""
        await self._write(f"audit record {entry.id}", self.store.record, entry)

    async def set_history(self, channel: ChannelKey, history: ChannelHistory) -> None:
        """Keep `channel`'s history durably; returns once it is on disk (StateError if not).

        Joins the batch waiting for the next write, or starts one; the write runs in a task
        of its own, so a caller cancelled while waiting takes nobody else's change with it.
        """
        batch = self._batch
        if batch is None:
            batch = self._batch = _HistoryBatch()
            task = asyncio.create_task(self._flush(batch), name="state-history-write")
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
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
