"""Every request the client sends and every answer it gets from the simulator keep to
Novu's OpenAPI document (tests/openapi_contract.py), on success and on error paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from openapi_contract import validate_request, validate_response
from pydantic import SecretStr
from recording import Recording

from daemon.actuator import Actuator
from daemon.clock import FakeClock
from daemon.model import AuditRecord, Decision, DecisionKind
from daemon.novu import NovuClient, NovuError, RetryPolicy
from daemon.rules.model import ChannelRule
from daemon.sim.faults import Fault
from daemon.sim.novu import NovuSimulator, create_novu_app

SES = "6650a1b2c3d4e5f600000102"
DEV_SENDGRID = "6650a1b2c3d4e5f600000d01"


async def no_sleep(seconds: float) -> None:
    del seconds


def rig(sim: NovuSimulator, *, api_key: str | None = None) -> tuple[NovuClient, Recording]:
    recording = Recording(httpx.ASGITransport(app=create_novu_app(sim)))
    client = NovuClient(
        httpx.AsyncClient(transport=recording),
        environment="production",
        base_url="http://novu.sim",
        api_key=SecretStr(api_key or sim.api_key("production")),
        environment_id="6650a1b2c3d4e5f6000000a1",
        retry=RetryPolicy(attempts=3),
        sleep=no_sleep,
    )
    return client, recording


def assert_contract(recording: Recording) -> list[int]:
    """Validate every exchange; return the statuses seen (so a test can show what it hit)."""
    assert recording.exchanges, "nothing was sent"
    for request, response in recording.exchanges:
        validate_request(request)
        validate_response(request, response)
    return [response.status_code for _, response in recording.exchanges]


def make_sim(**options: Any) -> NovuSimulator:
    sim = NovuSimulator(clock=FakeClock(), rate_limit=None, **options)
    for offset in range(12):
        sim.send("email", now=1_700_000_000.0 + offset)
    sim.set_provider_failing("sendgrid", True)
    sim.send("email", now=1_700_000_100.0)
    return sim


Scenario = Callable[[NovuClient], Awaitable[object]]


async def _every_call(client: NovuClient) -> None:
    await client.list_integrations("email")
    await client.set_primary(SES, idempotency_key="contract-1")
    await client.activate(SES)
    await client.recent_messages("email", since=1_699_999_000.0, page_size=5, max_pages=3)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="live-like"),
        pytest.param({"envelope": False}, id="bare-bodies"),
        pytest.param({"old_server": True}, id="old-server"),
        pytest.param({"blank_credentials": True}, id="blank-credentials"),
        pytest.param({"idempotency": False}, id="no-idempotency"),
    ],
)
async def test_list_set_primary_put_and_messages_keep_to_the_contract(
    options: dict[str, Any],
) -> None:
    client, recording = rig(make_sim(**options))
    await _every_call(client)
    statuses = assert_contract(recording)
    assert statuses == [200] * 6  # list, set-primary, PUT, three pages of messages
    paths = [(r.method, r.url.path) for r, _ in recording.exchanges]
    assert paths[:3] == [
        ("GET", "/v1/integrations"),
        ("POST", f"/v1/integrations/{SES}/set-primary"),
        ("PUT", f"/v1/integrations/{SES}"),
    ]
    assert set(paths[3:]) == {("GET", "/v1/messages")}


@pytest.mark.parametrize(
    ("fault", "statuses"),
    [
        pytest.param(Fault(kind="rate_limit", count=1), [429, 200], id="429"),
        pytest.param(Fault(kind="error", status=503, count=1), [503, 200], id="503"),
        pytest.param(Fault(kind="error", status=500, count=1), [500, 200], id="500"),
        pytest.param(
            Fault(kind="error", status=503, count=1, phase="after"), [503, 200], id="replay"
        ),
    ],
)
async def test_retried_error_answers_keep_to_the_contract(
    fault: Fault, statuses: list[int]
) -> None:
    sim = make_sim()
    sim.faults.add(fault)
    client, recording = rig(sim)
    await client.set_primary(SES, idempotency_key="contract-retry")
    assert assert_contract(recording) == statuses


@pytest.mark.parametrize(
    ("call", "status"),
    [
        pytest.param(lambda c: c.set_primary("nope", idempotency_key="k"), 400, id="400"),
        pytest.param(lambda c: c.set_primary(DEV_SENDGRID, idempotency_key="k"), 403, id="403"),
        pytest.param(
            lambda c: c.set_primary("6650a1b2c3d4e5f60000ffff", idempotency_key="k"),
            404,
            id="404",
        ),
        pytest.param(lambda c: c.set_primary(SES, idempotency_key="k" * 256), None, id="long-key"),
    ],
)
async def test_refused_calls_keep_to_the_contract(
    call: Callable[[NovuClient], Awaitable[object]], status: int | None
) -> None:
    client, recording = rig(make_sim())
    with pytest.raises((NovuError, ValueError)):
        await call(client)
    if status is None:  # refused by the client before sending: nothing to validate
        assert recording.exchanges == []
        return
    assert assert_contract(recording) == [status]


async def test_a_wrong_api_key_answer_keeps_to_the_contract() -> None:
    client, recording = rig(make_sim(), api_key="sk-wrong")
    with pytest.raises(NovuError):
        await client.list_integrations()
    assert assert_contract(recording) == [401]


class Audit:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def record(self, entry: AuditRecord) -> None:
        self.records.append(entry)


async def test_an_actuator_switch_and_activation_keep_to_the_contract() -> None:
    sim = make_sim()
    client, recording = rig(sim)
    actuator = Actuator(clients={"production": client}, clock=FakeClock(), audit=Audit())
    rule = ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": "email",
            "candidates": [
                {"integration": name, "signals": [{"http": {"url": "http://127.0.0.1:9/"}}]}
                for name in ("sendgrid-main", "ses-backup")
            ],
        }
    )
    decision = Decision(
        channel="production/email",
        kind=DecisionKind.SWITCH,
        reason="test",
        at=0.0,
        current="sendgrid-main",
        target="ses-backup",
        trigger="manual",
    )
    assert (await actuator.execute(rule, decision)).ok
    sim.integration("ses-backup").active = False  # primary but inactive: PUT is the fix
    activate = decision.replace(current="ses-backup")
    assert (await actuator.execute(rule, activate)).ok
    methods = [r.method for r, _ in recording.exchanges]
    assert methods == ["GET", "POST", "GET", "GET", "PUT", "GET"]
    assert_contract(recording)
