"""NovuClient against httpx.MockTransport: exact fault sequences, retries, parsing, errors."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from recording import Recording

from daemon.clock import FakeClock
from daemon.novu import (
    NovuApiError,
    NovuAuthError,
    NovuClient,
    NovuError,
    NovuNotFound,
    NovuProtocolError,
    NovuUnavailable,
    RetryPolicy,
    parse,
)
from daemon.sim.faults import Fault
from daemon.sim.novu import NovuSimulator, create_novu_app

BASE = "http://novu.test"
KEY = "sk-unit-key-0123"
ENV = "65a1b2c3d4e5f6a7b8c9d0e1"
OTHER_ENV = "65a1b2c3d4e5f6a7b8c9d0ff"
SENDGRID = "64f000000000000000000001"
SES = "64f000000000000000000002"
TWILIO = "64f000000000000000000003"
CREDENTIAL = "SG.very-secret-credential"

Handler = Callable[[httpx.Request], httpx.Response]


def integration(
    _id: str,
    identifier: str,
    *,
    channel: str = "email",
    env: str = ENV,
    active: bool = True,
    primary: bool = False,
    conditions: list[dict[str, Any]] | None = None,
    deleted: bool = False,
) -> dict[str, Any]:
    """An IntegrationResponseDto as an older server sends it: credentials decrypted."""
    return {
        "_id": _id,
        "_environmentId": env,
        "_organizationId": "65a000000000000000000000",
        "name": identifier.title(),
        "identifier": identifier,
        "providerId": identifier.split("-", maxsplit=1)[0],
        "channel": channel,
        "credentials": {"apiKey": CREDENTIAL},
        "active": active,
        "deleted": deleted,
        "primary": primary,
        "conditions": conditions or [],
        "priority": 1,
    }


def error_body(status: int, message: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "timestamp": "2024-05-01T10:00:00.000Z",
        "path": "/v1/integrations",
        "message": message,
    }


class Script:
    """A MockTransport handler that answers from a list and records every request."""

    def __init__(self, *responses: httpx.Response | Exception | Handler) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)


class Sleeps(list[float]):
    """An injected sleep that records how long it was asked to wait and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def ok(body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def fail(status: int, message: Any = "boom", **headers: str) -> httpx.Response:
    return httpx.Response(status, json=error_body(status, message), headers=headers)


def client_for(
    script: Script | Handler,
    *,
    sleeps: Sleeps | None = None,
    retry: RetryPolicy | None = None,
    environment_id: str | None = None,
    timeout: float = 10.0,
    on_request: Callable[[str, str], None] | None = None,
    base_url: str = BASE,
) -> NovuClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return NovuClient(
        http,
        environment="production",
        base_url=base_url,
        api_key=SecretStr(KEY),
        environment_id=environment_id,
        retry=retry or RetryPolicy(),
        timeout=timeout,
        sleep=sleeps if sleeps is not None else Sleeps(),
        on_request=on_request,
    )


EMAIL_LIST = [
    integration(SENDGRID, "sendgrid-main", primary=True),
    integration(SES, "ses-backup", active=False),
    integration(TWILIO, "twilio-sms", channel="sms", primary=True),
]


# -- reading integrations -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [pytest.param({"data": EMAIL_LIST}, id="enveloped"), pytest.param(EMAIL_LIST, id="bare")],
)
async def test_list_integrations_accepts_enveloped_and_bare_bodies(body: Any) -> None:
    script = Script(ok(body))
    integrations = await client_for(script).list_integrations("email")
    assert [i.identifier for i in integrations] == ["sendgrid-main", "ses-backup"]
    sendgrid, ses = integrations
    assert (sendgrid.id, sendgrid.primary, sendgrid.active) == (SENDGRID, True, True)
    assert (ses.primary, ses.active, ses.provider_id, ses.environment_id) == (
        False,
        False,
        "ses",
        ENV,
    )


async def test_requests_carry_the_api_key_header_and_join_base_url_and_path() -> None:
    script = Script(ok(EMAIL_LIST))
    await client_for(script, base_url="http://novu.test/api/").list_integrations()
    (request,) = script.requests
    assert request.method == "GET"
    assert str(request.url) == "http://novu.test/api/v1/integrations"
    assert request.headers["Authorization"] == f"ApiKey {KEY}"
    assert "idempotency-key" not in request.headers


