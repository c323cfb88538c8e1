"""StateStore: pauses, channel histories, open actions and the audit trail under one directory.

Every method may be called from any thread. Two locks: one for state.json (pauses,
histories), one for the audit trail and its index of open actions, so an audit append never
waits behind a rewrite of state.json. A change is written first and applied in memory only
once it is on disk, so memory never holds what a restart would not read back; a failed write
raises StateError and changes nothing.

The open-action index in state.json follows the trail lazily: an append changes it in memory
and marks state.json as lagging (`lagging`); the next write of state.json (any reason, or
`flush`) carries it with the trail position it is exact at, and a start-up replays the lines
after that position (docs/state.md).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
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
        self._lock = threading.RLock()  # state.json and `_mem`; taken before `_trail_lock`
        self._mem = StateContents()
        self._retention: dict[ChannelKey, float] = {}
        self._trail_lock = threading.Lock()  # the trail, `_open`, `_changes`
        self._pieces = HistoryPieces(scrub)  # each history encoded once, until it changes
        self._trail = AuditTrail(directory, max_bytes=audit_max_bytes, keep=audit_keep)
        self._open: dict[str, AuditRecord] = {}  # the index of open actions (`_mem`'s is stale)
        self._changes = 0  # index changes and rotations not yet in state.json

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
            self._changes = int(doc.version != STATE_VERSION)
        return doc

    def _replay(self, checkpoint: tuple[int, int] | None) -> None:
        opened = self._mem.open_actions
        replayed = replay_open_actions(self._trail, opened, checkpoint, state_path=self.state_path)
        self._open = dict(replayed)
        if replayed != opened:
            self._changes += 1

    # --- writing state.json ---------------------------------------------------------------

    def _write(self, mem: StateContents) -> None:
        """Write `mem` with the current open-action index as state.json (call under `_lock`),
        then make it (as read back) the memory. StateError if it cannot be encoded within the
        schema's bounds or written; memory is then unchanged.

        The index and the trail position it is exact at are taken together under the trail's
        lock; appends go on while the file is encoded and written."""
        with self._trail_lock:
            opened = dict(self._open)
            position = (self._trail.generation, self._trail.size)
            changes = self._changes
        stored, raw = encode_state(
            replace(mem, open_actions=opened),
            path=self.state_path,
            scrub=self._scrub,
            prune=self._pruned,
            position=position,
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
        with self._trail_lock:
            self._changes -= changes  # those made while writing are still to be written
            pruned = [] if self._trail.closed else self._trail.prune(before=position[0])
        for name in pruned:
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
        with self._trail_lock:
            return self._trail.skipped

    @property
    def audit_count(self) -> int:
        """Entries (lines) in the kept audit files, damaged ones included."""
        with self._trail_lock:
            return self._trail.total

    @property
    def lagging(self) -> bool:
        """state.json lags the open-action index or the trail's generation (see `flush`)."""
        with self._trail_lock:
            return self._changes > 0

    def open_actions(self) -> list[AuditRecord]:
        """`started` records with no final record of the same id yet, newest first."""
        with self._trail_lock:
            return sorted(self._open.values(), key=lambda r: r.at, reverse=True)

    def record(self, entry: AuditRecord) -> None:
        """Append one audit record; it is on disk (written and fsynced) when this returns.

        A `started` record opens an action and the final record of the same id closes it;
        either updates the index of open actions, which state.json follows (see `lagging`).
        """
        problem = self.record_many([entry])[0]
        if problem is not None:
            raise problem

    def record_many(self, entries: Sequence[AuditRecord]) -> list[StateError | None]:
        """Append audit records in order with one write and one fsync (a group commit); per
        entry, None once it is on disk, or the StateError that kept it out. An entry that
        cannot be encoded fails alone; a failed write fails every entry of the write."""
        problems: list[StateError | None] = [None] * len(entries)
        lines: list[bytes] = []
        stored: list[AuditRecord] = []
        for n, entry in enumerate(entries):
            try:
                line, record = self._encode_audit(entry)
            except StateError as exc:
                problems[n] = exc
                continue
            lines.append(line)
            stored.append(record)
        if not lines:
            return problems
        rotated = False
        with self._trail_lock:
            error: StateError | None = None
            if self._trail.closed:
                error = StateError(f"{self.audit_path}: the state store is closed")
            else:
                if self._trail.should_rotate(sum(len(line) for line in lines)):
                    rotated = self._rotate()
                try:
                    self._trail.append(lines)
                except OSError as exc:
                    ids = ", ".join(repr(r.id[:80]) for r in stored[:3])
                    more = f" and {len(stored) - 3} more" if len(stored) > 3 else ""
                    msg = (
                        f"{self.audit_path}: cannot record audit entry {ids}{more}: "
                        f"{exc.strerror or exc}"
                    )
                    error = StateError(msg)
                else:
                    for record in stored:
                        self._index(record)
        if rotated:
            self._checkpoint_after_rotation()
        if error is not None:
            problems = [problem or error for problem in problems]
        return problems

    def _encode_audit(self, entry: AuditRecord) -> tuple[bytes, AuditRecord]:
        """One entry as its audit line, and as it will read back; StateError if it cannot be."""
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
        return line, stored

    def _index(self, stored: AuditRecord) -> None:
        """Track open actions after an append (under the trail's lock); state.json follows
        at its next write, and a start before that replays the line (docs/state.md)."""
        if stored.result == "started":
            self._open[stored.id] = stored
        elif self._open.pop(stored.id, None) is None:
            return
        self._changes += 1

    def _rotate(self) -> bool:
        """Start a new audit file (under the trail's lock); whether it did."""
        try:
            self._trail.rotate()
        except OSError as exc:
            log_event(
                _log,
                logging.WARNING,
                "state.audit_rotate",
                f"{self.audit_path}: cannot rotate ({exc.strerror or exc}); appending to it",
            )
            return False
        self._changes += 1
        return True

    def _checkpoint_after_rotation(self) -> None:
        """state.json's position moves to the new file; then old files are pruned (rare: once
        per AUDIT_MAX_BYTES, so written at once rather than at the next write)."""
        with self._lock:
            try:
                self._write(self._mem)
            except StateError as exc:
                log_event(_log, logging.WARNING, "state.audit_rotate", f"{exc}; old files kept")

    def events(self, *, limit: int, offset: int = 0) -> tuple[list[AuditRecord], int]:
        """Audit records newest first: entries `offset`..`offset+limit` (damaged lines among
        them are not shown), and the number of entries. Reads only those lines."""
        if limit < 0 or offset < 0:
            msg = f"limit and offset must not be negative (got limit={limit}, offset={offset})"
            raise ValueError(msg)
        with self._trail_lock:
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
            with self._trail_lock:
                for generation, offset_in_file in damaged:
                    self._trail.note_damaged(generation, offset_in_file)
        return found, total

    # --- lifecycle ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write state.json if it lags memory, and fsync the audit trail."""
        with self._lock:
            if self.lagging:
                self._write(self._mem)
            try:
                with self._trail_lock:
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
                with self._trail_lock:
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
