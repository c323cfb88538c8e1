"""The HTTP API over an in-memory control plane: every endpoint and every refusal path."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fake_control_plane import START, FakePlane
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from daemon.api import create_app

TOKEN = "s3cret-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}
CONTROL = ["/v1/pause", "/v1/resume", "/v1/ack", "/v1/failover"]
GOOD_BODIES: dict[str, dict[str, Any]] = {
    "/v1/pause": {"channel": "production/email", "reason": "provider maintenance"},
    "/v1/resume": {"channel": "production/email"},
    "/v1/ack": {"channel": "production/sms"},
    "/v1/failover": {
        "channel": "production/email",
        "target": "ses-backup",
        "reason": "SendGrid incident",
    },
}


@pytest.fixture
def plane() -> FakePlane:
    return FakePlane()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _app(plane: FakePlane, registry: CollectorRegistry, **kwargs: Any) -> Starlette:
    options: dict[str, Any] = {"api_token": SecretStr(TOKEN), "clock": plane.clock}
    options.update(kwargs)
    return create_app(plane, registry=registry, **options)


@pytest.fixture
async def client(plane: FakePlane, registry: CollectorRegistry) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(plane, registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as http:
        yield http


def _calls(plane: FakePlane, name: str) -> list[dict[str, Any]]:
    return [kwargs for called, kwargs in plane.calls if called == name]


# -- metrics and probes ----------------------------------------------------------------------


async def test_metrics_expose_the_given_registry_in_prometheus_text(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    Counter("novu_failover_test_total", "a test counter", registry=registry).inc(3)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "novu_failover_test_total 3.0" in response.text


async def test_metrics_speak_openmetrics_when_asked(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    Counter("novu_failover_test", "a test counter", registry=registry).inc()
    response = await client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


@pytest.mark.parametrize(
    ("path", "attribute", "state", "expected"),
    [
        pytest.param("/healthz", "alive_state", (True, "running"), 200, id="alive"),
        pytest.param("/healthz", "alive_state", (False, "scheduler stopped"), 503, id="dead"),
        pytest.param("/readyz", "ready_state", (True, {"rules": "loaded"}), 200, id="ready"),
        pytest.param("/readyz", "ready_state", (False, {"novu": "unreached"}), 503, id="unready"),
    ],
)
async def test_probes_answer_200_or_503_with_the_plane_detail(
    client: httpx.AsyncClient,
    plane: FakePlane,
    path: str,
    attribute: str,
    state: tuple[bool, Any],
    expected: int,
) -> None:
    setattr(plane, attribute, state)
    response = await client.get(path)
    assert response.status_code == expected
    assert response.json() == {"ok": state[0], "detail": state[1]}


async def test_a_probe_that_raises_is_unhealthy_not_a_crash(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    plane.fail_with = RuntimeError("boom")
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["ok"] is False


# -- read-only endpoints ---------------------------------------------------------------------


async def test_status_returns_the_plane_status_without_a_token(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    response = await client.get("/v1/status")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body == json.loads(json.dumps(plane.status_now()))
    email = body["channels"][0]
    assert email["channel"] == "production/email"
    assert email["primary"] == {"integration": "sendgrid-main", "active": True}
    assert [c["state"] for c in email["candidates"]] == ["down", "up", "unknown"]


async def test_events_default_to_the_first_fifty(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    response = await client.get("/v1/events")
    assert response.status_code == 200
    assert response.json() == {"events": [], "total": 0, "offset": 0, "limit": 50}
    assert _calls(plane, "events") == [{"limit": 50, "offset": 0}]


@pytest.mark.parametrize(
    ("query", "limit", "offset"),
    [
        pytest.param("limit=1", 1, 0, id="smallest-page"),
        pytest.param("limit=500&offset=20", 500, 20, id="largest-page"),
        pytest.param("offset=1000000", 50, 1_000_000, id="far-offset"),
    ],
)
async def test_events_accept_paging_within_bounds(
    client: httpx.AsyncClient, plane: FakePlane, query: str, limit: int, offset: int
) -> None:
    response = await client.get(f"/v1/events?{query}")
    assert response.status_code == 200
    assert _calls(plane, "events") == [{"limit": limit, "offset": offset}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("limit=0", "limit must be an integer from 1 to 500 (got '0')", id="zero"),
        pytest.param("limit=501", "limit must be an integer from 1 to 500", id="too-many"),
        pytest.param("limit=ten", "limit must be an integer from 1 to 500", id="not-a-number"),
        pytest.param("limit=1.5", "limit must be an integer", id="fraction"),
        pytest.param("limit=", "limit must be an integer", id="empty"),
        pytest.param("offset=-1", "offset must be an integer from 0 to 1000000", id="negative"),
        pytest.param("offset=99999999999999", "offset must be an integer", id="huge"),
    ],
)
async def test_events_refuse_paging_out_of_bounds_with_400(
    client: httpx.AsyncClient, plane: FakePlane, query: str, message: str
) -> None:
    response = await client.get(f"/v1/events?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert plane.calls == []


async def test_events_page_through_the_audit_trail_newest_first(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    for target in ("ses-backup", "mailgun-spare", "sendgrid-main"):
        plane.clock.advance(60)
        await client.post(
            "/v1/failover",
            headers=AUTH,
            json={**GOOD_BODIES["/v1/failover"], "target": target, "force": True},
        )
    first = (await client.get("/v1/events?limit=2")).json()
    second = (await client.get("/v1/events?limit=2&offset=2")).json()
    assert [e["to"] for e in first["events"]] == ["sendgrid-main", "mailgun-spare"]
    assert [e["to"] for e in second["events"]] == ["ses-backup"]
    assert first["total"] == second["total"] == 3


async def test_explain_joins_environment_and_channel(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    response = await client.get("/v1/explain/production/email")
    assert response.status_code == 200
    body = response.json()
    assert body["channel"] == "production/email"
    assert body["decision"]["kind"] == "wait"
    assert body["timers"]["cooldown_until"] == START + 240
    assert body["now"] == START
    assert _calls(plane, "explain") == [{"channel": "production/email"}]


async def test_explain_of_an_unknown_channel_is_the_plane_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/explain/staging/email")
    assert response.status_code == 404
    assert "no channel 'staging/email'" in response.json()["error"]


async def test_explain_of_a_malformed_name_is_404_without_asking_the_plane(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    response = await client.get("/v1/explain/prod%20uction/em%24il")
    assert response.status_code == 404
    assert plane.calls == []


# -- control: authentication -----------------------------------------------------------------


@pytest.mark.parametrize("path", CONTROL)
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, "missing bearer token", id="missing"),
        pytest.param({"authorization": "Bearer nope"}, "wrong bearer token", id="wrong"),
        pytest.param({"authorization": f"Bearer {TOKEN}x"}, "wrong bearer token", id="longer"),
        pytest.param({"authorization": f"Basic {TOKEN}"}, "missing bearer token", id="basic"),
        pytest.param({"authorization": "Bearer "}, "missing bearer token", id="empty"),
        pytest.param({"authorization": TOKEN}, "missing bearer token", id="no-scheme"),
    ],
)
async def test_control_without_the_right_token_is_401_and_never_reaches_the_plane(
    client: httpx.AsyncClient,
    plane: FakePlane,
    path: str,
    headers: dict[str, str],
    message: str,
) -> None:
    response = await client.post(path, headers=headers, json=GOOD_BODIES[path])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert message in response.json()["error"]
    assert plane.calls == []


async def test_the_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    headers = {"authorization": f"bearer {TOKEN}"}
    response = await client.post("/v1/ack", headers=headers, json=GOOD_BODIES["/v1/ack"])
    assert response.status_code == 200


async def test_a_non_ascii_token_is_refused_not_crashed(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    headers = {b"authorization": b"Bearer t\xc3\xa9st"}
    response = await client.post("/v1/ack", headers=headers, json=GOOD_BODIES["/v1/ack"])
    assert response.status_code == 401
    assert plane.calls == []


@pytest.mark.parametrize("path", CONTROL)
async def test_control_is_403_when_no_token_is_configured_and_reads_stay_open(
    plane: FakePlane, registry: CollectorRegistry, path: str
) -> None:
    app = _app(plane, registry, api_token=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://daemon"
    ) as http:
        refused = await http.post(path, headers=AUTH, json=GOOD_BODIES[path])
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "control endpoints are disabled: set NOVU_FAILOVER_API_TOKEN"
        }
        assert plane.calls == []
        assert (await http.get("/v1/status")).status_code == 200


# -- control: body checks --------------------------------------------------------------------


@pytest.mark.parametrize("path", CONTROL)
async def test_a_body_over_the_limit_by_content_length_is_413(
    client: httpx.AsyncClient, plane: FakePlane, path: str
) -> None:
    body = json.dumps({**GOOD_BODIES[path], "pad": "x" * 20_000})
    headers = {**AUTH, "content-type": "application/json"}
    response = await client.post(path, headers=headers, content=body)
    assert response.status_code == 413
    assert response.json() == {"error": "request body is larger than 16384 bytes"}
    assert plane.calls == []


async def test_a_streamed_body_over_the_limit_is_413_without_a_content_length(
    plane: FakePlane, registry: CollectorRegistry
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"channel": "production/email", "reason": "'
        for _ in range(10):
            yield b"x" * 100
        yield b'"}'

    app = _app(plane, registry, max_body_bytes=512)
    headers = {**AUTH, "content-type": "application/json"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://daemon"
    ) as http:
        response = await http.post("/v1/pause", headers=headers, content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert plane.calls == []


async def test_a_body_of_exactly_the_limit_is_accepted(
    plane: FakePlane, registry: CollectorRegistry
) -> None:
    body = json.dumps({"channel": "production/sms"}).encode()
    app = _app(plane, registry, max_body_bytes=len(body))
    headers = {**AUTH, "content-type": "application/json"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://daemon"
    ) as http:
        ok = await http.post("/v1/ack", headers=headers, content=body)
        too_big = await http.post("/v1/ack", headers=headers, content=body + b" ")
    assert (ok.status_code, too_big.status_code) == (200, 413)


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        pytest.param("text/plain", "text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", "application/x-www-form", id="form"),
        pytest.param(None, "none", id="missing"),
    ],
)
async def test_a_body_that_is_not_declared_json_is_415(
    client: httpx.AsyncClient, plane: FakePlane, content_type: str | None, shown: str
) -> None:
    headers = dict(AUTH)
    if content_type is not None:
        headers["content-type"] = content_type
    body = json.dumps(GOOD_BODIES["/v1/pause"])
    response = await client.post("/v1/pause", headers=headers, content=body)
    assert response.status_code == 415
    assert shown in response.json()["error"]
    assert plane.calls == []


async def test_json_with_a_charset_parameter_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {**AUTH, "content-type": "application/json; charset=utf-8"}
    body = json.dumps(GOOD_BODIES["/v1/ack"])
    response = await client.post("/v1/ack", headers=headers, content=body)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"{not json", "body is not valid JSON", id="garbage"),
        pytest.param(b"", "body is not valid JSON", id="empty"),
        pytest.param(b'{"channel": "production/sms"', "body is not valid JSON", id="truncated"),
        pytest.param(
            b'{"channel": "production/sms", "channel": null}', "appears twice", id="duplicate"
        ),
        pytest.param(b'{"channel": NaN}', "NaN is not valid JSON", id="nan"),
        pytest.param(b"\xff\xfe{}", "body is not valid JSON", id="not-utf8"),
    ],
)
async def test_a_body_that_is_not_json_is_400(
    client: httpx.AsyncClient, plane: FakePlane, raw: bytes, message: str
) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    response = await client.post("/v1/ack", headers=headers, content=raw)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert plane.calls == []


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        pytest.param("/v1/ack", [], "body must be a JSON object, not an array", id="array"),
        pytest.param(
            "/v1/ack", {"channel": "production/sms", "by": "root"}, "unknown key 'by'", id="extra"
        ),
        pytest.param("/v1/ack", {}, "channel is required", id="missing-channel"),
        pytest.param(
            "/v1/pause",
            {"reason": "x"},
            "channel is required (null means every channel)",
            id="pause-needs-explicit-channel",
        ),
        pytest.param(
            "/v1/ack",
            {"channel": "email"},
            "channel must look like environment/channel",
            id="bare-channel",
        ),
        pytest.param(
            "/v1/ack",
            {"channel": 7},
            "channel: must be text (a JSON string)",
            id="number-channel",
        ),
        pytest.param(
            "/v1/failover",
            {**GOOD_BODIES["/v1/failover"], "force": "yes"},
            "force: must be true or false",
            id="string-force",
        ),
        pytest.param(
            "/v1/failover",
            {"channel": "production/email", "target": "ses-backup"},
            "reason is required",
            id="failover-needs-reason",
        ),
        pytest.param(
            "/v1/failover",
            {**GOOD_BODIES["/v1/failover"], "target": "ses backup"},
            "target: must be an integration identifier",
            id="target-with-space",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "   "},
            "reason must not be empty",
            id="blank-reason",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "x" * 501},
            "reason is 501 characters long; at most 500 are allowed",
            id="long-reason",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "line one\nline two"},
            "reason must be one line without control characters",
            id="multiline-reason",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "x", "for": "30 minutes"},
            "for: '30 minutes' is not a duration",
            id="bad-duration",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "x", "for": "0s"},
            "for: a pause lasts longer than 0s",
            id="zero-duration",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "x", "for": "30m", "until": START + 60},
            "give either for or until, not both",
            id="for-and-until",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "x", "until": START - 120},
            "until: 1699999880 is in the past (2m ago)",
            id="until-in-the-past",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "x", "until": 1e400},
            "until: must be a finite number",
            id="infinite-until",
        ),
        pytest.param(
            "/v1/pause",
            {"channel": None, "reason": "x", "for_": "30m"},
            "unknown key 'for_'",
            id="python-name-is-not-the-wire-name",
        ),
    ],
)
async def test_a_body_of_the_wrong_shape_is_422_with_a_specific_message(
    client: httpx.AsyncClient, plane: FakePlane, path: str, body: Any, message: str
) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    raw = json.dumps(body).replace("Infinity", "1e400")
    response = await client.post(path, headers=headers, content=raw)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]
    assert plane.calls == []


async def test_a_422_lists_every_problem_at_once(client: httpx.AsyncClient) -> None:
    body = {"channel": "nope", "target": "", "extra": 1}
    response = await client.post("/v1/failover", headers=AUTH, json=body)
    assert response.status_code == 422
    fields = sorted(d["field"] for d in response.json()["details"])
    assert fields == ["channel", "extra", "reason", "target"]


# -- control: the plane's answers ------------------------------------------------------------


async def test_pause_for_a_duration_ends_that_long_after_now(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    body = {"channel": "production/email", "for": "30m", "reason": "SendGrid maintenance"}
    response = await client.post("/v1/pause", headers=AUTH, json=body)
    assert response.status_code == 200
    assert response.json()["pause"] == {
        "reason": "SendGrid maintenance",
        "since": START,
        "until": START + 1800,
        "by": "api",
    }
    assert _calls(plane, "pause") == [
        {
            "channel": "production/email",
            "until": START + 1800,
            "reason": "SendGrid maintenance",
            "by": "api",
        }
    ]


async def test_pause_until_a_time_and_global_pause_without_end(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    until = {"channel": "production/sms", "until": START + 90, "reason": "carrier test"}
    forever = {"channel": None, "reason": "incident 4711"}
    assert (await client.post("/v1/pause", headers=AUTH, json=until)).status_code == 200
    assert (await client.post("/v1/pause", headers=AUTH, json=forever)).status_code == 200
    assert [(c["channel"], c["until"]) for c in _calls(plane, "pause")] == [
        ("production/sms", START + 90),
        (None, None),
    ]
    status = (await client.get("/v1/status")).json()
    assert status["global_pause"]["reason"] == "incident 4711"


async def test_the_reason_is_stored_trimmed(client: httpx.AsyncClient, plane: FakePlane) -> None:
    body = {"channel": None, "reason": "  " + "r" * 500 + "  "}
    response = await client.post("/v1/pause", headers=AUTH, json=body)
    assert response.status_code == 200
    assert _calls(plane, "pause")[0]["reason"] == "r" * 500


@pytest.mark.parametrize(
    ("header", "by"),
    [
        pytest.param(None, "api", id="default"),
        pytest.param("alice@example.com", "alice@example.com", id="email"),
        pytest.param("ops:alice (pager)", "ops:alice pager", id="punctuation-dropped"),
        pytest.param("<>;", "api", id="nothing-left"),
        pytest.param("a" * 100, "a" * 64, id="truncated"),
    ],
)
async def test_the_actor_comes_from_x_actor_sanitized(
    client: httpx.AsyncClient, plane: FakePlane, header: str | None, by: str
) -> None:
    headers = dict(AUTH)
    if header is not None:
        headers["x-actor"] = header
    await client.post("/v1/ack", headers=headers, json=GOOD_BODIES["/v1/ack"])
    assert _calls(plane, "ack") == [{"channel": "production/sms", "by": by}]


async def test_resume_and_ack_round_trip_through_status(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    await client.post("/v1/pause", headers=AUTH, json=GOOD_BODIES["/v1/pause"])
    paused = (await client.get("/v1/status")).json()["channels"][0]["pause"]
    assert paused["reason"] == "provider maintenance"
    resumed = await client.post("/v1/resume", headers=AUTH, json={"channel": "production/email"})
    assert resumed.json() == {"resumed": "production/email"}
    acked = await client.post("/v1/ack", headers=AUTH, json={"channel": "production/sms"})
    assert acked.json() == {"acknowledged": "production/sms", "at": START}
    channels = (await client.get("/v1/status")).json()["channels"]
    assert channels[0]["pause"] is None
    assert channels[1]["brake"]["blocked_until"] is None


@pytest.mark.parametrize("path", ["/v1/pause", "/v1/resume", "/v1/ack", "/v1/failover"])
async def test_an_unknown_channel_is_the_plane_404(client: httpx.AsyncClient, path: str) -> None:
    body = {**GOOD_BODIES[path], "channel": "staging/email"}
    response = await client.post(path, headers=AUTH, json=body)
    assert response.status_code == 404
    assert response.json() == {
        "error": "no channel 'staging/email' in the rules (known: production/email, production/sms)"
    }


async def test_failover_to_a_down_target_is_409_unless_forced(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    body = {**GOOD_BODIES["/v1/failover"], "target": "mailgun-spare"}
    refused = await client.post("/v1/failover", headers=AUTH, json=body)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "mailgun-spare unknown (no evidence yet); force to switch anyway"
    }
    forced = await client.post("/v1/failover", headers=AUTH, json={**body, "force": True})
    assert forced.status_code == 200
    assert forced.json()["event"]["to"] == "mailgun-spare"
    assert _calls(plane, "failover")[-1]["force"] is True


async def test_failover_switches_and_is_audited(
    client: httpx.AsyncClient, plane: FakePlane
) -> None:
    response = await client.post(
        "/v1/failover", headers={**AUTH, "x-actor": "bob"}, json=GOOD_BODIES["/v1/failover"]
    )
    assert response.status_code == 200
    event = response.json()["event"]
    assert (event["from"], event["to"], event["trigger"], event["action"]) == (
        "sendgrid-main",
        "ses-backup",
        "manual",
        "switch",
    )
    status = (await client.get("/v1/status")).json()
    assert status["channels"][0]["primary"]["integration"] == "ses-backup"
    events = (await client.get("/v1/events")).json()["events"]
    assert [(e["to"], e["reason"]) for e in events] == [
        ("ses-backup", "manual failover by bob: SendGrid incident")
    ]


async def test_an_unexpected_error_is_a_bare_500_and_is_logged(
    client: httpx.AsyncClient, plane: FakePlane, caplog: pytest.LogCaptureFixture
) -> None:
    plane.fail_with = RuntimeError("token=sk_live_do_not_leak")
    with caplog.at_level(logging.ERROR, logger="daemon.api"):
        response = await client.post("/v1/ack", headers=AUTH, json=GOOD_BODIES["/v1/ack"])
        status = await client.get("/v1/status")
    assert response.status_code == status.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "sk_live" not in response.text + status.text
    assert "internal error serving POST /v1/ack" in caplog.text


# -- routing ---------------------------------------------------------------------------------


async def test_unknown_paths_and_wrong_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v2/nothing")
    wrong = await client.get("/v1/pause")
    assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "Method Not Allowed"}
    assert wrong.headers["allow"] == "POST"


async def test_alert_routes_are_mounted_beside_the_api(
    plane: FakePlane, registry: CollectorRegistry
) -> None:
    async def alertmanager(request: Request) -> JSONResponse:
        return JSONResponse({"received": len((await request.json())["alerts"])})

    route = Route("/v1/alerts/alertmanager", alertmanager, methods=["POST"])
    app = _app(plane, registry, alert_routes=[route])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://daemon"
    ) as http:
        response = await http.post("/v1/alerts/alertmanager", json={"alerts": [{}, {}]})
    assert response.json() == {"received": 2}


# -- property: no body makes the API fail ----------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_bodies = st.dictionaries(
    st.sampled_from(["channel", "target", "force", "reason", "for", "until", "x"]),
    _json_values
    | st.sampled_from(["production/email", "production/sms", "ses-backup", "mailgun-spare", "5m"]),
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(CONTROL), body=_bodies)
def test_no_control_body_makes_the_api_answer_500(path: str, body: dict[str, Any]) -> None:
    """Whatever JSON arrives, the answer is a deliberate 2xx/4xx with a JSON body."""

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app(FakePlane(), CollectorRegistry()))
        async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as http:
            return await http.post(path, headers=AUTH, json=body)

    response = asyncio.run(post())
    assert response.status_code in {200, 404, 409, 422}, response.text
    payload = response.json()
    assert ("error" in payload) == (response.status_code != 200)
