"""Start-up allocates long-lived objects by the hundred thousand (imports, the rules, one
owner per channel); Python's cyclic collector runs every 700 allocations and, as the heap
grows, walks all of it again and again. At 1,000 channels that was half of loading the
rules. Start-up pauses it; it resumes once the objects are built.

When the process is the program (not a test running it in-process), what start-up built is
also frozen as the collector resumes (`gc.freeze`): resuming would otherwise walk all of it
at once (a tenth of a 1,000-channel start), and every later full collection again. Those
objects live as long as the process; the few reference cycles among start-up's garbage
(about twenty after loading a 1,000-channel rules file) are kept with them.

The first read of Novu builds the next long-lived layer (each channel's view, history,
first evaluation, metric and status caches); `settled` freezes that too. Without it, at
1,000 channels every full collection walked those objects: 100-200 ms with the event loop
stopped, every ~8 s (gc.callbacks timings), which was the tail of `/healthz`, `/metrics`
and `/v1/status`.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_freeze = False


def freeze_after_start_up() -> None:
    """The program calls this: from now on, a paused collector freezes what was built."""
    global _freeze  # noqa: PLW0603 -- one process-wide switch, set once by the entry point
    _freeze = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (reference counting still frees what
    is dropped); the collector is on again after it, unless it was off before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def settled() -> None:
    """The service reached its steady state (the first read of Novu is done): when the
    process is the program, freeze what is alive now, as after start-up."""
    if _freeze:
        gc.freeze()
