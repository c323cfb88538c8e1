"""The canary signal through the Novu simulator: each outcome (sent, an error of each class,
no message by the deadline, budget spent, trigger refused), in fake time, and what health
makes of it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from daemon.clock import FakeClock
from daemon.health import new_signal_state, observe
from daemon.health.classes import pattern
from daemon.model import Health
from daemon.novu.client import NovuClient, RetryPolicy
from daemon.rules.model import SignalEntry
from daemon.signals.canary import CanaryProbe
from daemon.sim import NovuSimulator, create_novu_app

SPEC: dict[str, Any] = {
    "workflow": "canary",
    "subscriber_id": "canary-sink",
    "email": "canary@sink.example.test",
    "deadline": "60s",
    "poll": "2s",
}


class World:
    def __init__(self, sim: NovuSimulator, client: NovuClient, clock: FakeClock) -> None:
        self.sim, self.client, self.clock = sim, client, clock
        self.sleeps: list[float] = []
        self._ids = itertools.count(1)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    def probe(self, integration: str = "ses-backup", **spec: Any) -> CanaryProbe:
        entry = SignalEntry.model_validate({"canary": {**SPEC, **spec}})
        assert entry.canary is not None
        return CanaryProbe(
            "canary",
            entry.canary,
            channel="sms" if "phone" in spec else "email",
            integration=integration,
            novu=self.client,
            clock=self.clock,
            sleep=self.sleep,
            new_id=lambda: f"canary-{next(self._ids)}",
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    sim = NovuSimulator(clock=clock, rate_limit=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_novu_app(sim))) as http:

        async def no_wait(seconds: float) -> None:
            del seconds

        client = NovuClient(
            http,
            environment="production",
            base_url="http://novu.sim",
            api_key=SecretStr(sim.api_key()),
            retry=RetryPolicy(attempts=2, base_delay=0.01, total=5),
            sleep=no_wait,
        )
        yield World(sim, client, clock)


async def test_sent_is_success_with_the_time_it_took(world: World) -> None:
    world.sim.triggers.configure({"message_delay": 3})
    obs = await world.probe()(now=world.clock.now())
    assert obs.ok is True
    assert obs.latency == 4.0  # polled at 0s and 2s (not there yet), found at 4s
    assert obs.detail == "canary via ses-backup: sent in 4s"
    (message,) = world.sim.list_messages(
        world.sim.environment("production"), channel="email", page=0, limit=10
    )["data"]
    assert (message["providerId"], message["_subscriberId"]) == ("ses", "canary-sink")
    assert world.sim.primary("production", "email").identifier == "sendgrid-main"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("outcome", "text"),
    [
        ("credentials", "authorization grant is invalid, expired, or revoked"),
        ("quota", "too many requests"),
        ("outage", "Service Unavailable"),
        ("recipient", "Does not contain a valid address"),
    ],
)
async def test_an_error_is_a_failure_with_its_class(world: World, outcome: str, text: str) -> None:
    world.sim.triggers.configure({"outcomes": {"sendgrid-main": outcome}})
    obs = await world.probe("sendgrid-main")(now=world.clock.now())
    assert (obs.ok, obs.failure_class) == (False, outcome)
    assert text in obs.detail
    assert obs.detail.startswith(f"canary via sendgrid-main: error after 2s ({outcome}): ")


async def test_sms_canary_goes_to_the_phone_through_the_named_integration(world: World) -> None:
    world.sim.triggers.configure({"outcomes": {"vonage-backup": "recipient"}})
    obs = await world.probe("vonage-backup", phone="+15550199", email=None)(now=0.0)
    assert (obs.ok, obs.failure_class) == (False, "recipient")
    assert "status 29" in obs.detail


async def test_no_message_by_the_deadline_is_a_failure(world: World) -> None:
    world.sim.triggers.configure({"outcomes": {"ses-backup": "never"}})
    started = world.clock.now()
    obs = await world.probe()(now=started)
    assert (obs.ok, obs.failure_class) == (False, "unknown")
    assert obs.detail == "canary via ses-backup: no message within 1m (transactionId canary-1)"
    assert world.clock.now() - started == 60  # waited exactly to the deadline, no longer
    assert max(world.sleeps) <= 2


async def test_the_daily_budget_caps_real_sends(world: World) -> None:
    probe = world.probe(daily_budget=2)
    now = world.clock.now()
    assert (await probe(now=now)).ok is True
    assert (await probe(now=now + 900)).ok is True
    spent = await probe(now=now + 1800)
    assert spent.ok is None
    assert "daily budget of 2 canaries used up; next in 23h30m" in spent.detail
    assert world.sim.triggers.triggers == 2  # no third real message
    assert (await probe(now=now + 86400 + 1)).ok is True  # a day later the budget is back


async def test_a_trigger_novu_refuses_is_a_failure_that_says_so(world: World) -> None:
    world.sim.triggers.configure({"workflows": {"something-else": ["email"]}})
    obs = await world.probe()(now=0.0)
    assert obs.ok is False
    assert "Novu refused the trigger of workflow canary" in obs.detail
    assert "HTTP 422" in obs.detail
    assert "workflow_not_found" in obs.detail


async def test_each_canary_uses_a_fresh_transaction_and_idempotency_key(world: World) -> None:
    probe = world.probe()
    await probe(now=0.0)
    await probe(now=900.0)
    page = world.sim.list_messages(
        world.sim.environment("production"), channel="email", page=0, limit=10
    )
    ids = {m["transactionId"] for m in page["data"]}
    assert ids == {"canary-1", "canary-2"}


async def test_user_patterns_decide_the_class(world: World) -> None:
    world.sim.triggers.configure({"outcomes": {"ses-backup": "quota"}})
    entry = SignalEntry.model_validate({"canary": SPEC})
    assert entry.canary is not None
    probe = CanaryProbe(
        "canary",
        entry.canary,
        channel="email",
        integration="ses-backup",
        novu=world.client,
        clock=world.clock,
        sleep=world.sleep,
        patterns=[pattern("outage", r"Maximum sending rate", ["ses"])],
    )
    assert (await probe(now=0.0)).failure_class == "outage"


async def test_health_counts_a_credentials_failure_but_not_a_recipient_one(
    world: World,
) -> None:
    entry = SignalEntry.model_validate({"canary": SPEC})
    state = new_signal_state("canary", entry)
    assert (state.fall, state.rise, entry.spec.interval) == (1, 1, 900)
    world.sim.triggers.configure({"outcomes": {"ses-backup": "recipient"}})
    probe = world.probe()
    state = observe(state, await probe(now=world.clock.now()))
    assert state.state is Health.UNKNOWN
    assert "recipient failure, not counted toward down" in state.reason
    world.sim.triggers.configure({"outcomes": {"ses-backup": "credentials"}})
    world.clock.advance(900)
    state = observe(state, await probe(now=world.clock.now()))
    assert state.state is Health.DOWN
    assert state.last_failure is not None
    assert state.last_failure.failure_class == "credentials"
