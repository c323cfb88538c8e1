"""File primitives of the state store: atomic replace, durable append, counting and reading
lines from the end of a file in time bounded by the lines read, not by the file's size."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

BLOCK = 64 * 1024


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd` (os.write may write fewer)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new file whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def count_lines(fd: int, start: int, end: int) -> tuple[int, bool]:
    """(lines in bytes [start, end) of `fd`, whether that range ends with a newline or is empty).

    A last line without its newline (a crash mid-write) counts as a line.
    """
    newlines = 0
    last = b"\n"
    position = start
    while position < end:
        chunk = os.pread(fd, min(16 * BLOCK, end - position), position)
        if not chunk:
            break
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
        position += len(chunk)
    ends_clean = last == b"\n"
    return newlines + (0 if ends_clean else 1), ends_clean


def skip_back(fd: int, end: int, lines: int) -> tuple[int, int]:
    """Walk back from `end` over up to `lines` lines; (position where they start, lines passed).

    A line is the bytes after a newline up to and including the next one (the last one may
    lack it). Whole blocks are counted in C, so skipping many lines costs one read of them.
    """
    if lines <= 0 or end <= 0:
        return end, 0
    passed = 0
    position = end
    # The byte at end-1 is the newline closing the last line (or part of an unterminated one):
    # it does not start a new line, so it is not counted as a boundary.
    boundary_end = end - 1
    while position > 0:
        start = max(0, position - BLOCK)
        chunk = os.pread(fd, position - start, start)
        region = chunk[: boundary_end - start] if boundary_end < position else chunk
        found = region.count(b"\n")
        if passed + found < lines:
            passed += found
            position = start
            boundary_end = start
            continue
        # The wanted boundary is in this block: find it from the right.
        cut = len(region)
        for _ in range(lines - passed):
            cut = region.rfind(b"\n", 0, cut)
        return start + cut + 1, lines
    return 0, passed + 1  # the first line of the file has no newline before it


def lines_backward(fd: int, end: int, *, max_line: int) -> Iterator[tuple[int, bytes | None]]:
    """(start offset, line without its newline) from the last line before `end` to the first.

    A line longer than `max_line` bytes comes as None (it is damaged for every reader), and
    is never held in memory whole.
    """
    position = end
    tail = b""  # the known end of the leftmost line seen so far, which begins further left
    oversized = False  # that line is over max_line: its bytes were dropped
    while position > 0:
        start = max(0, position - BLOCK)
        chunk = os.pread(fd, position - start, start) + tail
        position = start
        parts = chunk.split(b"\n")
        if len(parts) > 1:
            found: list[tuple[int, bytes | None]] = []
            offset = start + len(parts[0]) + 1
            for index, part in enumerate(parts[1:], 1):
                cut = oversized and index == len(parts) - 1
                found.append((offset, None if cut or len(part) > max_line else part))
                offset += len(part) + 1
            for line_offset, line in reversed(found):
                if line_offset < end:  # nothing starts after the last newline
                    yield line_offset, line
            oversized = False
        tail = parts[0]
        if len(tail) > max_line:
            tail, oversized = b"", True
    if end > 0:
        yield 0, None if oversized else tail
