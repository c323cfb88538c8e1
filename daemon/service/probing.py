"""How probes share the process: their own HTTP client and pool, and a bound on how many
run at once, so a probe storm never starves Novu calls, the API or `/healthz`.

Probes used to share one `httpx.AsyncClient` (default pool of 100) with the Novu calls: at
100 channels the pool was the bottleneck and Novu reads timed out behind probes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager

import httpx

from daemon import __version__
from daemon.clock import Clock
from daemon.model import ChannelKey, Observation
from daemon.rules.model import SignalSpec
from daemon.service.jobs import Jobs, Work
from daemon.signals import Probe, probe_jitter

log = logging.getLogger("novu_failover.daemon")

MAX_CONCURRENT_PROBES = 32
"""Probes in flight at once; the others wait their turn (their timeout starts when they run,
and a probe still waiting when its next run is due is coalesced into one)."""


def probe_client(*, max_concurrent: int = MAX_CONCURRENT_PROBES) -> httpx.AsyncClient:
    """The probes' own client: a pool as large as the probes allowed in flight."""
    return httpx.AsyncClient(
        headers={"User-Agent": f"novu-failover/{__version__} (probe)"},
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=max_concurrent, max_keepalive_connections=max_concurrent
        ),
    )


class ProbeSlots:
    """At most `size` probes run at once."""

    def __init__(self, size: int = MAX_CONCURRENT_PROBES) -> None:
        self._slots = asyncio.Semaphore(size)

    def slot(self) -> AbstractAsyncContextManager[object]:
        return self._slots

    async def run(self, probe: Probe, ref: tuple[str, str], *, clock: Clock) -> Observation:
        """Run `probe` in a slot; a probe that raises (it should not) is a failed check."""
        try:
            async with self._slots:
                return await probe(now=clock.now())
        except Exception as exc:
            log.exception("probe %s crashed", ref)
            return Observation(ref[1], None, clock.now(), f"probe crashed: {type(exc).__name__}")


FIRST_PROBE_SPREAD, FIRST_RUNS_PER_SECOND = 2.0, 50.0
"""Probes' first runs are spread over min(interval, max(2 s, probes / 50 per second))."""


def schedule_probes(
    jobs: Jobs, specs: Mapping[tuple[ChannelKey, tuple[str, str]], SignalSpec], work: Work
) -> None:
    """One job per probe, `work(channel, (integration, signal id))` every interval; the
    first runs spread (3,000 probes all at once would swamp the pool and the loop)."""
    spread = max(FIRST_PROBE_SPREAD, len(specs) / FIRST_RUNS_PER_SECOND)
    for (key, ref), spec in specs.items():
        jobs.every(
            f"probe:{key}:{ref[0]}:{ref[1]}",
            spec.interval,
            work,
            key,
            ref,
            jitter=probe_jitter(spec),
            first_within=min(spec.interval, spread),
        )
