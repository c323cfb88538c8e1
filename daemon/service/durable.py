"""The state store as the running service uses it: writes off the event loop, one at a time,
and a failed write reported (log, metric, readiness) before it is raised to the caller.

Reads (pauses, histories) come from the store's memory and stay synchronous.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from daemon.logs import log_event
from daemon.metrics import Metrics
from daemon.model import AuditRecord, ChannelHistory, ChannelKey, Pause
from daemon.state import StateError, StateStore

log = logging.getLogger("novu_failover.state")


class DurableState:
    """Async writes over a `StateStore`; `error` holds the last write failure until a write
    succeeds again (shown by /readyz)."""

    def __init__(self, store: StateStore, *, metrics: Metrics) -> None:
        self.store = store
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self.error: str | None = None

    async def record(self, entry: AuditRecord) -> None:
        """Append an audit record durably (fsync in a worker thread)."""
        await self._write(f"audit record {entry.id}", self.store.record, entry)

    async def set_history(self, channel: ChannelKey, history: ChannelHistory) -> None:
        await self._write(f"history of {channel}", self.store.set_history, channel, history)

    async def set_pause(self, channel: ChannelKey | None, pause: Pause | None) -> None:
        what = f"pause of {channel or 'all channels'}"
        await self._write(what, self.store.set_pause, channel, pause)

    async def _write(self, what: str, write: Callable[..., None], *args: object) -> None:
        async with self._lock:  # one write at a time: state.json is rewritten whole
            try:
                await asyncio.to_thread(write, *args)
            except StateError as exc:
                self._failed(what, str(exc))
                raise
            except OSError as exc:
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
