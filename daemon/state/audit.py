"""The audit trail: `audit.jsonl` appended and fsynced, rotated by size, read from the tail.

Files, newest first: `audit.jsonl` (the active file, generation g), then the rotated
`audit.<g-1>.jsonl`, `audit.<g-2>.jsonl`, ... (six-digit generation numbers; a file is
never renamed twice, so a crash mid-rotation leaves every record in exactly one file).
At most `keep` rotated files are kept; older ones are deleted after the rotation is
recorded in state.json (the store does that between `rotate` and `prune`).

An *entry* is a line. Every line counts in `total` and in `offset`, so pages partition the
trail exactly; a line that is not a valid record (a crash mid-write, a hand edit) is
counted once in `skipped` and never shown. Counts come from newline counts done in C at
open and kept up to date in memory: nothing here parses more lines than it shows or skips
by offset, and skipping by offset parses nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.model import AuditRecord
from daemon.state.codec import StateDecodeError, audit_of, validate
from daemon.state.files import (
    BLOCK,
    count_lines,
    fsync_dir,
    lines_backward,
    skip_back,
    write_all,
)
from daemon.state.jsontext import JsonTextError, load_json
from daemon.state.schema import AuditDoc

AUDIT_FILE = "audit.jsonl"
MAX_LINE_BYTES = 1024 * 1024
"""A longer audit line is damaged for every reader (and is never written)."""
_ROTATED = re.compile(r"audit\.(\d{6,})\.jsonl")
_DAMAGED_REMEMBERED = 100_000


def rotated_name(generation: int) -> str:
    return f"audit.{generation:06d}.jsonl"


def parse_line(line: bytes) -> AuditRecord:
    """The record on one audit line; JsonTextError or StateDecodeError if it is damaged."""
    return audit_of(validate(AuditDoc, load_json(line, max_bytes=MAX_LINE_BYTES)))


def _record_or_none(line: bytes | None) -> AuditRecord | None:
    if line is None:
        return None
    try:
        return parse_line(line)
    except (JsonTextError, StateDecodeError):
        return None


@dataclass(slots=True)
class _Rotated:
    generation: int
    entries: int


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One file of the trail as it was when a read began: an open fd and its extent."""

    generation: int
    fd: int
    end: int
    entries: int


