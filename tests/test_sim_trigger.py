"""The simulator's triggers: the integration override, per-integration outcomes with the
provider's own error text, messages by transactionId appearing after the job ran."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openapi_contract import unwrap_envelope, validate_exchange

from daemon.clock import FakeClock
from daemon.sim import NovuSimulator, create_novu_app


class World:
    def __init__(self, sim: NovuSimulator, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.sim, self.client, self.clock = sim, client, clock

    async def trigger(self, integration: str, txn: str, *, channel: str = "email") -> Any:
        to: dict[str, str] = {"subscriberId": "sink"}
        to["email" if channel == "email" else "phone"] = (
            "sink@example.test" if channel == "email" else "+15550199"
        )
        response = await self.client.post(
            "/v1/events/trigger",
            json={
                "name": "canary",
                "to": to,
                "transactionId": txn,
                "overrides": {channel: {"integrationIdentifier": integration}},
            },
            headers={"idempotency-key": f"key-{txn}"},
        )
        validate_exchange(response)
        return unwrap_envelope(response.json())

    async def messages(self, txn: str, channel: str = "email") -> list[dict[str, Any]]:
        response = await self.client.get(
            "/v1/messages", params={"channel": channel, "transactionId": txn}
        )
        validate_exchange(response)
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    sim = NovuSimulator(clock=clock, rate_limit=None)
    transport = httpx.ASGITransport(app=create_novu_app(sim))
    headers = {"Authorization": f"ApiKey {sim.api_key()}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://novu.sim", headers=headers
    ) as client:
        yield World(sim, client, clock)


async def test_override_sends_through_the_named_integration_not_the_primary(
    world: World,
) -> None:
    answer = await world.trigger("ses-backup", "t1")
    assert answer == {"acknowledged": True, "status": "processed", "transactionId": "t1"}
    assert await world.messages("t1") == []  # Novu's job has not run yet
    world.clock.advance(1)
    (message,) = await world.messages("t1")
    assert (message["providerId"], message["status"], message["transactionId"]) == (
        "ses",
        "sent",
        "t1",
    )
    assert world.sim.primary("production", "email").identifier == "sendgrid-main"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("integration", "channel", "outcome", "fragment"),
    [
        ("sendgrid-main", "email", "credentials", "authorization grant is invalid"),
        ("ses-backup", "email", "quota", "Maximum sending rate exceeded"),
        ("mailgun-backup", "email", "outage", "502 Bad Gateway"),
        ("twilio-main", "sms", "recipient", "21211"),
    ],
)
async def test_per_integration_error_outcomes_carry_the_providers_text(
    world: World, integration: str, channel: str, outcome: str, fragment: str
) -> None:
    world.sim.triggers.configure({"outcomes": {integration: outcome}})
    await world.trigger(integration, "t2", channel=channel)
    world.clock.advance(1)
    (message,) = await world.messages("t2", channel)
    assert message["status"] == "error"
    assert fragment in message["errorText"]


async def test_never_and_unknown_integrations_record_no_message(world: World) -> None:
    world.sim.triggers.configure({"outcomes": {"ses-backup": "never"}})
    await world.trigger("ses-backup", "t3")
    await world.trigger("no-such-integration", "t4")
    await world.trigger("twilio-main", "t5")  # an sms integration on an email step
    world.clock.advance(60)
    for txn in ("t3", "t4", "t5"):
        assert await world.messages(txn) == []


async def test_a_replayed_trigger_sends_once(world: World) -> None:
    await world.trigger("ses-backup", "t6")
    await world.trigger("ses-backup", "t6")
    world.clock.advance(1)
    assert len(await world.messages("t6")) == 1


async def test_control_api_sets_outcomes_and_rejects_bad_ones(world: World) -> None:
    ok = await world.client.post(
        "/_sim/triggers", json={"outcomes": {"ses-backup": "credentials"}, "message_delay": 2}
    )
    assert ok.status_code == 200
    assert ok.json()["triggers"]["outcomes"] == {"ses-backup": "credentials"}
    bad = await world.client.post("/_sim/triggers", json={"outcomes": {"ses-backup": "boom"}})
    assert bad.status_code == 400
    assert "outcome must be one of" in bad.json()["error"]
    assert world.sim.triggers.outcomes == {"ses-backup": "credentials"}  # unchanged


async def test_provider_failing_with_a_class_uses_its_text(world: World) -> None:
    response = await world.client.post(
        "/_sim/providers/sendgrid/failing", json={"rate": 1.0, "class": "recipient"}
    )
    assert response.status_code == 200
    message = world.sim.send("email")
    assert message is not None
    assert "valid address" in message["errorText"]
