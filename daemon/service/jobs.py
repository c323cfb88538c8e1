"""The scheduler and the process's background work: probe jobs, reconcile, the tick, the
heartbeat, the rules watch, and the tasks the service spawns.

`stop` lets running work finish within a grace period instead of cutting requests off
mid-flight, then cancels what is left and waits for it to unwind (an action cancelled
mid-write stays open for the next start to settle).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from daemon.logs import log_event

log = logging.getLogger("novu_failover.daemon")

Work = Callable[..., Awaitable[None]]
ROUTINE_PREFIXES = ("probe:", "reconcile", "tick")
"""Jobs that follow the rules and are scheduled again by a reload."""


class Jobs:
    """One APScheduler on the running loop, plus every task the service spawns."""

    def __init__(self) -> None:
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[object]] = set()
        self._spawned: set[asyncio.Task[object]] = set()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        self._scheduler.start()

    def every(
        self,
        job_id: str,
        seconds: float,
        work: Work,
        *args: object,
        jitter: float = 0.0,
        first_within: float | None = None,
    ) -> None:
        """Run `work(*args)` every `seconds`; the first run at a random point within
        `first_within` seconds (spreads many jobs' first runs), else after one interval."""
        assert self._scheduler is not None
        next_run = None
        if first_within is not None:
            next_run = datetime.now(UTC) + timedelta(seconds=random.uniform(0, first_within))  # noqa: S311 - spreading, not security
        self._scheduler.add_job(
            self._tracked(work),
            IntervalTrigger(seconds=seconds, jitter=jitter or None),
            args=args,
            id=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
            **({"next_run_time": next_run} if next_run is not None else {}),
        )

    def remove_routine(self) -> None:
        """Drop the jobs that follow the rules, before a reload schedules them anew."""
        if self._scheduler is None:
            return
        for job in self._scheduler.get_jobs():
            if job.id.startswith(ROUTINE_PREFIXES):
                job.remove()

    def spawn(self, work: Coroutine[object, object, object]) -> asyncio.Task[object]:
        """Run `work` in the background; `stop` waits for it (or cancels it after grace)."""
        task = asyncio.get_running_loop().create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[object]) -> None:
        """A spawned task ended: forget it, and never let its exception pass unseen."""
        self._spawned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def _tracked(self, work: Work) -> Work:
        async def job(*args: object) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await work(*args)
            finally:
                if task is not None:
                    self._running.discard(task)

        return job

    async def stop(self, *, grace: float, also: Iterable[asyncio.Task[None] | None] = ()) -> None:
        """Stop scheduling; let running jobs, spawned tasks and `also` (the owners'
        evaluations) finish within `grace` seconds; then cancel the rest and wait."""
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            # pause, not shutdown: APScheduler's asyncio executor cancels running jobs on
            # shutdown; it is shut down below, once they are done
            scheduler.pause()
        await asyncio.sleep(0)  # jobs submitted just before the pause start now
        extra = [t for t in also if t is not None]

        def busy() -> list[asyncio.Task[object]]:
            tasks: list[asyncio.Task[object]] = [*self._running, *self._spawned, *extra]
            return [t for t in tasks if not t.done()]

        pending = busy()
        if pending:
            log_event(log, logging.INFO, "shutdown", "finishing in-flight work", tasks=len(pending))
            try:
                async with asyncio.timeout(grace):
                    while pending:
                        await asyncio.wait(pending)
                        pending = busy()
            except TimeoutError:
                log_event(
                    log, logging.WARNING, "shutdown", f"abandoning in-flight work after {grace:g}s"
                )
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
        leftover = busy()
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
