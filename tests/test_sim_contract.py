"""Every kind of answer the Novu simulator gives validates against Novu's OpenAPI document,
and the shared contract helper (tests/openapi_contract.py) rejects what it should."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from openapi_contract import (
    LIVE_DEVIATIONS,
    unwrap_envelope,
    validate_exchange,
    validate_request,
    validate_response,
)

from daemon.clock import FakeClock
from daemon.sim import Fault, NovuSimulator, create_novu_app

SENDGRID = "6650a1b2c3d4e5f600000101"
SES = "6650a1b2c3d4e5f600000102"
IN_APP = "6650a1b2c3d4e5f600000301"
DEV_SENDGRID = "6650a1b2c3d4e5f600000d01"
UNKNOWN = "6650a1b2c3d4e5f6ffffffff"
CONDITION = {
    "isNegated": False,
    "type": "BOOLEAN",
    "value": "AND",
    "children": [{"field": "tier", "value": "gold", "operator": "EQUAL", "on": "subscriber"}],
}


class GatedSleep:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        del seconds
        self.entered.set()
        await self.gate.wait()


class World:
    def __init__(self, sim: NovuSimulator, client: httpx.AsyncClient, sleep: GatedSleep) -> None:
        self.sim = sim
        self.client = client
        self.sleep = sleep


@pytest.fixture(params=[True, False], ids=["envelope", "bare"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    sleep = GatedSleep()
    sim = NovuSimulator(clock=FakeClock(), sleep=sleep, rate_limit=None, envelope=request.param)
    transport = httpx.ASGITransport(app=create_novu_app(sim))
    headers = {"Authorization": f"ApiKey {sim.api_key()}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://novu.sim", headers=headers
    ) as client:
        yield World(sim, client, sleep)


Scenario = Callable[[World], Awaitable[httpx.Response]]


async def _list(w: World) -> httpx.Response:
    return await w.client.get("/v1/integrations")


async def _list_old_server(w: World) -> httpx.Response:
    w.sim.old_server = True
    return await w.client.get("/v1/integrations")


async def _active(w: World) -> httpx.Response:
    return await w.client.get("/v1/integrations/active")


async def _set_primary(w: World) -> httpx.Response:
    return await w.client.post(f"/v1/integrations/{SES}/set-primary")


async def _set_primary_keyed_replay(w: World) -> httpx.Response:
    headers = {"idempotency-key": "replayed"}
    await w.client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    return await w.client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)


async def _set_primary_unchanged(w: World) -> httpx.Response:
    w.sim.integration("sendgrid-main").active = False
    return await w.client.post(f"/v1/integrations/{SENDGRID}/set-primary")


async def _put_conditions(w: World) -> httpx.Response:
    return await w.client.put(
        f"/v1/integrations/{SES}", json={"conditions": [CONDITION], "check": False}
    )


async def _put_deactivate(w: World) -> httpx.Response:
    return await w.client.put(f"/v1/integrations/{SENDGRID}", json={"active": False})


async def _put_blank_credentials(w: World) -> httpx.Response:
    w.sim.blank_credentials = True
    return await w.client.put(f"/v1/integrations/{SES}", json={"name": "SES"})


async def _messages(w: World) -> httpx.Response:
    w.sim.send("email")
    w.sim.set_provider_failing("sendgrid", True)
    w.sim.send("email")
    w.sim.send("sms")
    w.sim.record_message(
        w.sim.environment("production").id,
        {**w.sim.send("email", "development"), "status": "warning"},  # type: ignore[dict-item]
    )
    return await w.client.get("/v1/messages", params={"channel": "email", "page": 0, "limit": 5})


async def _messages_empty(w: World) -> httpx.Response:
    return await w.client.get("/v1/messages", params={"channel": "push"})


CANARY_TRIGGER = {
    "name": "canary",
    "to": {"subscriberId": "canary-sink", "email": "canary@sink.example.test"},
    "transactionId": "canary-1",
    "overrides": {"email": {"integrationIdentifier": "ses-backup"}},
}


async def _trigger(w: World) -> httpx.Response:
    return await w.client.post(
        "/v1/events/trigger", json=CANARY_TRIGGER, headers={"idempotency-key": "canary-1"}
    )


async def _trigger_unknown_workflow(w: World) -> httpx.Response:
    w.sim.triggers.configure({"workflows": {"other": ["email"]}})
    return await w.client.post("/v1/events/trigger", json=CANARY_TRIGGER)


async def _messages_of_transaction(w: World) -> httpx.Response:
    w.sim.triggers.configure({"outcomes": {"ses-backup": "credentials"}, "message_delay": 0})
    await w.client.post("/v1/events/trigger", json=CANARY_TRIGGER)
    w.sim.send("email")
    return await w.client.get(
        "/v1/messages", params={"channel": "email", "transactionId": "canary-1"}
    )


async def _bad_id(w: World) -> httpx.Response:
    return await w.client.post("/v1/integrations/not-a-mongo-id/set-primary")


async def _in_app(w: World) -> httpx.Response:
    return await w.client.post(f"/v1/integrations/{IN_APP}/set-primary")


async def _bad_put_body(w: World) -> httpx.Response:
    return await w.client.put(
        f"/v1/integrations/{SES}",
        content=b'{"active": true,',
        headers={"Content-Type": "application/json"},
    )


async def _bad_messages_query(w: World) -> httpx.Response:
    return await w.client.get("/v1/messages", params={"limit": -1})


async def _long_key(w: World) -> httpx.Response:
    headers = {"idempotency-key": "k" * 256}
    return await w.client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)


async def _unauthorized(w: World) -> httpx.Response:
    return await w.client.get("/v1/integrations", headers={"Authorization": "ApiKey wrong-key"})


async def _forbidden(w: World) -> httpx.Response:
    return await w.client.post(f"/v1/integrations/{DEV_SENDGRID}/set-primary")


async def _not_found(w: World) -> httpx.Response:
    return await w.client.post(f"/v1/integrations/{UNKNOWN}/set-primary")


async def _not_found_put(w: World) -> httpx.Response:
    return await w.client.put(f"/v1/integrations/{UNKNOWN}", json={"active": True})


async def _identifier_conflict(w: World) -> httpx.Response:
    return await w.client.put(f"/v1/integrations/{SES}", json={"identifier": "sendgrid-main"})


async def _idempotency_in_progress(w: World) -> httpx.Response:
    w.sim.faults.add(Fault(kind="latency", seconds=1))
    headers = {"idempotency-key": "busy"}
    first = asyncio.create_task(
        w.client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    )
    await w.sleep.entered.wait()
    duplicate = await w.client.post(f"/v1/integrations/{SES}/set-primary", headers=headers)
    w.sleep.gate.set()
    validate_exchange(await first)
    return duplicate


async def _idempotency_mismatch(w: World) -> httpx.Response:
    headers = {"idempotency-key": "same", "Content-Type": "application/json"}
    path = f"/v1/integrations/{SES}/set-primary"
    await w.client.post(path, headers=headers, content=b'{"n":1}')
    return await w.client.post(path, headers=headers, content=b'{"n":2}')


async def _body_too_large(w: World) -> httpx.Response:
    body = json.dumps({"name": "x" * 1_100_000})
    return await w.client.put(
        f"/v1/integrations/{SES}", content=body, headers={"Content-Type": "application/json"}
    )


async def _rate_limited(w: World) -> httpx.Response:
    w.sim.limiter.configure(limit=1, burst=1)
    await w.client.get("/v1/integrations")
    return await w.client.get("/v1/integrations")


async def _rate_limit_storm(w: World) -> httpx.Response:
    w.sim.faults.add(Fault(kind="rate_limit", seconds=2))
    return await w.client.post(f"/v1/integrations/{SES}/set-primary")


async def _error_500(w: World) -> httpx.Response:
    w.sim.faults.add(Fault(kind="error", status=500))
    return await w.client.get("/v1/messages")


async def _error_503(w: World) -> httpx.Response:
    w.sim.faults.add(Fault(kind="error", status=503, seconds=2))
    return await w.client.put(f"/v1/integrations/{SES}", json={"active": True})


async def _lost_answer(w: World) -> httpx.Response:
    w.sim.faults.add(Fault(kind="error", status=503, phase="after"))
    return await w.client.post(f"/v1/integrations/{SES}/set-primary")


async def _timeout(w: World) -> httpx.Response:
    w.sim.faults.add(Fault(kind="timeout", seconds=60))
    pending = asyncio.create_task(w.client.get("/v1/integrations/active"))
    await w.sim.wait_hanging()
    w.sim.release_hangs()
    return await pending


SCENARIOS: list[tuple[str, Scenario, int]] = [
    ("list", _list, 200),
    ("list-old-server", _list_old_server, 200),
    ("active", _active, 200),
    ("set-primary", _set_primary, 200),
    ("set-primary-replay", _set_primary_keyed_replay, 200),
    ("set-primary-unchanged-inactive", _set_primary_unchanged, 200),
    ("put-conditions", _put_conditions, 200),
    ("put-deactivate", _put_deactivate, 200),
    ("put-blank-credentials", _put_blank_credentials, 200),
    ("messages", _messages, 200),
    ("messages-empty", _messages_empty, 200),
    ("trigger", _trigger, 201),
    ("422-trigger-unknown-workflow", _trigger_unknown_workflow, 422),
    ("messages-of-transaction", _messages_of_transaction, 200),
    ("400-bad-id", _bad_id, 400),
    ("400-in-app", _in_app, 400),
    ("400-bad-json", _bad_put_body, 400),  # the request itself breaks the contract
    ("400-bad-query", _bad_messages_query, 400),
    ("400-long-key", _long_key, 400),
    ("401", _unauthorized, 401),
    ("403", _forbidden, 403),
    ("404", _not_found, 404),
    ("404-put", _not_found_put, 404),
    ("409-identifier", _identifier_conflict, 409),
    ("409-in-progress", _idempotency_in_progress, 409),
    ("413", _body_too_large, 413),
    ("422", _idempotency_mismatch, 422),
    ("429-bucket", _rate_limited, 429),
    ("429-storm", _rate_limit_storm, 429),
    ("500", _error_500, 500),
    ("503", _error_503, 503),
    ("503-after", _lost_answer, 503),
    ("503-timeout", _timeout, 503),
]


@pytest.mark.parametrize(
    ("scenario", "status"), [pytest.param(s, code, id=name) for name, s, code in SCENARIOS]
)
async def test_simulator_answer_validates_against_openapi(
    world: World, scenario: Scenario, status: int
) -> None:
    response = await scenario(world)
    assert response.status_code == status, response.text
    if scenario is not _bad_put_body:
        validate_request(response.request)
    validate_response(response.request, response)


async def test_every_integration_and_message_field_the_daemon_reads_is_present(
    world: World,
) -> None:
    listed = unwrap_envelope((await world.client.get("/v1/integrations")).json())
    for item in listed:
        assert {"_id", "identifier", "providerId", "channel", "active", "primary"} <= set(item)
    world.sim.send("email")
    page = (await world.client.get("/v1/messages")).json()
    assert {"providerId", "status", "errorId", "errorText", "createdAt"} <= set(page["data"][0])


# --- the helper itself must fail on contract breaches (or it proves nothing) ---


def _exchange(
    status: int, body: Any, *, method: str = "POST", path: str | None = None, **kw: Any
) -> httpx.Response:
    request = httpx.Request(
        method,
        f"http://novu.test{path or f'/v1/integrations/{SES}/set-primary'}",
        headers=kw.pop("headers", {"Authorization": "ApiKey k"}),
        **kw,
    )
    return httpx.Response(status, json=body, request=request)


GOOD_INTEGRATION = {
    "_id": SES,
    "_environmentId": "e",
    "_organizationId": "o",
    "name": "n",
    "identifier": "ses-backup",
    "providerId": "ses",
    "channel": "email",
    "credentials": {},
    "active": True,
    "deleted": False,
    "primary": True,
}


def test_helper_accepts_a_good_enveloped_integration() -> None:
    validate_exchange(_exchange(200, {"data": GOOD_INTEGRATION}))


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        pytest.param(
            _exchange(200, {"data": {**GOOD_INTEGRATION, "channel": "fax"}}),
            "channel",
            id="bad-enum",
        ),
        pytest.param(
            _exchange(200, {"data": {k: v for k, v in GOOD_INTEGRATION.items() if k != "primary"}}),
            "primary",
            id="missing-required",
        ),
        pytest.param(_exchange(502, "bad gateway"), "502", id="undocumented-status"),
        pytest.param(
            _exchange(
                404,
                {"statusCode": 404, "path": "/x", "message": "m"},
                method="GET",
                path="/v1/integrations",
            ),
            "timestamp",
            id="error-dto-missing-timestamp",
        ),
        pytest.param(
            _exchange(
                200,
                {"hasMore": False, "page": 0, "pageSize": 10},
                method="GET",
                path="/v1/messages",
            ),
            "data",
            id="messages-missing-data",
        ),
    ],
)
def test_helper_rejects_bad_responses(response: httpx.Response, fragment: str) -> None:
    with pytest.raises(AssertionError, match=fragment):
        validate_response(response.request, response)


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        pytest.param(
            httpx.Request("POST", f"http://n/v1/integrations/{SES}/set-primary"),
            "Authorization",
            id="no-authorization",
        ),
        pytest.param(
            httpx.Request("GET", "http://n/v1/not-in-novu", headers={"Authorization": "ApiKey k"}),
            "not found",
            id="unknown-path",
        ),
        pytest.param(
            httpx.Request(
                "PUT",
                f"http://n/v1/integrations/{SES}",
                headers={"Authorization": "ApiKey k"},
                json={"active": "yes"},
            ),
            "active",
            id="wrong-body-type",
        ),
        pytest.param(
            httpx.Request(
                "GET",
                "http://n/v1/messages",
                params={"channel": "fax"},
                headers={"Authorization": "ApiKey k"},
            ),
            "channel",
            id="bad-query-enum",
        ),
    ],
)
def test_helper_rejects_bad_requests(request_: httpx.Request, fragment: str) -> None:
    with pytest.raises(AssertionError, match=fragment):
        validate_request(request_)


def test_helper_accepts_list_messages_as_a_documented_live_deviation() -> None:
    assert "ErrorDto.message" in LIVE_DEVIATIONS
    body = {"statusCode": 400, "timestamp": "t", "path": "/p", "message": ["a", "b"]}
    validate_exchange(_exchange(400, body))
    with pytest.raises(AssertionError):
        validate_exchange(_exchange(400, {**body, "message": [1, 2]}))


def test_helper_unwraps_only_the_pure_envelope() -> None:
    assert unwrap_envelope({"data": [1]}) == [1]
    page = {"data": [], "hasMore": False, "page": 0, "pageSize": 10}
    assert unwrap_envelope(page) is page
