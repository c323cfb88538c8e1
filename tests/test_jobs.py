"""The service's background work: spawned tasks are never lost silently, and stop() waits
for running work within its grace, then cancels what is left and waits for it to unwind."""

from __future__ import annotations

import asyncio
import logging

import pytest

from daemon.service.jobs import Jobs


async def test_a_failing_background_task_is_logged_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = Jobs()

    async def broken() -> None:
        raise RuntimeError("boom")

    task = jobs.spawn(broken())
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert any(
        r.levelno == logging.ERROR and "background task" in r.getMessage() for r in caplog.records
    )


async def test_stop_lets_work_finish_within_grace() -> None:
    jobs = Jobs()
    jobs.start()
    finished = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0.01)
        finished.set()

    jobs.spawn(quick())
    await jobs.stop(grace=5.0)
    assert finished.is_set()
    assert not jobs.running


async def test_stop_cancels_what_outlives_the_grace_and_waits_for_it_to_unwind() -> None:
    jobs = Jobs()
    jobs.start()
    unwound = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            unwound.set()

    owner_task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    await jobs.stop(grace=0.01, also=[owner_task])
    assert owner_task.cancelled()
    assert unwound.is_set()
