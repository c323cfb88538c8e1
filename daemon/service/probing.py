"""How probes share the process: their own HTTP client and pool, and a bound on how many
run at once, so a probe storm never starves Novu calls, the API or `/healthz`.

Probes used to share one `httpx.AsyncClient` (default pool of 100) with the Novu calls: at
100 channels the pool was the bottleneck and Novu reads timed out behind probes.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import httpx

from daemon import __version__

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
