"""Time as an injected dependency: the pure core takes `now`, the shell takes a Clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock seconds since the epoch (float). Only the shell reads it."""

    def now(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock for tests: stands still until told to move."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            msg = f"a clock does not go back (asked to advance {seconds}s)"
            raise ValueError(msg)
        self._now += seconds
        return self._now
