"""The collector is paused while start-up builds, and what start-up and the first read of
Novu built is frozen only when the process is the program (never in a test's process)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from daemon import heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()
    heap._freeze = False  # the process-wide switch the entry point sets, set back


def test_a_test_process_freezes_nothing(unfrozen: None) -> None:
    with heap.collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    heap.settled()
    assert gc.get_freeze_count() == 0


def test_the_program_freezes_after_start_up_and_once_settled(unfrozen: None) -> None:
    heap.freeze_after_start_up()
    with heap.collector_paused():
        built = [object() for _ in range(10)]  # noqa: F841 -- alive while frozen
    after_start = gc.get_freeze_count()
    assert after_start > 0
    first_read = [[n] for n in range(1_000)]  # noqa: F841 -- what the first read built
    heap.settled()
    assert gc.get_freeze_count() >= after_start + 1_000
    assert gc.isenabled()