async def test_credentials_are_dropped_at_parse_time() -> None:
    integrations = await client_for(Script(ok({"data": EMAIL_LIST}))).list_integrations()
    assert integrations
    for item in integrations:
        assert "credentials" not in asdict(item)
        assert CREDENTIAL not in repr(item)
        assert CREDENTIAL not in json.dumps(asdict(item))


async def test_deleted_integrations_are_left_out() -> None:
    body = [*EMAIL_LIST, integration("64f000000000000000000009", "gone", deleted=True)]
    integrations = await client_for(Script(ok(body))).list_integrations()
    assert "gone" not in [i.identifier for i in integrations]


async def test_channel_view_holds_the_channel_and_its_primary() -> None:
    view = await client_for(Script(ok(EMAIL_LIST))).channel_view("sms", now=123.0)
    assert (view.environment, view.channel, view.fetched_at) == ("production", "sms", 123.0)
    assert view.primary is not None
    assert view.primary.identifier == "twilio-sms"


async def test_conditions_are_kept_as_plain_json() -> None:
    conditions = [{"isNegated": False, "type": "BOOLEAN", "value": "AND", "children": []}]
    body = [integration(SES, "ses-backup", conditions=conditions)]
    (ses,) = await client_for(Script(ok(body))).list_integrations()
    assert ses.conditions == tuple(conditions)


async def test_old_server_listing_every_environment_is_filtered_by_environment_id() -> None:
    body = [*EMAIL_LIST, integration("64f000000000000000000008", "dev-sendgrid", env=OTHER_ENV)]
    integrations = await client_for(Script(ok(body)), environment_id=ENV).list_integrations()
    assert {i.environment_id for i in integrations} == {ENV}
    assert "dev-sendgrid" not in [i.identifier for i in integrations]


async def test_several_environments_without_environment_id_is_an_error_naming_the_setting() -> None:
    body = [*EMAIL_LIST, integration("64f000000000000000000008", "dev-sendgrid", env=OTHER_ENV)]
    with pytest.raises(NovuError, match=r"environments\.production\.environment_id") as info:
        await client_for(Script(ok(body))).list_integrations()
    assert ENV in str(info.value)
    assert OTHER_ENV in str(info.value)


async def test_an_environment_id_matching_nothing_is_an_error() -> None:
    with pytest.raises(NovuError, match="environment_id"):
        await client_for(Script(ok(EMAIL_LIST)), environment_id=OTHER_ENV).list_integrations()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param({"data": {"not": "a list"}}, "list of integrations", id="not-a-list"),
        pytest.param([{**EMAIL_LIST[0], "active": "yes"}], "'active'", id="active-not-bool"),
        pytest.param([{k: v for k, v in EMAIL_LIST[0].items() if k != "_id"}], "'_id'", id="no-id"),
        pytest.param(["a string"], "JSON object", id="item-not-object"),
    ],
)
async def test_an_unexpected_body_is_a_protocol_error(body: Any, match: str) -> None:
    with pytest.raises(NovuProtocolError, match=match):
        await client_for(Script(ok(body))).list_integrations()


async def test_a_non_json_success_body_is_a_protocol_error() -> None:
    script = Script(httpx.Response(200, text="<html>hello</html>"))
    with pytest.raises(NovuProtocolError, match="not JSON"):
        await client_for(script).list_integrations()


# -- writes ---------------------------------------------------------------------------------


async def test_set_primary_posts_with_the_idempotency_key() -> None:
    updated = integration(SES, "ses-backup", primary=True)
    script = Script(ok({"data": updated}))
    result = await client_for(script).set_primary(SES, idempotency_key="action-1")
    (request,) = script.requests
    assert request.method == "POST"
    assert request.url.path == f"/v1/integrations/{SES}/set-primary"
    assert request.headers["Idempotency-Key"] == "action-1"
    assert (result.value.identifier, result.value.primary) == ("ses-backup", True)
    assert (result.attempts, result.replayed) == (1, False)


