"""StateStore: pauses, channel histories, open actions and the audit trail under one directory.

Every method may be called from any thread (one lock serializes them). A change is written
first and applied in memory only once it is on disk, so memory never holds what a restart
would not read back; a failed write raises StateError and changes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from daemon.logs import get_logger, log_event, redact
from daemon.model import AuditRecord, ChannelHistory, ChannelKey, Pause
from daemon.policy.history import HISTORY_KEEP_SECONDS, forget_old_switches
from daemon.state.audit import AUDIT_FILE, MAX_LINE_BYTES, AuditTrail
from daemon.state.codec import Scrub, StateDecodeError, audit_of, dumps, encode_audit, validate
from daemon.state.files import write_atomically
from daemon.state.pieces import HistoryPieces
from daemon.state.replay import replay_open_actions
from daemon.state.schema import AuditDoc, StateDoc
from daemon.state.statefile import (
    STATE_FILE,
    STATE_VERSION,
    StateContents,
    StateError,
    contents_of,
    encode_state,
    read_state,
)

DEFAULT_AUDIT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_AUDIT_KEEP = 4

_log = get_logger(__name__)


class StateStore:
    """Durable state under one directory; see docs/state.md for the files and their rules."""

    def __init__(
        self,
        directory: Path,
        *,
        scrub: Scrub = redact,
        audit_max_bytes: int = DEFAULT_AUDIT_MAX_BYTES,
        audit_keep: int = DEFAULT_AUDIT_KEEP,
    ) -> None:
        """Use `StateStore.open`; this builds an empty store without touching the disk."""
        self.directory = directory
        self.state_path = directory / STATE_FILE
        self.audit_path = directory / AUDIT_FILE
        self._scrub = scrub
        self._lock = threading.RLock()
        self._mem = StateContents()
        self._retention: dict[ChannelKey, float] = {}
        self._pieces = HistoryPieces(scrub)  # each history encoded once, until it changes
        self._dirty = False  # state.json lags memory's open actions (an index write failed)
        self._trail = AuditTrail(directory, max_bytes=audit_max_bytes, keep=audit_keep)

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        scrub: Scrub = redact,
        audit_max_bytes: int = DEFAULT_AUDIT_MAX_BYTES,
        audit_keep: int = DEFAULT_AUDIT_KEEP,
    ) -> StateStore:
        """Load (or start) the state under `directory`, creating it with mode 0700.

        Raises StateError, leaving every file as it was, when state.json is unreadable,
        too large, too deep, not JSON, of another version or of the wrong shape or bounds.
        """
        store = cls(directory, scrub=scrub, audit_max_bytes=audit_max_bytes, audit_keep=audit_keep)
        try:
            if not directory.exists():
                directory.mkdir(mode=0o700, parents=True)
                directory.chmod(0o700)  # mkdir's mode is cut by the umask
            if not directory.is_dir():
                msg = f"{directory}: the state directory is not a directory"
                raise StateError(msg)  # noqa: TRY301  (closed by the handler below)
            doc = store._load_state()
            checkpoint = None if doc is None else doc.audit
            store._trail.open(checkpoint_generation=checkpoint.generation if checkpoint else None)
            store._replay((checkpoint.generation, checkpoint.offset) if checkpoint else None)
        except OSError as exc:
            store._trail.close()
            msg = f"{directory}: cannot use the state directory: {exc.strerror or exc}"
            raise StateError(msg) from exc
        except StateError:
            store._trail.close()
            raise
        return store

    def _load_state(self) -> StateDoc | None:
        doc = read_state(self.state_path)
        if doc is not None:
            self._mem = contents_of(doc)
            self._dirty = doc.version != STATE_VERSION
        return doc

    def _replay(self, checkpoint: tuple[int, int] | None) -> None:
        opened = self._mem.open_actions
        replayed = replay_open_actions(self._trail, opened, checkpoint, state_path=self.state_path)
        if replayed != opened:
            self._mem = replace(self._mem, open_actions=replayed)
            self._dirty = True

    # --- writing state.json ---------------------------------------------------------------

    def _write(self, mem: StateContents) -> None:
        """Write `mem` as state.json, then make it (as read back) the memory. StateError if
        it cannot be encoded within the schema's bounds or written; memory is then unchanged."""
        stored, raw = encode_state(
            mem,
            path=self.state_path,
            scrub=self._scrub,
            prune=self._pruned,
            position=(self._trail.generation, self._trail.size),
            pieces=self._pieces,
            retention=self._retention,
        )
        try:
            write_atomically(self.state_path, raw)
        except OSError as exc:
            msg = (
                f"{self.state_path}: cannot write state, nothing was changed: {exc.strerror or exc}"
            )
            raise StateError(msg) from exc
        self._mem = stored
        self._dirty = False
        for name in self._trail.prune():
            log_event(_log, logging.WARNING, "state.audit_rotate", f"cannot delete old {name}")

    def _pruned(self, channel: ChannelKey, history: ChannelHistory) -> ChannelHistory:
        keep = self._retention.get(channel)
        if keep is None:
            return history  # no retention given: keep what the caller kept
        return forget_old_switches(history, keep=max(HISTORY_KEEP_SECONDS, keep))

    # --- pauses and histories -------------------------------------------------------------

    @property
    def global_pause(self) -> Pause | None:
        return self._mem.global_pause

    def channel_pause(self, channel: ChannelKey) -> Pause | None:
        return self._mem.pauses.get(channel)

    def pauses(self) -> dict[ChannelKey, Pause]:
        """Per-channel pauses (the global one is `global_pause`), expired ones included."""
        return dict(self._mem.pauses)

    def set_pause(self, channel: ChannelKey | None, pause: Pause | None) -> None:
        """Pause (or, with `pause=None`, resume) one channel, or all with `channel=None`.

        The pause kept is the one written: redacted, lone surrogates replaced."""
        with self._lock:
            mem = self._mem
            if channel is None:
                self._write(replace(mem, global_pause=pause))
                return
            pauses = dict(mem.pauses)
            if pause is None:
                pauses.pop(channel, None)
            else:
                pauses[channel] = pause
            self._write(replace(mem, pauses=pauses))

    def history(self, channel: ChannelKey) -> ChannelHistory:
        return self._mem.histories.get(channel, ChannelHistory())

    def set_history(self, channel: ChannelKey, history: ChannelHistory) -> None:
        """Keep `history`, its switches pruned to the channel's retention (`set_retention`)."""
        self.set_histories({channel: history})

    def set_histories(self, changes: Mapping[ChannelKey, ChannelHistory]) -> None:
        """Keep several channels' histories with one write of state.json: all or none."""
        with self._lock:
            histories = dict(self._mem.histories)
            for channel, history in changes.items():
                if history == ChannelHistory():
                    histories.pop(channel, None)
                else:
                    histories[channel] = history
            self._write(replace(self._mem, histories=histories))

    def set_retention(self, seconds: Mapping[ChannelKey, float]) -> None:
        """How long each channel's switches are kept (see `daemon.policy.retention`); never
        less than HISTORY_KEEP_SECONDS. Applies from the next write of that history; a
        channel not named here is not pruned by the store."""
        with self._lock:
            self._retention = dict(seconds)

    # --- audit trail ----------------------------------------------------------------------

    @property
    def skipped_audit_lines(self) -> int:
        """Damaged lines of the audit trail met so far (at open, and by reads), once each."""
        with self._lock:
            return self._trail.skipped

    @property
    def audit_count(self) -> int:
        """Entries (lines) in the kept audit files, damaged ones included."""
        with self._lock:
            return self._trail.total

    def open_actions(self) -> list[AuditRecord]:
        """`started` records with no final record of the same id yet, newest first."""
        with self._lock:
            return sorted(self._mem.open_actions.values(), key=lambda r: r.at, reverse=True)

    def record(self, entry: AuditRecord) -> None:
        """Append one audit record; it is on disk (written and fsynced) when this returns.

        A `started` record opens an action and the final record of the same id closes it;
        either also updates state.json's index of open actions (see docs/state.md).
        """
        try:
            encoded = encode_audit(entry, self._scrub)
            stored = audit_of(validate(AuditDoc, encoded))
        except StateDecodeError as exc:
            msg = f"{self.audit_path}: cannot record audit entry {entry.id[:80]!r}: {exc}"
            raise StateError(msg) from None
        line = dumps(encoded).encode() + b"\n"
        if len(line) > MAX_LINE_BYTES:
            msg = (
                f"{self.audit_path}: cannot record audit entry {entry.id[:80]!r}: it is "
                f"{len(line)} bytes, over the {MAX_LINE_BYTES}-byte bound for a line"
            )
            raise StateError(msg)
        with self._lock:
            if self._trail.closed:
                msg = f"{self.audit_path}: the state store is closed"
                raise StateError(msg)
            if self._trail.should_rotate(len(line)):
                self._rotate()
            try:
                self._trail.append(line)
            except OSError as exc:
                msg = (
                    f"{self.audit_path}: cannot record audit entry {stored.id[:80]!r}: "
                    f"{exc.strerror or exc}"
                )
                raise StateError(msg) from exc
            self._index(stored)

    def _index(self, stored: AuditRecord) -> None:
        """Track open actions after an append; state.json follows, best effort: if it
        cannot be written, the audit line is the durable truth and the next start replays it."""
        opened = dict(self._mem.open_actions)
        if stored.result == "started":
            opened[stored.id] = stored
        elif opened.pop(stored.id, None) is None:
            return
        try:
            self._write(replace(self._mem, open_actions=opened))
        except StateError as exc:
            self._mem = replace(self._mem, open_actions=opened)
            self._dirty = True
            log_event(
                _log,
                logging.WARNING,
                "state.index",
                f"{exc}; the audit line is on disk and will be replayed at the next start",
            )

    def _rotate(self) -> None:
        try:
            self._trail.rotate()
        except OSError as exc:
            log_event(
                _log,
                logging.WARNING,
                "state.audit_rotate",
                f"{self.audit_path}: cannot rotate ({exc.strerror or exc}); appending to it",
            )
            return
        try:
            self._write(self._mem)  # the checkpoint moves to the new file; then prune
        except StateError as exc:
            self._dirty = True
            log_event(_log, logging.WARNING, "state.audit_rotate", f"{exc}; old files kept")

    def events(self, *, limit: int, offset: int = 0) -> tuple[list[AuditRecord], int]:
        """Audit records newest first: entries `offset`..`offset+limit` (damaged lines among
        them are not shown), and the number of entries. Reads only those lines."""
        if limit < 0 or offset < 0:
            msg = f"limit and offset must not be negative (got limit={limit}, offset={offset})"
            raise ValueError(msg)
        with self._lock:
            if self._trail.closed:
                msg = f"{self.audit_path}: the state store is closed"
                raise StateError(msg)
            try:
                files = self._trail.snapshot()
            except OSError as exc:
                msg = f"{self.audit_path}: cannot read the audit trail: {exc.strerror or exc}"
                raise StateError(msg) from exc
            total = self._trail.total
        found: list[AuditRecord] = []
        damaged: list[tuple[int, int]] = []
        try:
            for generation, offset_in_file, record, bad in self._trail.page(
                files, limit=limit, offset=offset
            ):
                if record is not None:
                    found.append(record)
                elif bad:
                    damaged.append((generation, offset_in_file))
        except OSError as exc:
            msg = f"{self.audit_path}: cannot read the audit trail: {exc.strerror or exc}"
            raise StateError(msg) from exc
        finally:
            for file in files:
                os.close(file.fd)
        if damaged:
            with self._lock:
                for generation, offset_in_file in damaged:
                    self._trail.note_damaged(generation, offset_in_file)
        return found, total

    # --- lifecycle ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write state.json if it lags memory, and fsync the audit trail."""
        with self._lock:
            if self._dirty:
                self._write(self._mem)
            try:
                self._trail.sync()
            except OSError as exc:
                msg = f"{self.audit_path}: cannot flush the audit trail: {exc.strerror or exc}"
                raise StateError(msg) from exc

    def close(self) -> None:
        with self._lock:
            if self._trail.closed:
                return
            try:
                self.flush()
            finally:
                self._trail.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
