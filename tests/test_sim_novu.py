"""The Novu simulator behaves as shared/novu/README.md says Novu does (over ASGI, fake clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.clock import FakeClock
from daemon.sim import SECRET_MARKER, Fault, NovuSimulator, SeedError, create_novu_app
from daemon.sim.dto import MONGO_ID
from daemon.sim.state import SimError

SENDGRID = "6650a1b2c3d4e5f600000101"
SES = "6650a1b2c3d4e5f600000102"
MAILGUN = "6650a1b2c3d4e5f600000103"
TWILIO = "6650a1b2c3d4e5f600000201"
VONAGE = "6650a1b2c3d4e5f600000202"
IN_APP = "6650a1b2c3d4e5f600000301"
DEV_SENDGRID = "6650a1b2c3d4e5f600000d01"
UNKNOWN = "6650a1b2c3d4e5f6ffffffff"


class Sleeps:
    """An injected sleep that records instead of waiting (optionally gated by an Event)."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def sim(clock: FakeClock, sleeps: Sleeps) -> NovuSimulator:
    return NovuSimulator(clock=clock, sleep=sleeps, rate_limit=None)


def auth(sim: NovuSimulator, environment: str = "production") -> dict[str, str]:
    return {"Authorization": f"ApiKey {sim.api_key(environment)}"}


@pytest.fixture
async def client(sim: NovuSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_novu_app(sim))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://novu.sim", headers=auth(sim)
    ) as c:
        yield c


def data(response: httpx.Response) -> Any:
    body = response.json()
    assert set(body) == {"data"}, body
    return body["data"]


def by_identifier(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["identifier"]: i for i in items}


