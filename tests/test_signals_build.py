"""`build_probe`: one probe per active signal kind, none for passive alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from daemon.model import Message
from daemon.rules.model import Candidate
from daemon.signals import (
    HttpProbe,
    NovuDeliveryProbe,
    PrometheusProbe,
    StatuspageProbe,
    build_probe,
)

NOW = 1_700_000_000.0
CANDIDATE = Candidate.model_validate(
    {
        "integration": "sendgrid-main",
        "signals": [
            {"statuspage": {"url": "https://status.sendgrid.com", "components": ["Mail Sending"]}},
            {"http": {"url": "https://api.sendgrid.com/v3/scopes"}},
            {"http": {"name": "smtp-relay", "url": "https://relay.example/health"}},
            {"novu_delivery": {"window": "5m"}},
            {"prometheus": {"url": "http://prom:9090", "query": "up", "threshold": 1}},
            {"alert": {"matchers": ['novu_integration="sendgrid-main"']}},
        ],
    }
)


class Messages:
    def __init__(self) -> None:
        self.channels: list[str] = []

    async def recent_messages(
        self, channel: str, *, since: float, page_size: int = 100, max_pages: int = 5
    ) -> list[Message]:
        self.channels.append(channel)
        return [Message("sendgrid", "sent", NOW - 1) for _ in range(25)]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no network in tests", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as client:
        yield client


async def test_each_kind_gets_its_probe_under_its_signal_id(http: httpx.AsyncClient) -> None:
    messages = Messages()
    probes = [
        build_probe(
            signal_id,
            entry,
            channel="email",
            http=http,
            environ={},
            messages=messages,
            provider_id=lambda: "sendgrid",
        )
        for signal_id, entry in zip(CANDIDATE.signal_ids(), CANDIDATE.signals, strict=True)
    ]
    kinds = [type(p) for p in probes]
    assert kinds == [
        StatuspageProbe,
        HttpProbe,
        HttpProbe,
        NovuDeliveryProbe,
        PrometheusProbe,
        type(None),
    ]
    assert [p.signal for p in probes if p is not None] == [
        "statuspage",
        "http",  # the only unnamed http signal
        "smtp-relay",
        "novu_delivery",
        "prometheus",
    ]
    delivery = probes[3]
    assert delivery is not None
    obs = await delivery(now=NOW)
    assert (obs.ok, messages.channels) == (True, ["email"])


async def test_delivery_without_a_messages_source_is_inconclusive(
    http: httpx.AsyncClient,
) -> None:
    probe = build_probe(
        "novu_delivery",
        CANDIDATE.signals[3],
        channel="email",
        http=http,
        environ={},
        messages=None,
        provider_id=lambda: "sendgrid",
    )
    assert probe is not None
    obs = await probe(now=NOW)
    assert obs.ok is None
    assert obs.signal == "novu_delivery"
    assert "no Novu messages source" in obs.detail


async def test_built_probe_reports_failure_as_an_observation(http: httpx.AsyncClient) -> None:
    probe = build_probe(
        "http",
        CANDIDATE.signals[1],
        channel="email",
        http=http,
        environ={},
        messages=None,
        provider_id=lambda: None,
    )
    assert probe is not None
    obs = await probe(now=NOW)
    assert (obs.ok, obs.detail) == (False, "GET api.sendgrid.com/v3/scopes: connection failed")
