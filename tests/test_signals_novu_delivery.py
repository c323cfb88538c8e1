"""The `novu_delivery` probe and the shared per-channel messages cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.model import Message
from daemon.rules.model import NovuDeliverySignal
from daemon.signals import NovuDeliveryProbe, SharedMessages
from daemon.signals.novu_delivery import count_delivery

NOW = 1_700_000_000.0


class Source:
    """An in-memory `MessagesSource` that records its calls; can fail or stall on demand."""

    def __init__(self, messages: list[Message] | None = None) -> None:
        self.messages = messages or []
        self.calls: list[tuple[str, float]] = []
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def recent_messages(
        self, channel: str, *, since: float, page_size: int = 100, max_pages: int = 5
    ) -> list[Message]:
        self.calls.append((channel, since))
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [m for m in self.messages if m.created_at >= since]


def batch(
    provider: str, *, sent: int = 0, error: int = 0, warning: int = 0, age: float = 10
) -> list[Message]:
    at = NOW - age
    return (
        [Message(provider, "sent", at) for _ in range(sent)]
        + [Message(provider, "error", at, error_id="err") for _ in range(error)]
        + [Message(provider, "warning", at) for _ in range(warning)]
    )


def probe(
    source: Any, provider: str | None = "sendgrid", channel: str = "email", **fields: Any
) -> NovuDeliveryProbe:
    spec = NovuDeliverySignal.model_validate({"timeout": "200ms", **fields})
    return NovuDeliveryProbe(
        "novu_delivery", spec, channel=channel, messages=source, provider_id=lambda: provider
    )


@pytest.mark.parametrize(
    ("sent", "error", "warning", "ok", "detail"),
    [
        pytest.param(13, 7, 0, False,
                     "sendgrid: failure rate 35% (7/20, mostly unknown) over 5m, max 20%",
                     id="over-max-down"),
        pytest.param(16, 4, 0, True, "sendgrid: failure rate 20% (4/20) over 5m, max 20%",
                     id="at-max-up"),
        pytest.param(20, 0, 0, True, "sendgrid: failure rate 0% (0/20) over 5m, max 20%",
                     id="clean-up"),
        pytest.param(10, 2, 8, True, "sendgrid: failure rate 10% (2/20) over 5m, max 20%",
                     id="warnings-are-not-failures"),
        pytest.param(10, 2, 0, None, "sendgrid: 12 messages in 5m, need 20",
                     id="too-few-unknown"),
        pytest.param(0, 0, 0, None, "sendgrid: 0 messages in 5m, need 20", id="no-traffic"),
    ],
)  # fmt: skip
async def test_failure_rate_verdict(
    sent: int, error: int, warning: int, ok: bool | None, detail: str
) -> None:
    source = Source(batch("sendgrid", sent=sent, error=error, warning=warning))
    obs = await probe(source)(now=NOW)
    assert (obs.ok, obs.detail) == (ok, detail)
    assert obs.at == NOW
    assert obs.signal == "novu_delivery"


async def test_counts_only_this_provider_and_this_window() -> None:
    messages = (
        batch("sendgrid", sent=18, error=2)
        + batch("ses", error=50)  # another provider on the channel
        + batch("sendgrid", error=50, age=301)  # before the window
    )
    obs = await probe(Source(messages))(now=NOW)
    assert obs.ok is True
    assert obs.detail == "sendgrid: failure rate 10% (2/20) over 5m, max 20%"


async def test_asks_for_the_channel_over_the_window() -> None:
    source = Source()
    await probe(source, channel="sms", window="15m")(now=NOW)
    assert source.calls == [("sms", NOW - 900)]


async def test_configured_provider_id_overrides_the_integration_s() -> None:
    source = Source(batch("ses", sent=30))
    obs = await probe(source, provider="sendgrid", provider_id="ses")(now=NOW)
    assert obs.ok is True
    assert obs.detail.startswith("ses: ")


async def test_settings_min_messages_and_max_failure_rate() -> None:
    source = Source(batch("sendgrid", sent=3, error=2))
    obs = await probe(source, min_messages=5, max_failure_rate=0.5)(now=NOW)
    assert obs.ok is True
    assert obs.detail == "sendgrid: failure rate 40% (2/5) over 5m, max 50%"


async def test_unknown_provider_is_inconclusive_without_asking_novu() -> None:
    source = Source(batch("sendgrid", sent=30))
    obs = await probe(source, provider=None)(now=NOW)
    assert obs.ok is None
    assert "provider unknown" in obs.detail
    assert source.calls == []


async def test_novu_error_is_inconclusive_with_its_message() -> None:
    source = Source()
    source.error = RuntimeError("GET /v1/messages -> 503 after 3 attempts")
    obs = await probe(source)(now=NOW)
    assert obs.ok is None
    assert obs.detail == "Novu messages unavailable: GET /v1/messages -> 503 after 3 attempts"


async def test_stalled_novu_is_inconclusive_after_the_timeout() -> None:
    source = Source()
    source.gate = asyncio.Event()  # never set
    obs = await probe(source)(now=NOW)
    assert obs.ok is None
    assert obs.detail == "Novu messages did not answer within 0.2s"


@given(
    statuses=st.lists(st.sampled_from(["sent", "error", "warning"]), max_size=60),
    others=st.lists(st.sampled_from(["sent", "error"]), max_size=20),
)
def test_count_is_the_errors_among_the_provider_s_messages(
    statuses: list[str], others: list[str]
) -> None:
    messages = [Message("sendgrid", s, NOW) for s in statuses]
    messages += [Message("ses", s, NOW) for s in others]
    count = count_delivery(messages, provider_id="sendgrid", since=NOW - 1)
    assert count.total == len(statuses)
    assert count.failed == statuses.count("error")
    assert 0.0 <= count.rate <= 1.0


# --- SharedMessages ----------------------------------------------------------------------


class Timer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_signals_on_one_channel_share_one_fetch() -> None:
    source = Source(batch("sendgrid", sent=20) + batch("ses", sent=20))
    source.gate = asyncio.Event()
    shared = SharedMessages(source, ttl=5)
    probes = [probe(shared, provider="sendgrid"), probe(shared, provider="ses")]
    pending = asyncio.gather(*(p(now=NOW) for p in probes))
    await asyncio.sleep(0)
    source.gate.set()
    results = await pending
    assert [o.ok for o in results] == [True, True]
    assert len(source.calls) == 1


async def test_cached_fetch_is_reused_within_ttl_and_refreshed_after() -> None:
    source = Source(batch("sendgrid", sent=20))
    timer = Timer()
    shared = SharedMessages(source, ttl=5, timer=timer)
    await shared.recent_messages("email", since=NOW - 300)
    timer.now = 4.9
    await shared.recent_messages("email", since=NOW - 300)
    assert len(source.calls) == 1
    timer.now = 5.1
    await shared.recent_messages("email", since=NOW - 300)
    assert len(source.calls) == 2


async def test_each_channel_has_its_own_fetch() -> None:
    source = Source()
    shared = SharedMessages(source, ttl=5, timer=Timer())
    await shared.recent_messages("email", since=NOW - 300)
    await shared.recent_messages("sms", since=NOW - 300)
    assert [channel for channel, _ in source.calls] == ["email", "sms"]


async def test_a_longer_window_fetches_again_and_a_shorter_one_is_filtered() -> None:
    old = Message("sendgrid", "error", NOW - 600)
    recent = Message("sendgrid", "sent", NOW - 60)
    source = Source([old, recent])
    shared = SharedMessages(source, ttl=5, timer=Timer())
    assert await shared.recent_messages("email", since=NOW - 300) == [recent]
    assert await shared.recent_messages("email", since=NOW - 900) == [old, recent]
    assert len(source.calls) == 2
    assert await shared.recent_messages("email", since=NOW - 120) == [recent]
    assert len(source.calls) == 2


async def test_a_failed_fetch_is_not_kept() -> None:
    source = Source()
    source.error = RuntimeError("Novu unavailable")
    shared = SharedMessages(source, ttl=5, timer=Timer())
    with pytest.raises(RuntimeError, match="Novu unavailable"):
        await shared.recent_messages("email", since=NOW - 300)
    source.error = None
    assert await shared.recent_messages("email", since=NOW - 300) == []
    assert len(source.calls) == 2


async def test_one_caller_giving_up_does_not_cancel_the_fetch_for_others() -> None:
    source = Source(batch("sendgrid", sent=1))
    source.gate = asyncio.Event()
    shared = SharedMessages(source, ttl=5, timer=Timer())
    impatient = asyncio.create_task(shared.recent_messages("email", since=NOW - 300))
    patient = asyncio.create_task(shared.recent_messages("email", since=NOW - 300))
    await asyncio.sleep(0)
    impatient.cancel()
    source.gate.set()
    assert len(await patient) == 1
    assert impatient.cancelled()
    assert len(source.calls) == 1


async def test_probe_timeout_over_a_shared_fetch_leaves_it_for_the_next_caller() -> None:
    source = Source(batch("sendgrid", sent=20))
    source.gate = asyncio.Event()
    shared = SharedMessages(source, ttl=5, timer=Timer())
    first = await probe(shared)(now=NOW)
    assert first.ok is None  # timed out waiting
    source.gate.set()
    second = await probe(shared)(now=NOW)
    assert second.ok is True
    assert len(source.calls) == 1