async def email_state(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    items = data(await client.get("/v1/integrations"))
    return by_identifier([i for i in items if i["channel"] == "email"])


# --- authentication and envelope ---


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Bearer sim-production-0f6c1d2e3b4a5968"}, id="bearer"),
        pytest.param({"Authorization": "ApiKey not-a-key"}, id="unknown-key"),
        pytest.param({"Authorization": "ApiKey "}, id="empty-key"),
    ],
)
async def test_requests_without_a_known_api_key_get_401_error_dto(
    sim: NovuSimulator, headers: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=create_novu_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://novu.sim") as c:
        response = await c.get("/v1/integrations", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["statusCode"] == 401
    assert body["path"] == "/v1/integrations"
    assert body["error"] == "Unauthorized"
    assert body["timestamp"].endswith("Z")


async def test_a_key_sees_only_its_own_environment(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    production = data(await client.get("/v1/integrations"))
    development = data(await client.get("/v1/integrations", headers=auth(sim, "development")))
    assert {i["_environmentId"] for i in production} == {sim.environment("production").id}
    assert [i["identifier"] for i in development] == ["sendgrid-dev"]


async def test_old_server_lists_every_environment_of_the_organization(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.old_server = True
    items = data(await client.get("/v1/integrations"))
    assert {i["identifier"] for i in items} >= {"sendgrid-main", "sendgrid-dev"}
    assert len({i["_environmentId"] for i in items}) == 2


async def test_envelope_off_answers_bare_bodies(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.envelope = False
    listed = (await client.get("/v1/integrations")).json()
    assert isinstance(listed, list)
    switched = (await client.post(f"/v1/integrations/{SES}/set-primary")).json()
    assert switched["identifier"] == "ses-backup"


@pytest.mark.parametrize("envelope", [True, False])
async def test_messages_page_is_never_double_wrapped(
    sim: NovuSimulator, client: httpx.AsyncClient, envelope: bool
) -> None:
    sim.envelope = envelope
    sim.send("email")
    body = (await client.get("/v1/messages", params={"channel": "email"})).json()
    assert set(body) == {"data", "hasMore", "page", "pageSize"}
    assert len(body["data"]) == 1


async def test_credentials_come_back_decrypted_like_older_servers(
    client: httpx.AsyncClient,
) -> None:
    items = data(await client.get("/v1/integrations"))
    sendgrid = by_identifier(items)["sendgrid-main"]
    assert sendgrid["credentials"]["apiKey"].startswith(SECRET_MARKER)


async def test_blank_credentials_mode_sends_empty_credentials(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.blank_credentials = True
    items = data(await client.get("/v1/integrations"))
    assert all(i["credentials"] == {} for i in items)
    assert SECRET_MARKER not in json.dumps(items)


async def test_active_list_leaves_out_inactive_integrations(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.integration("mailgun-backup").active = False
    active = data(await client.get("/v1/integrations/active"))
    assert "mailgun-backup" not in by_identifier(active)
    assert all(i["active"] for i in active)
    assert "mailgun-backup" in by_identifier(data(await client.get("/v1/integrations")))


# --- set-primary ---


async def test_set_primary_demotes_old_primary_and_renumbers_priorities(
    client: httpx.AsyncClient,
) -> None:
    before = await email_state(client)
    assert before["sendgrid-main"]["primary"]
    assert [before[k]["priority"] for k in ("sendgrid-main", "ses-backup", "mailgun-backup")] == [
        3,
        2,
        1,
    ]
    response = await client.post(f"/v1/integrations/{MAILGUN}/set-primary")
    assert response.status_code == 200
    returned = data(response)
    assert returned["identifier"] == "mailgun-backup"
    assert returned["primary"] is True
    assert returned["priority"] == 3
    after = await email_state(client)
    assert after["sendgrid-main"]["primary"] is False
    assert after["sendgrid-main"]["active"] is True  # demoted, not deactivated
    assert [i for i, v in after.items() if v["primary"]] == ["mailgun-backup"]
    priorities = {k: v["priority"] for k, v in after.items()}
    assert priorities == {"mailgun-backup": 3, "sendgrid-main": 2, "ses-backup": 1}


async def test_set_primary_activates_the_target_and_erases_its_conditions(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    ses = sim.integration("ses-backup")
    ses.active = False
    ses.conditions = [
        {
            "isNegated": False,
            "type": "BOOLEAN",
            "value": "AND",
            "children": [
                {"field": "tier", "value": "gold", "operator": "EQUAL", "on": "subscriber"}
            ],
        }
    ]
    returned = data(await client.post(f"/v1/integrations/{SES}/set-primary"))
    assert returned["active"] is True
    assert returned["primary"] is True
    assert returned["conditions"] == []


async def test_set_primary_on_the_primary_changes_nothing_even_when_inactive(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sendgrid = sim.integration("sendgrid-main")
    sendgrid.active = False
    before = await email_state(client)
    returned = data(await client.post(f"/v1/integrations/{SENDGRID}/set-primary"))
    assert returned["primary"] is True
    assert returned["active"] is False  # still inactive: no traffic goes there
    assert await email_state(client) == before


async def test_set_primary_leaves_other_channels_alone(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    await client.post(f"/v1/integrations/{SES}/set-primary")
    twilio = sim.primary("production", "sms")
    assert twilio is not None
    assert twilio.identifier == "twilio-main"
    assert sim.primary("development", "email").identifier == "sendgrid-dev"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("integration_id", "status", "message"),
    [
        pytest.param(IN_APP, 400, "Channel in_app does not support primary", id="in-app"),
        pytest.param("not-an-id", 400, ["integrationId must be a mongodb id"], id="bad-id"),
        pytest.param(
            "6650a1b2c3d4e5f60000010", 400, ["integrationId must be a mongodb id"], id="23-hex"
        ),
        pytest.param(UNKNOWN, 404, f"Integration with id {UNKNOWN} not found", id="unknown"),
        pytest.param(DEV_SENDGRID, 403, None, id="other-environment"),
    ],
)
async def test_set_primary_errors(
    sim: NovuSimulator,
    client: httpx.AsyncClient,
    integration_id: str,
    status: int,
    message: Any,
) -> None:
    before = await email_state(client)
    response = await client.post(f"/v1/integrations/{integration_id}/set-primary")
    assert response.status_code == status
    body = response.json()
    assert body["statusCode"] == status
    if message is not None:
        assert body["message"] == message
    assert await email_state(client) == before
    assert sim.set_primary_targets() == []


async def test_old_server_answers_404_for_another_environments_integration(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.old_server = True
    response = await client.post(f"/v1/integrations/{DEV_SENDGRID}/set-primary")
    assert response.status_code == 404


# --- PUT ---


async def test_deactivating_the_primary_leaves_the_channel_without_primary(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    response = await client.put(
        f"/v1/integrations/{SENDGRID}", json={"active": False, "check": False}
    )
    assert response.status_code == 200
    updated = data(response)
    assert updated["active"] is False
    assert updated["priority"] == 0
    after = await email_state(client)
    assert not any(v["primary"] and v["active"] for v in after.values())
    assert sim.send("email") is None  # no active primary: nothing is sent


async def test_saving_conditions_removes_the_primary_flag(
    client: httpx.AsyncClient,
) -> None:
    condition = {
        "isNegated": False,
        "type": "BOOLEAN",
        "value": "AND",
        "children": [{"field": "plan", "value": "pro", "operator": "EQUAL", "on": "payload"}],
    }
    updated = data(
        await client.put(f"/v1/integrations/{SENDGRID}", json={"conditions": [condition]})
    )
    assert updated["primary"] is False
    assert updated["conditions"] == [condition]


async def test_saving_empty_conditions_keeps_the_primary(client: httpx.AsyncClient) -> None:
    updated = data(await client.put(f"/v1/integrations/{SENDGRID}", json={"conditions": []}))
    assert updated["primary"] is True


async def test_activating_an_inactive_primary_with_put_makes_it_serve_again(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.integration("sendgrid-main").active = False
    updated = data(
        await client.put(f"/v1/integrations/{SENDGRID}", json={"active": True, "check": False})
    )
    assert updated["active"] is True
    assert updated["primary"] is True
    assert updated["priority"] == 3
    message = sim.send("email")
    assert message is not None
    assert message["providerId"] == "sendgrid"


async def test_activating_the_only_integration_of_a_channel_makes_it_primary(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    await client.put(f"/v1/integrations/{TWILIO}", json={"active": False})
    await client.put(f"/v1/integrations/{VONAGE}", json={"active": False})
    assert sim.primary("production", "sms") is None
    updated = data(await client.put(f"/v1/integrations/{VONAGE}", json={"active": True}))
    assert updated["primary"] is True


async def test_put_updates_name_and_replaces_credentials(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    updated = data(
        await client.put(
            f"/v1/integrations/{SES}",
            json={"name": "SES (eu)", "credentials": {"apiKey": "SIM-SECRET-new"}},
        )
    )
    assert updated["name"] == "SES (eu)"
    assert updated["credentials"] == {"apiKey": "SIM-SECRET-new"}
    assert sim.calls[-1].body == {"name": "SES (eu)", "credentials": "(redacted)"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"active": "yes"}, ["active must be a boolean value"], id="active-string"),
        pytest.param({"conditions": {}}, ["conditions must be an array"], id="conditions-obj"),
        pytest.param(
            {"conditions": [{"isNegated": False, "type": "BOOLEAN", "value": "AND"}]},
            ["conditions.0.children must be an array"],
            id="condition-shape",
        ),
        pytest.param({"name": 3, "check": "no"}, None, id="two-problems"),
    ],
)
async def test_put_rejects_wrong_types_with_a_list_of_messages(
    client: httpx.AsyncClient, body: dict[str, Any], expected: list[str] | None
) -> None:
    response = await client.put(f"/v1/integrations/{SES}", json=body)
    assert response.status_code == 400
    message = response.json()["message"]
    assert isinstance(message, list)
    if expected is None:
        assert len(message) == 2
    else:
        assert message == expected


async def test_put_rejects_invalid_json(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"/v1/integrations/{SES}", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_put_with_an_identifier_taken_in_the_environment_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(f"/v1/integrations/{SES}", json={"identifier": "sendgrid-main"})
    assert response.status_code == 409


# --- idempotency ---


async def test_same_key_replays_the_first_answer_without_acting_twice(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    headers = {"idempotency-key": "action-1"}
    first = await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    second = await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert "idempotency-replay" not in first.headers
    assert second.headers["idempotency-replay"] == "true"
    assert second.headers["idempotency-key"] == "action-1"
    assert sim.set_primary_targets() == ["ses-backup"]
    assert [c.replay for c in sim.calls] == [False, True]


async def test_reusing_a_key_on_another_path_silently_replays_the_first_action(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    headers = {"idempotency-key": "reused"}
    await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    replay = await client.post(f"/v1/integrations/{MAILGUN}/set-primary", headers=headers)
    assert replay.headers["idempotency-replay"] == "true"
    assert data(replay)["identifier"] == "ses-backup"
    primary = sim.primary("production", "email")
    assert primary is not None
    assert primary.identifier == "ses-backup"  # mailgun was never made primary


async def test_same_key_with_a_different_body_is_422(client: httpx.AsyncClient) -> None:
    headers = {"idempotency-key": "k", "Content-Type": "application/json"}
    await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers, content=b'{"a":1}')
    response = await client.post(
        f"/v1/integrations/{SES}/set-primary", headers=headers, content=b'{"a":2}'
    )
    assert response.status_code == 422
    assert "errors" in response.json()


@pytest.mark.parametrize(("length", "status"), [(255, 200), (256, 400)])
async def test_idempotency_key_length_limit(
    client: httpx.AsyncClient, length: int, status: int
) -> None:
    response = await client.post(
        f"/v1/integrations/{SES}/set-primary", headers={"idempotency-key": "k" * length}
    )
    assert response.status_code == status


async def test_duplicate_while_the_first_is_running_gets_409_retry_after_1(
    sim: NovuSimulator, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.faults.add(Fault(kind="latency", seconds=5.0))
    sleeps.gate = asyncio.Event()
    headers = {"idempotency-key": "slow"}
    first = asyncio.create_task(client.post(f"/v1/integrations/{SES}/set-primary", headers=headers))
    await sleeps.entered.wait()  # the first request is inside Novu's logic now
    duplicate = await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    sleeps.gate.set()
    assert duplicate.status_code == 409
    assert duplicate.headers["retry-after"] == "1"
    assert (await first).status_code == 200
    assert sim.set_primary_targets() == ["ses-backup"]


async def test_keys_expire_after_24_hours(
    sim: NovuSimulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    headers = {"idempotency-key": "daily"}
    await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    clock.advance(24 * 3600 + 1)
    again = await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    assert "idempotency-replay" not in again.headers
    assert sim.set_primary_targets() == ["ses-backup", "ses-backup"]


async def test_idempotency_off_acts_on_every_request(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.idempotency = False
    headers = {"idempotency-key": "ignored"}
    await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    second = await client.post(f"/v1/integrations/{MAILGUN}/set-primary", headers=headers)
    assert "idempotency-replay" not in second.headers
    assert sim.set_primary_targets() == ["ses-backup", "mailgun-backup"]


async def test_put_is_not_covered_by_idempotency(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    headers = {"idempotency-key": "put"}
    await client.put(f"/v1/integrations/{SES}", json={"name": "a"}, headers=headers)
    second = await client.put(f"/v1/integrations/{SES}", json={"name": "b"}, headers=headers)
    assert second.status_code == 200
    assert data(second)["name"] == "b"


# --- rate limits ---


async def test_token_bucket_answers_429_then_refills(
    sim: NovuSimulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    sim.limiter.configure(limit=2, burst=2)
    statuses = [(await client.get("/v1/integrations")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = await client.get("/v1/integrations")
    assert limited.json() == "API rate limit exceeded"
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["ratelimit-remaining"] == "0"
    clock.advance(0.5)
    assert (await client.get("/v1/integrations")).status_code == 200
    assert (await client.get("/v1/integrations")).status_code == 429


async def test_rate_limit_is_per_environment(sim: NovuSimulator, client: httpx.AsyncClient) -> None:
    sim.limiter.configure(limit=1, burst=1)
    assert (await client.get("/v1/integrations")).status_code == 200
    assert (await client.get("/v1/integrations")).status_code == 429
    other = await client.get("/v1/integrations", headers=auth(sim, "development"))
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        pytest.param("GET", "/v1/integrations", None, id="200"),
        pytest.param("GET", "/v1/integrations", {"Authorization": "ApiKey x"}, id="401"),
        pytest.param("POST", f"/v1/integrations/{UNKNOWN}/set-primary", None, id="404"),
        pytest.param("GET", "/v1/nothing-here", None, id="no-route"),
    ],
)
async def test_every_response_carries_ratelimit_headers(
    sim: NovuSimulator,
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str] | None,
) -> None:
    sim.limiter.configure(limit=30, burst=33)
    response = await client.request(method, path, headers=headers)
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"):
        assert name.lower() in response.headers
    assert 'category="global"' in response.headers["ratelimit-policy"]


# --- faults ---


async def test_error_fault_for_next_n_requests_then_recovers(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(Fault(kind="error", status=503, count=2))
    statuses = [
        (await client.post(f"/v1/integrations/{SES}/set-primary")).status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert sim.set_primary_targets() == ["ses-backup"]  # the 503s did nothing
    assert [c.fault for c in sim.calls] == ["error", "error", None]


async def test_500_fault_is_an_error_dto_with_error_id(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(Fault(kind="error", status=500, count=1))
    body = (await client.get("/v1/integrations")).json()
    assert body["statusCode"] == 500
    assert body["errorId"]


async def test_faults_match_path_prefix_and_method(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(Fault(kind="error", path="/v1/integrations/", method="POST"))
    assert (await client.get("/v1/integrations")).status_code == 200
    assert (await client.get("/v1/messages")).status_code == 200
    assert (await client.post(f"/v1/integrations/{SES}/set-primary")).status_code == 503


async def test_fractional_faults_are_reproducible_for_a_random_seed(
    clock: FakeClock, sleeps: Sleeps
) -> None:
    async def pattern() -> list[int]:
        sim = NovuSimulator(clock=clock, sleep=sleeps, rate_limit=None, random_seed=7)
        sim.faults.add(Fault(kind="error", fraction=0.5))
        transport = httpx.ASGITransport(app=create_novu_app(sim))
        async with httpx.AsyncClient(transport=transport, base_url="http://n") as c:
            return [
                (await c.get("/v1/integrations", headers=auth(sim))).status_code for _ in range(40)
            ]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 5 < first.count(503) < 35


async def test_429_storm_fault_carries_retry_after(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(Fault(kind="rate_limit", seconds=3, count=1))
    response = await client.get("/v1/integrations")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json() == "API rate limit exceeded"
    assert (await client.get("/v1/integrations")).status_code == 200


async def test_latency_fault_delays_the_answer(
    sim: NovuSimulator, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.faults.add(Fault(kind="latency", seconds=1.5))
    assert (await client.get("/v1/integrations")).status_code == 200
    assert sleeps.calls == [1.5]


async def test_timeout_fault_hangs_until_released(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(Fault(kind="timeout", seconds=60, count=1))
    request = asyncio.create_task(client.get("/v1/integrations"))
    done, _ = await asyncio.wait({request}, timeout=0.2)
    assert not done  # still hanging well past any sane client timeout
    assert sim.hanging == 1
    sim.release_hangs()
    response = await request
    assert response.status_code == 503


async def test_after_phase_fault_loses_the_answer_but_the_change_is_made(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(Fault(kind="error", status=503, phase="after", count=1))
    headers = {"idempotency-key": "lost-answer"}
    lost = await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    assert lost.status_code == 503
    assert sim.primary("production", "email").identifier == "ses-backup"  # type: ignore[union-attr]
    retry = await client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    assert retry.status_code == 200
    assert retry.headers["idempotency-replay"] == "true"
    assert sim.set_primary_targets() == ["ses-backup"]


# --- messages ---


async def test_messages_go_to_the_active_primary_and_fail_while_it_is_failing(
    sim: NovuSimulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    sim.send("email")
    clock.advance(1)
    sim.set_provider_failing("sendgrid", True)
    sim.send("email")
    clock.advance(1)
    await client.post(f"/v1/integrations/{SES}/set-primary")
    sim.send("email")
    items = (await client.get("/v1/messages", params={"channel": "email"})).json()["data"]
    assert [(m["providerId"], m["status"]) for m in items] == [
        ("ses", "sent"),
        ("sendgrid", "error"),
        ("sendgrid", "sent"),
    ]  # newest first
    failed = items[1]
    assert failed["errorId"] == "mail_unexpected_error"
    assert "503" in failed["errorText"]  # SendGrid's own words for an outage
    assert items[0]["createdAt"] > items[2]["createdAt"]


async def test_messages_paginate_newest_first_with_has_more(
    sim: NovuSimulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for _ in range(5):
        sim.send("email")
        clock.advance(1)
    sim.send("sms")
    page0 = (await client.get("/v1/messages", params={"channel": "email", "limit": 2})).json()
    page2 = (
        await client.get("/v1/messages", params={"channel": "email", "limit": 2, "page": 2})
    ).json()
    assert page0["hasMore"] is True
    assert page0["pageSize"] == 2
    assert page2["hasMore"] is False
    assert len(page2["data"]) == 1
    assert page0["data"][0]["createdAt"] > page2["data"][0]["createdAt"]
    everything = (await client.get("/v1/messages", params={"limit": 100})).json()["data"]
    assert {m["channel"] for m in everything} == {"email", "sms"}


@pytest.mark.parametrize(
    "params",
    [{"channel": "fax"}, {"page": "-1"}, {"limit": "0"}, {"limit": "abc"}, {"limit": "2.5"}],
)
async def test_messages_reject_bad_query_parameters(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/v1/messages", params=params)
    assert response.status_code == 400
    assert isinstance(response.json()["message"], list)


def test_messages_only_see_their_environment(sim: NovuSimulator) -> None:
    sim.send("email", "development")
    production = sim.environment("production")
    assert sim.list_messages(production, channel=None, page=0, limit=10)["data"] == []


def test_partial_failure_rate_fails_a_share_of_messages(sim: NovuSimulator) -> None:
    sim.set_provider_failing("sendgrid", True, rate=0.5)
    statuses = [sim.send("email")["status"] for _ in range(200)]  # type: ignore[index]
    assert 60 < statuses.count("error") < 140


def test_send_refuses_unknown_channel_and_environment(sim: NovuSimulator) -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        sim.send("fax")
    with pytest.raises(KeyError):
        sim.send("email", "staging")


def test_failure_rate_outside_0_1_is_refused(sim: NovuSimulator) -> None:
    with pytest.raises(ValueError, match="within"):
        sim.set_provider_failing("ses", True, rate=1.5)


# --- call log and control API ---


async def test_call_log_records_set_primary_and_put_but_not_reads(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    await client.get("/v1/integrations")
    await client.post(f"/v1/integrations/{SES}/set-primary", headers={"idempotency-key": "a"})
    await client.put(f"/v1/integrations/{SES}", json={"active": True})
    calls = (await client.get("/_sim/calls")).json()["calls"]
    assert [(c["kind"], c["identifier"], c["status"]) for c in calls] == [
        ("set-primary", "ses-backup", 200),
        ("update", "ses-backup", 200),
    ]
    assert calls[0]["idempotencyKey"] == "a"
    only = (await client.get("/_sim/calls", params={"kind": "update"})).json()["calls"]
    assert len(only) == 1


async def test_state_endpoint_shows_no_keys_or_credentials(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    text = (await client.get("/_sim/state")).text
    assert SECRET_MARKER not in text
    assert all(env.api_key not in text for env in sim.environments)
    state = json.loads(text)
    assert state["environments"][0]["integrations"][0]["identifier"] == "sendgrid-main"


async def test_control_api_adds_and_clears_faults(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    added = await client.post("/_sim/faults", json={"kind": "error", "status": 500, "count": 1})
    assert added.json()["faults"][0]["kind"] == "error"
    several = await client.post(
        "/_sim/faults", json={"faults": [{"kind": "latency", "seconds": 0.1}, {"kind": "timeout"}]}
    )
    assert len(several.json()["faults"]) == 3
    cleared = await client.delete("/_sim/faults")
    assert cleared.json() == {"faults": []}
    await client.post("/_sim/faults", json={"kind": "error"})
    assert (await client.post("/_sim/faults", json={"clear": True})).json() == {"faults": []}
    assert (await client.get("/v1/integrations")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "meteor"},
        {"kind": "error", "status": 502},
        {"kind": "error", "fraction": 0},
        {"kind": "error", "colour": "red"},
        {"faults": "no"},
    ],
)
async def test_control_api_refuses_bad_faults_and_adds_none(
    sim: NovuSimulator, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/_sim/faults", json=body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert sim.faults.describe() == []


async def test_control_api_marks_providers_failing(
    sim: NovuSimulator, client: httpx.AsyncClient
) -> None:
    response = await client.post("/_sim/providers/sendgrid/failing", json={"failing": True})
    assert response.json()["failingProviders"] == {"sendgrid": 1.0}
    sent = await client.post("/_sim/send", json={"channel": "email", "count": 3})
    assert sent.json() == {"sent": 3, "statuses": {"error": 3}}
    await client.post("/_sim/providers/sendgrid/failing", json={"failing": False})
    assert sim.failing_providers() == {}


async def test_control_api_switches_options(sim: NovuSimulator, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_sim/options", json={"envelope": False, "old_server": True, "rate_limit": 5, "burst": 5}
    )
    assert response.json()["options"]["envelope"] is False
    assert sim.old_server is True
    assert sim.limiter.capacity == 5
    assert isinstance((await client.get("/v1/integrations")).json(), list)
    assert (await client.post("/_sim/options", json={"envelope": "no"})).status_code == 400
    assert (await client.post("/_sim/options", json={"colour": 1})).status_code == 400


async def test_reset_restores_the_seed(sim: NovuSimulator, client: httpx.AsyncClient) -> None:
    await client.post(f"/v1/integrations/{SES}/set-primary")
    sim.send("email")
    sim.faults.add(Fault(kind="latency"))
    sim.envelope = False
    sim.limiter.configure(limit=1, burst=1)
    assert (await client.post("/_sim/reset")).json() == {"reset": True}
    assert sim.options() == NovuSimulator(rate_limit=None).options()
    assert sim.primary("production", "email").identifier == "sendgrid-main"  # type: ignore[union-attr]
    assert sim.calls == type(sim.calls)()
    assert sim.faults.describe() == []
    assert sim.snapshot()["environments"][0]["messages"] == 0


async def test_unknown_routes_and_methods_answer_error_dto(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/workflows")
    assert missing.status_code == 404
    assert missing.json()["statusCode"] == 404
    wrong_method = await client.delete(f"/v1/integrations/{SES}/set-primary")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["statusCode"] == 405


# --- seeds ---


def test_default_seed_is_the_documented_world(sim: NovuSimulator) -> None:
    production = {i.identifier: i for i in sim.integrations("production")}
    assert {k: (v.channel, v.primary) for k, v in production.items()} == {
        "sendgrid-main": ("email", True),
        "ses-backup": ("email", False),
        "mailgun-backup": ("email", False),
        "twilio-main": ("sms", True),
        "vonage-backup": ("sms", False),
        "novu-in-app": ("in_app", False),
    }
    assert all(MONGO_ID.match(i.id) for i in sim.integrations())
    secrets = [
        value
        for i in sim.integrations()
        for key, value in i.credentials.items()
        if key in ("apiKey", "secretKey", "token", "accountSid")
    ]
    assert secrets
    assert all(v.startswith(SECRET_MARKER) for v in secrets)


def test_seed_from_json_and_yaml_files(tmp_path: Path) -> None:
    seed = {
        "environments": [
            {
                "name": "staging",
                "id": "aaaaaaaaaaaaaaaaaaaaaaaa",
                "api_key": "sim-staging-key",
                "integrations": [
                    {
                        "id": "bbbbbbbbbbbbbbbbbbbbbbbb",
                        "identifier": "postmark-main",
                        "providerId": "postmark",
                        "channel": "email",
                        "primary": True,
                    }
                ],
            }
        ]
    }
    as_json = tmp_path / "seed.json"
    as_json.write_text(json.dumps(seed))
    as_yaml = tmp_path / "seed.yaml"
    as_yaml.write_text(
        "environments:\n"
        + "\n".join(
            "  " + line for line in json.dumps(seed["environments"][0]).splitlines()
        ).replace("  {", "  - {", 1)
    )
    for path in (as_json, as_yaml):
        sim = NovuSimulator.from_file(path)
        postmark = sim.integration("postmark-main", "staging")
        assert postmark.primary
        assert postmark.credentials["apiKey"].startswith(SECRET_MARKER)  # generated


def test_seed_errors_are_reported_together_with_their_paths() -> None:
    bad = {
        "environments": [
            {
                "name": "p",
                "id": "short",
                "api_key": "sim-key-123",
                "integrations": [
                    {
                        "id": "cccccccccccccccccccccccc",
                        "identifier": "x",
                        "providerId": "y",
                        "channel": "fax",
                    },
                ],
            }
        ]
    }
    with pytest.raises(SeedError) as excinfo:
        NovuSimulator.from_dict(bad)
    text = str(excinfo.value)
    assert "environments.0.id" in text
    assert "environments.0.integrations.0.channel" in text


def test_seed_with_two_primaries_in_a_channel_is_refused() -> None:
    integrations = [
        {
            "id": f"{n:024x}",
            "identifier": f"i{n}",
            "providerId": "p",
            "channel": "email",
            "primary": True,
        }
        for n in (1, 2)
    ]
    seed = {
        "environments": [
            {"name": "p", "id": "a" * 24, "api_key": "sim-key-123", "integrations": integrations}
        ]
    }
    with pytest.raises(SeedError, match="more than one primary"):
        NovuSimulator.from_dict(seed)


def test_missing_seed_file_is_a_seed_error(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        NovuSimulator.from_file(tmp_path / "nope.yaml")


# --- invariants under any sequence of operations ---

_IDS = [SENDGRID, SES, MAILGUN, TWILIO, VONAGE, IN_APP]
_operation = st.one_of(
    st.tuples(st.just("set-primary"), st.sampled_from(_IDS)),
    st.tuples(st.just("active"), st.sampled_from(_IDS), st.booleans()),
    st.tuples(st.just("conditions"), st.sampled_from(_IDS), st.booleans()),
)
_CONDITION = {"isNegated": False, "type": "BOOLEAN", "value": "AND", "children": []}


@settings(max_examples=150, deadline=None)
@given(st.lists(_operation, max_size=12))
def test_channel_invariants_hold_after_any_operations(operations: list[tuple[Any, ...]]) -> None:
    """At most one primary per channel; active priorities are N..1 with the primary on top;
    inactive ones are 0; set-primary always leaves its target active and primary."""
    sim = NovuSimulator(clock=FakeClock(), rate_limit=None)
    env = sim.environment("production")
    for op in operations:
        if op[0] == "set-primary" and op[1] == IN_APP:
            with pytest.raises(SimError, match="does not support primary"):
                sim.set_primary(env, op[1])
        elif op[0] == "set-primary":
            result = sim.set_primary(env, op[1])
            target = sim.integration(result["identifier"])
            assert target.primary
            if result["active"] is False:  # only an already-primary, inactive target
                assert not target.active
            else:
                assert target.active
                assert target.conditions == []
        elif op[0] == "active":
            sim.update_integration(env, op[1], {"active": op[2]})
        else:
            sim.update_integration(env, op[1], {"conditions": [_CONDITION] if op[2] else []})
        for channel in ("email", "sms"):
            group = [i for i in sim.integrations("production") if i.channel == channel]
            assert sum(i.primary for i in group) <= 1
            active = sorted((i for i in group if i.active), key=lambda i: -i.priority)
            assert [i.priority for i in active] == list(range(len(active), 0, -1))
            assert all(i.priority == 0 for i in group if not i.active)
            primary = next((i for i in group if i.primary), None)
            if primary is not None and primary.active:
                assert active[0] is primary
