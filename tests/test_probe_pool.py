"""Probes have their own HTTP client (pool) and a bound on how many run at once: a probe
storm cannot take the Novu client's connections, nor flood the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from daemon.clock import FakeClock
from daemon.metrics import Metrics
from daemon.model import Observation
from daemon.rules.model import Rules
from daemon.service.assembly import assemble
from daemon.service.probing import ProbeSlots
from daemon.service.runtime import build_runtimes

RULES = {
    "environments": {"production": {"api_url": "http://novu.test", "api_key_env": "KEY"}},
    "channels": [
        {
            "environment": "production",
            "channel": "email",
            "candidates": [
                {
                    "integration": "sendgrid-main",
                    "signals": [
                        {"http": {"url": "http://probe.test/health"}},
                        {"statuspage": {"url": "http://probe.test", "components": ["Mail"]}},
                    ],
                }
            ],
        }
    ],
}


def _client(seen: list[str]) -> httpx.AsyncClient:
    """Records each URL; answers an empty integration list (a probe reads it as a failure)."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"data": []})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_probes_use_their_own_client_and_novu_calls_the_other() -> None:
    novu_seen: list[str] = []
    probe_seen: list[str] = []
    rules = Rules.model_validate(RULES)
    async with _client(novu_seen) as http, _client(probe_seen) as probe_http:
        assembly = assemble(
            rules,
            build_runtimes(rules),
            http=http,
            probe_http=probe_http,
            environ={"KEY": "novu-api-key-123456"},
            rules_dir=Path("."),
            metrics=Metrics(CollectorRegistry()),
            view_of=lambda _key: None,
        )
        for probe in assembly.probes.values():
            await probe(now=0.0)
        await assembly.clients["production"].list_integrations()
    assert sorted(probe_seen) == [
        "http://probe.test/api/v2/summary.json",
        "http://probe.test/health",
    ]
    assert all(url.startswith("http://novu.test/") for url in novu_seen)
    assert novu_seen


async def test_probe_slots_bound_the_probes_in_flight() -> None:
    slots = ProbeSlots(2)
    in_flight, most = 0, 0
    release, two_in = asyncio.Event(), asyncio.Event()

    async def probe() -> None:
        nonlocal in_flight, most
        async with slots.slot():
            in_flight += 1
            most = max(most, in_flight)
            if in_flight == 2:
                two_in.set()
            await release.wait()
            in_flight -= 1

    tasks = [asyncio.create_task(probe()) for _ in range(5)]
    await asyncio.wait_for(two_in.wait(), timeout=5)
    for _ in range(10):
        await asyncio.sleep(0)  # give the waiting three every chance to start
    assert (in_flight, most) == (2, 2)
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


async def test_a_probe_that_raises_is_a_failed_check_not_a_crash() -> None:
    class Broken:
        async def __call__(self, *, now: float) -> Observation:
            msg = "bug"
            raise RuntimeError(msg)

    clock = FakeClock(1_700_000_000.0)
    seen = await ProbeSlots(1).run(Broken(), ("sendgrid-main", "http"), clock=clock)  # type: ignore[arg-type]
    assert (seen.signal, seen.ok, seen.at) == ("http", None, 1_700_000_000.0)
    assert seen.detail == "probe crashed: RuntimeError"
