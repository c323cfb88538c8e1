"""Start-up allocates long-lived objects by the hundred thousand (imports, the rules, one
owner per channel); Python's cyclic collector runs every 700 allocations and, as the heap
grows, walks all of it again and again. At 1,000 channels that was half of loading the
rules. Start-up pauses it; it resumes (and catches up) once the objects are built."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (reference counting still frees what
    is dropped); the collector is on again after it, unless it was off before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