async def test_set_primary_reports_a_replayed_response() -> None:
    script = Script(
        ok(integration(SES, "ses-backup", primary=True), **{"Idempotency-Replay": "true"})
    )
    result = await client_for(script).set_primary(SES, idempotency_key="k")
    assert result.replayed


async def test_set_primary_quotes_the_integration_id_into_one_path_segment() -> None:
    script = Script(ok(integration(SES, "ses-backup")))
    await client_for(script).set_primary("../../v1/environments", idempotency_key="k")
    assert (
        script.requests[0].url.raw_path
        == b"/v1/integrations/..%2F..%2Fv1%2Fenvironments/set-primary"
    )


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_set_primary_refuses_a_bad_idempotency_key_before_sending(key: str) -> None:
    script = Script(ok(integration(SES, "ses-backup")))
    with pytest.raises(ValueError, match="idempotency key"):
        await client_for(script).set_primary(SES, idempotency_key=key)
    assert script.requests == []


async def test_activate_puts_active_true_without_a_credentials_check() -> None:
    script = Script(ok(integration(SES, "ses-backup", primary=True)))
    result = await client_for(script).activate(SES)
    (request,) = script.requests
    assert (request.method, request.url.path) == ("PUT", f"/v1/integrations/{SES}")
    assert json.loads(request.content) == {"active": True, "check": False}
    assert "idempotency-key" not in request.headers
    assert result.value.identifier == "ses-backup"


# -- retries --------------------------------------------------------------------------------


async def test_429_waits_what_retry_after_says_then_succeeds() -> None:
    sleeps = Sleeps()
    script = Script(
        httpx.Response(429, json="API rate limit exceeded", headers={"Retry-After": "3"}),
        ok(integration(SES, "ses-backup", primary=True)),
    )
    result = await client_for(script, sleeps=sleeps).set_primary(SES, idempotency_key="k")
    assert sleeps == [3.0]
    assert result.attempts == 2


async def test_retry_after_as_an_http_date_is_honoured() -> None:
    sleeps = Sleeps()
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    script = Script(fail(503, **{"Retry-After": when}), ok(EMAIL_LIST))
    await client_for(script, sleeps=sleeps).list_integrations()
    assert len(sleeps) == 1
    assert 3.0 <= sleeps[0] <= 5.0


async def test_409_in_progress_is_retried_with_the_same_idempotency_key() -> None:
    sleeps = Sleeps()
    in_progress = fail(
        409, "Request with key k is currently being processed", **{"Retry-After": "1"}
    )
    script = Script(in_progress, in_progress, ok(integration(SES, "ses-backup", primary=True)))
    result = await client_for(script, sleeps=sleeps).set_primary(SES, idempotency_key="action-7")
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert keys == ["action-7"] * 3
    assert sleeps == [1.0, 1.0]
    assert result.attempts == 3


async def test_5xx_is_retried_with_exponential_backoff_then_unavailable() -> None:
    sleeps = Sleeps()
    script = Script(fail(503, "Service Unavailable"))
    with pytest.raises(NovuUnavailable) as info:
        await client_for(script, sleeps=sleeps).set_primary(SES, idempotency_key="k")
    assert len(script.requests) == 5
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    error = info.value
    assert (error.last_status, error.attempts, error.call) == (503, 5, "set_primary")
    assert isinstance(error.__cause__, NovuApiError)
    assert error.__cause__.status == 503
    assert {r.headers["Idempotency-Key"] for r in script.requests} == {"k"}


async def test_backoff_is_capped_at_max_delay() -> None:
    sleeps = Sleeps()
    retry = RetryPolicy(attempts=6, base_delay=1.0, max_delay=3.0, total=100.0)
    with pytest.raises(NovuUnavailable):
        await client_for(Script(fail(500)), sleeps=sleeps, retry=retry).list_integrations()
    assert sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        pytest.param(httpx.ReadTimeout("read timed out"), "timeout", id="read-timeout"),
        pytest.param(httpx.ConnectError("connection refused"), "error", id="connect-error"),
        pytest.param(httpx.RemoteProtocolError("server hung up"), "error", id="protocol-error"),
    ],
)
async def test_transport_failures_are_retried_then_unavailable(
    exc: Exception, outcome: str
) -> None:
    reports: list[tuple[str, str]] = []
    script = Script(exc)
    retry = RetryPolicy(attempts=3)
    with pytest.raises(NovuUnavailable) as info:
        await client_for(script, retry=retry, on_request=lambda *r: reports.append(r)).activate(SES)
    assert len(script.requests) == 3
    assert info.value.last_status is None
    assert info.value.__cause__ is exc
    assert reports == [("activate", outcome)] * 3