class AuditTrail:
    """The files of the trail under one directory. Not locked: the store serializes calls."""

    def __init__(self, directory: Path, *, max_bytes: int, keep: int) -> None:
        self.directory = directory
        self.path = directory / AUDIT_FILE
        self.max_bytes = max_bytes
        self.keep = keep
        self.generation = 1
        self.size = 0
        self.entries = 0
        self._rotated: list[_Rotated] = []  # oldest first
        self._fd: int | None = None
        self._needs_newline = False
        self._damaged: set[tuple[int, int]] = set()
        self._damaged_overflow = 0

    # --- open, append, rotate ---------------------------------------------------------

    def open(self, *, checkpoint_generation: int | None) -> None:
        """Find the files, count their lines, open the active file for appending."""
        found = []
        for child in self.directory.iterdir():
            match = _ROTATED.fullmatch(child.name)
            if match is not None:
                found.append(int(match.group(1)))
        for generation in sorted(found):
            fd = os.open(self.directory / rotated_name(generation), os.O_RDONLY)
            try:
                entries, _ = count_lines(fd, 0, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            self._rotated.append(_Rotated(generation, entries))
        newest = max(found, default=0) + 1
        self.generation = max(newest, checkpoint_generation or 1)
        existed = self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self._fd).st_size
        self.entries, clean = count_lines(self._fd, 0, self.size)
        self._needs_newline = not clean
        if not existed:
            fsync_dir(self.directory)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def append(self, lines: Sequence[bytes]) -> int:
        """Append lines (each ending in a newline) durably, with one write and one fsync;
        the active file's size after them.

        On OSError part of them may be on disk: the counts are re-read from the file and
        the next line starts on a fresh line, so a torn line is one damaged entry.
        """
        assert self._fd is not None
        data = b"".join(lines)
        if self._needs_newline:
            data = b"\n" + data
        before = self.size
        try:
            write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError:
            self._resync(before)
            raise
        self.size += len(data)
        self.entries += len(lines)
        self._needs_newline = False
        return self.size

    def _resync(self, before: int) -> None:
        assert self._fd is not None
        with contextlib.suppress(OSError):
            size = os.fstat(self._fd).st_size
            if size > before:
                added, clean = count_lines(self._fd, before, size)
                # A torn write after a clean end adds lines; after a torn end it may close one.
                self.entries += added - (1 if self._needs_newline else 0)
                self.size = size
                self._needs_newline = not clean

    def should_rotate(self, incoming: int) -> bool:
        return self.size > 0 and self.size + incoming > self.max_bytes

    def rotate(self) -> None:
        """Move the active file aside as `audit.<g>.jsonl` and start generation g+1."""
        assert self._fd is not None
        os.rename(self.path, self.directory / rotated_name(self.generation))
        os.close(self._fd)
        self._fd = None
        self._rotated.append(_Rotated(self.generation, self.entries))
        self.generation += 1
        self.size = self.entries = 0
        self._needs_newline = False
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        fsync_dir(self.directory)

    def prune(self, *, before: int) -> list[str]:
        """Delete rotated files beyond `keep`, oldest first, but none of generation `before`
        or later (state.json's position may still point into it); the names of those that
        remain only because deleting them failed."""
        failed = []
        while len(self._rotated) > self.keep and self._rotated[0].generation < before:
            oldest = self._rotated[0]
            try:
                (self.directory / rotated_name(oldest.generation)).unlink(missing_ok=True)
            except OSError:
                failed.append(rotated_name(oldest.generation))
                break
            self._rotated.pop(0)
        return failed

    # --- reading --------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self.entries + sum(r.entries for r in self._rotated)

    @property
    def skipped(self) -> int:
        """Damaged lines met so far (at open and by reads), each counted once."""
        return len(self._damaged) + self._damaged_overflow

    def snapshot(self) -> list[_Snapshot]:
        """Open every file of the trail, newest first (call under the store's lock)."""
        assert self._fd is not None
        files = [_Snapshot(self.generation, os.dup(self._fd), self.size, self.entries)]
        for rotated in reversed(self._rotated):
            try:
                fd = os.open(self.directory / rotated_name(rotated.generation), os.O_RDONLY)
            except FileNotFoundError:
                continue
            files.append(_Snapshot(rotated.generation, fd, os.fstat(fd).st_size, rotated.entries))
        return files

    def page(
        self, files: list[_Snapshot], *, limit: int, offset: int
    ) -> Iterator[tuple[int, int, AuditRecord | None, bool]]:
        """(generation, line offset, record or None, whether damaged) for the entries
        offset..offset+limit, newest first. Parses only those lines; the skipped ones cost a
        newline count. A blank line is no record, but no damage either."""
        to_skip, to_read = offset, limit
        for file in files:
            if to_read <= 0:
                return
            if to_skip >= file.entries:
                to_skip -= file.entries
                continue
            end, passed = skip_back(file.fd, file.end, to_skip)
            to_skip -= passed
            for line_offset, line in lines_backward(file.fd, end, max_line=MAX_LINE_BYTES):
                if to_read <= 0:
                    return
                to_read -= 1
                if line is not None and not line.strip():
                    yield file.generation, line_offset, None, False
                    continue
                record = _record_or_none(line)
                yield file.generation, line_offset, record, record is None

    def note_damaged(self, generation: int, offset: int) -> None:
        """Count the line at `offset` of `generation` as damaged (once, however often read)."""
        if (generation, offset) in self._damaged:
            return
        if len(self._damaged) < _DAMAGED_REMEMBERED:
            self._damaged.add((generation, offset))
        else:
            self._damaged_overflow += 1

    def lines_from(self, generation: int, offset: int) -> Iterator[tuple[int, int, bytes | None]]:
        """(generation, offset, line) of every line from a point of the trail to its end."""
        kept = [r.generation for r in self._rotated if r.generation >= generation]
        for current in [*kept, self.generation]:
            path = (
                self.path if current == self.generation else self.directory / rotated_name(current)
            )
            start = offset if current == generation else 0
            fd = os.open(path, os.O_RDONLY)
            try:
                yield from ((current, o, line) for o, line in _lines_forward(fd, start))
            finally:
                os.close(fd)

    def oldest_generation(self) -> int:
        return self._rotated[0].generation if self._rotated else self.generation

    def file_size(self, generation: int) -> int | None:
        """The size of the file of `generation`, or None if it is not kept."""
        if generation == self.generation:
            return self.size
        try:
            return (self.directory / rotated_name(generation)).stat().st_size
        except FileNotFoundError:
            return None


def _lines_forward(fd: int, start: int) -> Iterator[tuple[int, bytes | None]]:
    """(offset, line) from `start` to the end of the file; a line over the bound is None."""
    position = start
    line_start = start
    pending = b""
    dropped = 0  # bytes of an over-long line not held in memory
    while True:
        chunk = os.pread(fd, 16 * BLOCK, position)
        if not chunk:
            break
        position += len(chunk)
        parts = (pending + chunk).split(b"\n")
        for part in parts[:-1]:
            yield line_start, None if dropped or len(part) > MAX_LINE_BYTES else part
            line_start += dropped + len(part) + 1
            dropped = 0
        pending = parts[-1]
        if len(pending) > MAX_LINE_BYTES:
            dropped += len(pending)
            pending = b""
    if pending or dropped:
        yield line_start, None if dropped else pending