async def test_a_hung_request_is_cut_by_the_client_timeout() -> None:
    """Transports that ignore httpx timeouts (ASGITransport) are still bounded."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    http = httpx.AsyncClient(transport=httpx.MockTransport(hang))
    client = NovuClient(
        http,
        environment="production",
        base_url=BASE,
        api_key=SecretStr(KEY),
        retry=RetryPolicy(attempts=2),
        timeout=0.05,
        sleep=Sleeps(),
    )
    with pytest.raises(NovuUnavailable, match="timed out"):
        await client.list_integrations()


async def test_the_total_bound_stops_retries_before_it_is_passed() -> None:
    sleeps = Sleeps()
    retry = RetryPolicy(attempts=10, base_delay=0.5, max_delay=8.0, total=3.0)
    script = Script(fail(502))
    with pytest.raises(NovuUnavailable, match=r"would pass the 3s bound"):
        await client_for(script, sleeps=sleeps, retry=retry).list_integrations()
    assert sleeps == [0.5, 1.0]  # a third wait (2.0s) would end past 3s
    assert len(script.requests) == 3


async def test_a_retry_after_beyond_the_bound_ends_the_call_without_waiting() -> None:
    sleeps = Sleeps()
    script = Script(fail(429, "slow down", **{"Retry-After": "60"}), ok(EMAIL_LIST))
    with pytest.raises(NovuUnavailable) as info:
        await client_for(script, sleeps=sleeps).list_integrations()
    assert sleeps == []
    assert len(script.requests) == 1
    assert info.value.last_status == 429


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        pytest.param(400, NovuApiError, id="400"),
        pytest.param(401, NovuAuthError, id="401"),
        pytest.param(403, NovuAuthError, id="403"),
        pytest.param(404, NovuNotFound, id="404"),
        pytest.param(422, NovuApiError, id="422-key-reused-with-another-body"),
    ],
)
async def test_other_4xx_are_not_retried(status: int, kind: type[NovuApiError]) -> None:
    sleeps = Sleeps()
    script = Script(fail(status, "nope"), ok(integration(SES, "ses-backup")))
    with pytest.raises(kind) as info:
        await client_for(script, sleeps=sleeps).set_primary(SES, idempotency_key="k")
    assert type(info.value) is kind
    assert len(script.requests) == 1
    assert sleeps == []
    assert (info.value.status, info.value.message, info.value.attempts) == (status, "nope", 1)


async def test_a_validation_error_list_becomes_one_message() -> None:
    script = Script(fail(400, ["integrationId must be a mongodb id", "another"]))
    with pytest.raises(NovuApiError) as info:
        await client_for(script).set_primary("nope", idempotency_key="k")
    assert info.value.message == "integrationId must be a mongodb id; another"
    assert str(info.value) == (
        "Novu set_primary failed: HTTP 400: integrationId must be a mongodb id; another"
    )


async def test_error_messages_are_cut_and_scrubbed_of_the_api_key() -> None:
    echoed = f"bad key ApiKey {KEY} " + "x" * 400
    script = Script(fail(401, echoed))
    with pytest.raises(NovuAuthError) as info:
        await client_for(script).list_integrations()
    assert KEY not in str(info.value)
    assert len(info.value.message) <= 256
    assert "[redacted]" in info.value.message


async def test_only_the_error_message_field_is_kept_from_an_error_body() -> None:
    body = {**error_body(400, "invalid"), "errors": {"credentials": {"value": CREDENTIAL}}}
    script = Script(httpx.Response(400, json=body))
    with pytest.raises(NovuApiError) as info:
        await client_for(script).activate(SES)
    assert CREDENTIAL not in str(info.value)
    assert info.value.message == "invalid"


async def test_each_retry_is_logged_with_attempt_wait_request_and_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="novu_failover.novu")
    script = Script(fail(503), ok(integration(SES, "ses-backup", primary=True)))
    await client_for(script).set_primary(SES, idempotency_key="k")
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries == [
        f"attempt 1/5 failed; retrying in 0.5s: POST /v1/integrations/{SES}/set-primary -> 503"
    ]
    assert all(r.name == "novu_failover.novu" for r in caplog.records)


async def test_on_request_sees_every_attempt_by_call_and_status() -> None:
    reports: list[tuple[str, str]] = []
    script = Script(fail(503), fail(429), ok(integration(SES, "ses-backup")))
    client = client_for(script, on_request=lambda *r: reports.append(r))
    await client.set_primary(SES, idempotency_key="k")
    assert reports == [("set_primary", "503"), ("set_primary", "429"), ("set_primary", "200")]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    failures=st.lists(st.sampled_from([408, 409, 429, 500, 502, 503, 504]), max_size=6),
    attempts=st.integers(min_value=1, max_value=6),
    total=st.floats(min_value=0.5, max_value=30.0),
)
def test_retries_keep_one_key_and_never_wait_past_the_bound(
    failures: list[int], attempts: int, total: float
) -> None:
    """Whatever retryable failures come first: one key, at most `attempts` requests, waits
    summing under `total`, and success exactly when it fits in both bounds."""
    # The client's bound also counts the real time the calls take (microseconds here), so
    # a total within a hair of a cumulative backoff can go either way: not a case to pin.
    retry = RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=8.0, total=total)
    waited = 0.0
    for n in range(1, len(failures) + 1):
        waited += retry.backoff(n)
        assume(abs(waited - total) > 0.01)
    sleeps = Sleeps()
    script = Script(*(fail(s) for s in failures), ok(integration(SES, "ses-backup")))
    client = client_for(script, sleeps=sleeps, retry=retry)

    async def run() -> int | None:
        try:
            result = await client.set_primary(SES, idempotency_key="the-key")
        except NovuUnavailable:
            return None
        return result.attempts

    got = asyncio.run(run())
    assert {r.headers["Idempotency-Key"] for r in script.requests} == {"the-key"}
    assert len(script.requests) <= attempts
    assert sum(sleeps) < total
    backoffs = [retry.backoff(n) for n in range(1, len(failures) + 1)]
    fits = len(failures) < attempts and sum(backoffs) < total
    assert got == (len(failures) + 1 if fits else None)


# -- messages -------------------------------------------------------------------------------


def message(at: str, status: str = "sent", provider: str = "sendgrid") -> dict[str, Any]:
    return {
        "_id": f"m-{at}",
        "channel": "email",
        "providerId": provider,
        "status": status,
        "createdAt": at,
        "errorId": "mail_send_failed" if status == "error" else None,
        "errorText": "boom" if status == "error" else None,
    }


def pages(*pages_: list[dict[str, Any]]) -> Iterator[httpx.Response]:
    for number, items in enumerate(pages_):
        body = {"data": items, "hasMore": number < len(pages_) - 1, "page": number, "pageSize": 2}
        yield ok(body)


async def test_recent_messages_pages_until_since_and_returns_newest_first() -> None:
    script = Script(
        *pages(
            [message("2024-05-01T10:00:05.000Z"), message("2024-05-01T10:00:04.000Z", "error")],
            [message("2024-05-01T10:00:03.000Z"), message("2024-05-01T09:00:00.000Z")],
            [message("2024-05-01T08:00:00.000Z")],
        )
    )
    since = parse.parse_time("2024-05-01T10:00:00Z")
    messages = await client_for(script).recent_messages("email", since=since, page_size=2)
    assert [m.created_at - since for m in messages] == [5.0, 4.0, 3.0]
    assert messages[1].status == "error"
    assert messages[1].error_id == "mail_send_failed"
    assert messages[0].provider_id == "sendgrid"
    assert len(script.requests) == 2  # page 1 reached back before `since`: no page 2
    params = [dict(r.url.params) for r in script.requests]
    assert params == [
        {"channel": "email", "page": "0", "limit": "2"},
        {"channel": "email", "page": "1", "limit": "2"},
    ]


async def test_recent_messages_stops_at_max_pages() -> None:
    page = [message("2024-05-01T10:00:05.000Z")]
    body = {"data": page, "hasMore": True, "page": 0, "pageSize": 1}
    script = Script(ok(body))
    await client_for(script).recent_messages("email", since=0.0, page_size=1, max_pages=3)
    assert len(script.requests) == 3


async def test_recent_messages_skips_a_message_with_an_unreadable_time() -> None:
    body = {"data": [message("yesterday"), message("2024-05-01T10:00:05Z")], "hasMore": False}
    messages = await client_for(Script(ok({"data": body}))).recent_messages("sms", since=0.0)
    assert len(messages) == 1


# -- parsing helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("7", 7.0, id="seconds"),
        pytest.param("1.5", 1.5, id="fraction"),
        pytest.param("-3", 0.0, id="negative-is-now"),
        pytest.param("Wed, 01 May 2024 10:00:10 GMT", 10.0, id="http-date"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("nan", None, id="nan"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after_header_values(header: str | None, expected: float | None) -> None:
    now = parse.parse_time("2024-05-01T10:00:00Z")
    assert parse.retry_after(header, now=now) == expected


def test_unwrap_leaves_paginated_bodies_alone() -> None:
    page = {"data": [1], "hasMore": False, "page": 0, "pageSize": 10}
    assert parse.unwrap(page) is page
    assert parse.unwrap({"data": page}) is page
    assert parse.unwrap([1]) == [1]


# -- against the Novu simulator (httpx.ASGITransport) ---------------------------------------

PROD_ENV_ID = "6650a1b2c3d4e5f6000000a1"
SIM_SES = "6650a1b2c3d4e5f600000102"


def sim_client(
    sim: NovuSimulator,
    *,
    environment: str = "production",
    sleeps: Sleeps | Callable[[float], Any] | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 10.0,
    environment_id: str | None = None,
    api_key: str | None = None,
) -> tuple[NovuClient, Recording]:
    recording = Recording(httpx.ASGITransport(app=create_novu_app(sim)))
    client = NovuClient(
        httpx.AsyncClient(transport=recording),
        environment=environment,
        base_url="http://novu.sim",
        api_key=SecretStr(api_key or sim.api_key(environment)),
        environment_id=environment_id,
        retry=retry or RetryPolicy(),
        timeout=timeout,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    return client, recording


@pytest.fixture
def sim() -> NovuSimulator:
    return NovuSimulator(clock=FakeClock(), rate_limit=None)


@pytest.mark.parametrize("envelope", [True, False], ids=["enveloped", "bare"])
async def test_sim_lists_a_channel_with_or_without_the_envelope(
    sim: NovuSimulator, envelope: bool
) -> None:
    sim.envelope = envelope
    client, _ = sim_client(sim)
    view = await client.channel_view("email", now=0.0)
    assert [i.identifier for i in view.integrations] == [
        "sendgrid-main",
        "ses-backup",
        "mailgun-backup",
    ]
    assert view.primary is not None
    assert view.primary.identifier == "sendgrid-main"
    result = await client.set_primary(SIM_SES, idempotency_key="k1")
    assert (result.value.identifier, result.value.primary, result.value.active) == (
        "ses-backup",
        True,
        True,
    )


async def test_sim_old_server_is_filtered_by_environment_id(sim: NovuSimulator) -> None:
    sim.old_server = True
    client, _ = sim_client(sim, environment_id=PROD_ENV_ID)
    integrations = await client.list_integrations("email")
    assert "sendgrid-dev" not in [i.identifier for i in integrations]
    assert {i.environment_id for i in integrations} == {PROD_ENV_ID}
    unset, _ = sim_client(sim)
    with pytest.raises(NovuError, match=r"set environments\.production\.environment_id"):
        await unset.list_integrations("email")


async def test_sim_429_retry_after_is_honoured(sim: NovuSimulator) -> None:
    sim.faults.add(Fault(kind="rate_limit", path="/v1/integrations", count=1, seconds=2))
    sleeps = Sleeps()
    client, recording = sim_client(sim, sleeps=sleeps)
    result = await client.set_primary(SIM_SES, idempotency_key="k-429")
    assert sleeps == [2.0]
    assert result.attempts == 2
    assert [r.status_code for _, r in recording.exchanges] == [429, 200]


async def test_sim_5xx_then_success_switches_once(sim: NovuSimulator) -> None:
    sim.faults.add(Fault(kind="error", path="/v1/integrations", count=2, status=503))
    sleeps = Sleeps()
    client, recording = sim_client(sim, sleeps=sleeps)
    result = await client.set_primary(SIM_SES, idempotency_key="k-5xx")
    assert (result.attempts, sleeps) == (3, [0.5, 1.0])
    assert {r.headers["Idempotency-Key"] for r in recording.requests} == {"k-5xx"}
    assert sim.set_primary_targets() == ["ses-backup"]


async def test_sim_persistent_5xx_ends_unavailable(sim: NovuSimulator) -> None:
    sim.faults.add(Fault(kind="error", path="/v1/integrations", status=500))
    client, recording = sim_client(sim)
    with pytest.raises(NovuUnavailable) as info:
        await client.set_primary(SIM_SES, idempotency_key="k-500")
    assert (info.value.last_status, len(recording.exchanges)) == (500, 5)
    assert sim.primary("production", "email").identifier == "sendgrid-main"  # type: ignore[union-attr]


async def test_sim_a_lost_answer_is_replayed_not_redone(sim: NovuSimulator) -> None:
    """set-primary ran but its answer was lost: the retry with the same key gets a replay."""
    sim.faults.add(Fault(kind="error", path="/v1/integrations", count=1, status=503, phase="after"))
    client, recording = sim_client(sim)
    result = await client.set_primary(SIM_SES, idempotency_key="k-lost")
    assert result.replayed
    assert result.value.identifier == "ses-backup"
    assert [r.headers["Idempotency-Key"] for r in recording.requests] == ["k-lost", "k-lost"]
    calls = [(c.status, c.executed, c.replay) for c in sim.calls]
    assert calls == [(503, True, False), (200, False, True)]  # done once, then replayed


async def test_sim_timeouts_are_retried_within_the_bound(sim: NovuSimulator) -> None:
    sim.faults.add(Fault(kind="timeout", path="/v1/integrations", count=1, seconds=30))
    client, recording = sim_client(sim, timeout=0.05)
    result = await client.set_primary(SIM_SES, idempotency_key="k-timeout")
    assert result.attempts == 2
    assert len(recording.exchanges) == 1  # the hung request never answered
    assert sim.primary("production", "email").identifier == "ses-backup"  # type: ignore[union-attr]


async def test_sim_timeouts_every_time_end_unavailable(sim: NovuSimulator) -> None:
    sim.faults.add(Fault(kind="timeout", path="/v1/integrations", seconds=30))
    client, _ = sim_client(sim, timeout=0.02, retry=RetryPolicy(attempts=3))
    try:
        with pytest.raises(NovuUnavailable, match="timed out") as info:
            await client.list_integrations()
    finally:
        sim.release_hangs()
    assert info.value.last_status is None
    assert info.value.attempts == 3


async def test_sim_409_in_progress_is_retried_with_the_same_key() -> None:
    """A first request with the key is still running: 409 + Retry-After 1, then a replay."""
    gate, holding = asyncio.Event(), asyncio.Event()

    async def held(seconds: float) -> None:
        holding.set()
        await gate.wait()

    sim = NovuSimulator(clock=FakeClock(), rate_limit=None, sleep=held)
    sim.faults.add(Fault(kind="latency", path="/v1/integrations", count=1, seconds=1))
    app = create_novu_app(sim)
    first_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s")
    headers = {"Authorization": f"ApiKey {sim.api_key()}", "Idempotency-Key": "k-409"}
    first = asyncio.create_task(
        first_http.post(f"/v1/integrations/{SIM_SES}/set-primary", headers=headers)
    )
    await holding.wait()  # the first request has claimed the key and is being processed
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        gate.set()
        await first

    client, recording = sim_client(sim, sleeps=sleep)
    result = await client.set_primary(SIM_SES, idempotency_key="k-409")
    assert [r.status_code for _, r in recording.exchanges] == [409, 200]
    assert [r.headers["Idempotency-Key"] for r in recording.requests] == ["k-409", "k-409"]
    assert waits == [1.0]
    assert result.replayed
    assert (await first).status_code == 200
    assert sim.set_primary_targets() == ["ses-backup"]


@pytest.mark.parametrize(
    ("integration_id", "kind", "status"),
    [
        pytest.param("not-a-mongo-id", NovuApiError, 400, id="400-bad-id"),
        pytest.param("6650a1b2c3d4e5f600000d01", NovuAuthError, 403, id="403-other-environment"),
        pytest.param("6650a1b2c3d4e5f60000ffff", NovuNotFound, 404, id="404-unknown"),
    ],
)
async def test_sim_4xx_are_not_retried(
    sim: NovuSimulator, integration_id: str, kind: type[NovuApiError], status: int
) -> None:
    sleeps = Sleeps()
    client, recording = sim_client(sim, sleeps=sleeps)
    with pytest.raises(kind) as info:
        await client.set_primary(integration_id, idempotency_key=f"k-{status}")
    assert (info.value.status, len(recording.exchanges), sleeps) == (status, 1, [])


async def test_sim_a_wrong_key_is_an_auth_error_without_retry(sim: NovuSimulator) -> None:
    client, recording = sim_client(sim, api_key="sk-not-a-simulator-key")
    with pytest.raises(NovuAuthError) as info:
        await client.list_integrations()
    assert (info.value.status, len(recording.exchanges)) == (401, 1)


async def test_sim_inactive_primary_is_activated_by_put(sim: NovuSimulator) -> None:
    target = sim.integration("ses-backup")
    for item in sim.integrations("production"):
        if item.channel == "email":
            item.primary = False
    target.primary, target.active = True, False
    client, _ = sim_client(sim)
    unchanged = await client.set_primary(target.id, idempotency_key="k-inactive")
    assert (unchanged.value.primary, unchanged.value.active) == (True, False)
    activated = await client.activate(target.id)
    assert (activated.value.primary, activated.value.active) == (True, True)
    assert sim.integration("ses-backup").active


async def test_sim_recent_messages_newest_first_within_the_window() -> None:
    clock = FakeClock(1_700_000_000.0)
    sim = NovuSimulator(clock=clock, rate_limit=None)
    for offset in range(0, 250, 10):  # 25 messages, 10s apart
        sim.send("email", now=clock.now() + offset)
    sim.set_provider_failing("sendgrid", True)
    failed = sim.send("email", now=clock.now() + 251)
    assert failed is not None
    client, recording = sim_client(sim)
    since = clock.now() + 100
    messages = await client.recent_messages("email", since=since, page_size=5)
    assert [m.created_at for m in messages] == sorted(
        (m.created_at for m in messages), reverse=True
    )
    assert len(messages) == 16  # 100..240 step 10, plus the failed one at 251
    assert messages[0].status == "error"
    assert messages[0].error_id is not None
    assert {m.provider_id for m in messages} == {"sendgrid"}
    assert len(recording.exchanges) == 4  # the 4th page reaches back before `since`


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"bad key {KEY}", "bad key [redacted]", id="the-key-by-value"),
        pytest.param("sent ApiKey abc123", "sent ApiKey [redacted]", id="authorization-value"),
        pytest.param("Bearer x.y.z denied", "Bearer [redacted] denied", id="bearer"),
        pytest.param(
            "secretKey: abc, apiKey=def, account_sid = AC1",
            "secretKey: [redacted], apiKey=[redacted], account_sid = [redacted]",
            id="secret-pairs",
        ),
        pytest.param(
            "credentials {'apiKey': 'A', 'tls': {'ca': 'B'}} rejected",
            "credentials (object redacted) rejected",
            id="nested-object",
        ),
        pytest.param(
            "credentials.apiKey must be a string",
            "credentials.apiKey must be a string",
            id="validation-prose-kept",
        ),
        pytest.param(
            f"Integration with id {SES} not found",
            f"Integration with id {SES} not found",
            id="ids-kept",
        ),
    ],
)
def test_scrub_redacts_secrets_and_keeps_useful_text(text: str, expected: str) -> None:
    assert parse.scrub(text, [KEY]) == expected
