"""The alert webhook routes over a recording receiver: auth, body checks, metrics, answers.

Every refusal is answered before the receiver is called, so a refused webhook changes
nothing; every webhook is counted by source and outcome."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from alert_fixtures import alertmanager, grafana
from fake_control_plane import FakePlane
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from daemon.alerts import Alert
from daemon.api import create_app
from daemon.api.alerts import GrafanaSigning, alert_routes
from daemon.control import JSON
from daemon.metrics import Metrics

TOKEN = "alert-webhook-token-2718"
AUTH = {"authorization": f"Bearer {TOKEN}"}
AM, GRAFANA = "/v1/alerts/alertmanager", "/v1/alerts/grafana"


class Receiver:
    def __init__(self) -> None:
        self.batches: list[Sequence[Alert]] = []
        self.fail = False

    async def __call__(self, alerts: Sequence[Alert]) -> JSON:
        if self.fail:
            msg = "boom"
            raise RuntimeError(msg)
        self.batches.append(alerts)
        return {"accepted": len(alerts), "matched": []}


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _client(
    receiver: Receiver, registry: CollectorRegistry, *, token: str | None = TOKEN, limit: int = 4096
) -> httpx.AsyncClient:
    metrics = Metrics(registry)
    routes = alert_routes(
        receiver,
        api_token=SecretStr(token) if token else None,
        count=metrics.alert_received,
        max_body_bytes=limit,
    )
    app = create_app(FakePlane(), registry=registry, api_token=None, alert_routes=routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


@pytest.fixture
async def client(
    receiver: Receiver, registry: CollectorRegistry
) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(receiver, registry) as http:
        yield http


def _count(registry: CollectorRegistry, source: str, status: str) -> float:
    value = registry.get_sample_value(
        "novu_failover_alerts_received_total", {"source": source, "status": status}
    )
    return value or 0.0


async def test_alertmanager_fixture_is_accepted_and_handed_over(
    client: httpx.AsyncClient, receiver: Receiver, registry: CollectorRegistry
) -> None:
    response = await client.post(AM, json=alertmanager("v4-firing"), headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "matched": []}
    assert response.headers["cache-control"] == "no-store"
    ((alert,),) = receiver.batches
    assert (alert.source, alert.fingerprint) == ("alertmanager", "cc2f88f7320a1355")
    assert _count(registry, "alertmanager", "accepted") == 1


async def test_grafana_fixture_is_accepted_on_its_own_route(
    client: httpx.AsyncClient, receiver: Receiver, registry: CollectorRegistry
) -> None:
    response = await client.post(GRAFANA, json=grafana("v1-resolved"), headers=AUTH)
    assert response.status_code == 200, response.text
    ((alert,),) = receiver.batches
    assert (alert.source, alert.status) == ("grafana", "resolved")
    assert _count(registry, "grafana", "accepted") == 1


BODY = json.dumps(alertmanager("v4-firing")).encode()
JSON_TYPE = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("headers", "content", "status", "message", "outcome"),
    [
        pytest.param({}, BODY, 401, "missing bearer token", "unauthorized", id="no-token"),
        pytest.param(
            {"authorization": "Bearer nope"},
            BODY,
            401,
            "wrong bearer token",
            "unauthorized",
            id="wrong-token",
        ),
        pytest.param(
            {"authorization": f"Basic {TOKEN}"},
            BODY,
            401,
            "missing bearer token",
            "unauthorized",
            id="not-bearer",
        ),
        pytest.param(
            {**AUTH, "content-type": "text/plain"},
            BODY,
            415,
            "application/json",
            "rejected",
            id="wrong-type",
        ),
        pytest.param(
            {**AUTH, **JSON_TYPE},
            b"{" + b" " * 5000 + b"}",
            413,
            "larger than 4096",
            "rejected",
            id="huge",
        ),
        pytest.param(
            {**AUTH, **JSON_TYPE}, b"{not json", 400, "not valid JSON", "rejected", id="bad-json"
        ),
        pytest.param(
            {**AUTH, **JSON_TYPE}, b"[1]", 422, "must be a JSON object", "rejected", id="not-object"
        ),
        pytest.param(
            {**AUTH, **JSON_TYPE},
            b'{"version": "4"}',
            422,
            "alerts is required",
            "rejected",
            id="no-alerts",
        ),
        pytest.param(
            {**AUTH, **JSON_TYPE},
            b'{"version": "9", "alerts": []}',
            422,
            "unknown version '9'",
            "rejected",
            id="unknown-version",
        ),
    ],
)
async def test_refused_webhooks_change_nothing_and_are_counted(
    client: httpx.AsyncClient,
    receiver: Receiver,
    registry: CollectorRegistry,
    headers: dict[str, str],
    content: bytes,
    status: int,
    message: str,
    outcome: str,
) -> None:
    headers = {**JSON_TYPE, **headers}
    response = await client.post(AM, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert receiver.batches == []
    assert _count(registry, "alertmanager", outcome) == 1
    assert _count(registry, "alertmanager", "accepted") == 0
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text


async def test_a_wrong_shape_lists_every_problem(client: httpx.AsyncClient) -> None:
    payload = alertmanager("v4-firing")
    payload["alerts"][0].update(status="pending", startsAt="soon")
    response = await client.post(AM, json=payload, headers=AUTH)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == [
        "alerts[0].status",
        "alerts[0].startsAt",
    ]


async def test_alertmanager_payload_on_the_grafana_route_says_where_it_belongs(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    response = await client.post(GRAFANA, json=alertmanager("v4-firing"), headers=AUTH)
    assert response.status_code == 422
    assert "send it to /v1/alerts/alertmanager" in response.json()["error"]
    assert receiver.batches == []


async def test_without_a_daemon_token_webhooks_are_disabled(
    receiver: Receiver, registry: CollectorRegistry
) -> None:
    async with _client(receiver, registry, token=None) as http:
        response = await http.post(AM, json=alertmanager("v4-firing"), headers=AUTH)
    assert response.status_code == 403
    assert "NOVU_FAILOVER_API_TOKEN" in response.json()["error"]
    assert receiver.batches == []
    assert _count(registry, "alertmanager", "unauthorized") == 1


async def test_a_failing_receiver_is_a_bare_500_counted_as_error(
    client: httpx.AsyncClient, receiver: Receiver, registry: CollectorRegistry
) -> None:
    receiver.fail = True
    response = await client.post(AM, json=alertmanager("v4-firing"), headers=AUTH)
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert _count(registry, "alertmanager", "error") == 1


async def test_only_post_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get(AM, headers=AUTH)
    assert response.status_code == 405


def _group(size: int) -> bytes:
    """An Alertmanager group of `size` alerts (max_alerts: 0), each like the real fixture."""
    payload = alertmanager("v4-firing")
    (one,) = payload["alerts"]
    payload["alerts"] = [
        {**one, "fingerprint": f"{i:016x}", "labels": {**one["labels"], "instance": f"i{i}"}}
        for i in range(size)
    ]
    return json.dumps(payload).encode()


async def test_a_group_of_two_thousand_alerts_fits_the_default_cap(
    receiver: Receiver, registry: CollectorRegistry
) -> None:
    """`max_alerts: 0` sends every alert of a group; 2,000 (over 1 MiB) are accepted."""
    metrics = Metrics(registry)
    routes = alert_routes(receiver, api_token=SecretStr(TOKEN), count=metrics.alert_received)
    app = create_app(FakePlane(), registry=registry, api_token=None, alert_routes=routes)
    body = _group(2000)
    assert len(body) > 1_048_576
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as http:
        response = await http.post(AM, content=body, headers={**AUTH, **JSON_TYPE})
    assert response.status_code == 200, response.text[:300]
    (batch,) = receiver.batches
    assert len(batch) == 2000
    assert _count(registry, "alertmanager", "accepted") == 1


async def test_a_refusal_is_logged_with_reason_remote_and_route(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="novu_failover")
    response = await client.post(AM, content=b'{"version": "4"}', headers={**AUTH, **JSON_TYPE})
    assert response.status_code == 422
    assert "alerts is required" in response.json()["error"]
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "webhook"]
    assert record.name == "novu_failover.api.alerts"
    assert record.fields["route"] == AM  # type: ignore[attr-defined]
    assert record.fields["status"] == 422  # type: ignore[attr-defined]
    assert record.fields["remote"]  # type: ignore[attr-defined]
    assert "alerts is required" in record.getMessage()
    assert TOKEN not in caplog.text


SECRET = "grafana-hmac-secret-5772"
STAMP_HEADER = "X-Grafana-Alerting-Signature-Timestamp"
NOW = 1_800_000_000.0


def _signed_client(receiver: Receiver, registry: CollectorRegistry) -> httpx.AsyncClient:
    metrics = Metrics(registry)
    routes = alert_routes(
        receiver,
        api_token=None,
        count=metrics.alert_received,
        grafana_signing=GrafanaSigning(SecretStr(SECRET)),
        clock=lambda: NOW,
    )
    app = create_app(FakePlane(), registry=registry, api_token=None, alert_routes=routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon")


def _sign(body: bytes, stamp: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()


GRAFANA_BODY = json.dumps(grafana("v1-firing")).encode()


@pytest.mark.parametrize(
    ("stamp", "secret", "body", "status", "message"),
    [
        pytest.param(str(int(NOW) - 10), SECRET, GRAFANA_BODY, 200, "", id="signed"),
        pytest.param(str(int(NOW)), "other-secret-1", GRAFANA_BODY, 401, "wrong", id="bad-sig"),
        pytest.param(str(int(NOW) - 301), SECRET, GRAFANA_BODY, 401, "301s old", id="stale"),
        pytest.param(str(int(NOW) + 301), SECRET, GRAFANA_BODY, 401, "ahead", id="future"),
        pytest.param("", SECRET, GRAFANA_BODY, 401, STAMP_HEADER, id="no-timestamp"),
    ],
)
async def test_grafana_hmac_signature_replaces_the_bearer_token(
    receiver: Receiver,
    registry: CollectorRegistry,
    stamp: str,
    secret: str,
    body: bytes,
    status: int,
    message: str,
) -> None:
    headers = {
        **JSON_TYPE,
        "X-Grafana-Alerting-Signature": _sign(body, stamp or "0", secret),
    }
    if stamp:
        headers[STAMP_HEADER] = stamp
    async with _signed_client(receiver, registry) as http:
        response = await http.post(GRAFANA, content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert len(receiver.batches) == 1
    else:
        assert message in response.json()["error"]
        assert receiver.batches == []
        assert _count(registry, "grafana", "unauthorized") == 1


async def test_a_tampered_signed_body_is_refused(
    receiver: Receiver, registry: CollectorRegistry
) -> None:
    stamp = str(int(NOW))
    headers = {**JSON_TYPE, STAMP_HEADER: stamp, "X-Grafana-Alerting-Signature": "0" * 64}
    headers["X-Grafana-Alerting-Signature"] = _sign(GRAFANA_BODY, stamp)
    tampered = GRAFANA_BODY.replace(b"firing", b"resolved", 1)
    async with _signed_client(receiver, registry) as http:
        response = await http.post(GRAFANA, content=tampered, headers=headers)
        unsigned = await http.post(GRAFANA, content=GRAFANA_BODY, headers=JSON_TYPE)
    assert response.status_code == 401
    assert unsigned.status_code == 403  # no signature and no token configured: disabled
    assert receiver.batches == []


async def test_grafanas_fallback_signature_header_is_accepted_too(
    receiver: Receiver, registry: CollectorRegistry
) -> None:
    """Grafana's sender signs into `X-Grafana-Alert-Signature` when the contact point's
    Header field is left empty (grafana/alerting http/hmac.go)."""
    stamp = str(int(NOW))
    headers = {
        **JSON_TYPE,
        STAMP_HEADER: stamp,
        "X-Grafana-Alert-Signature": _sign(GRAFANA_BODY, stamp),
    }
    async with _signed_client(receiver, registry) as http:
        response = await http.post(GRAFANA, content=GRAFANA_BODY, headers=headers)
        headers["X-Grafana-Alert-Signature"] = _sign(GRAFANA_BODY, stamp, "other-secret-1")
        forged = await http.post(GRAFANA, content=GRAFANA_BODY, headers=headers)
    assert response.status_code == 200, response.text
    assert forged.status_code == 401
    assert "wrong X-Grafana-Alert-Signature signature" in forged.json()["error"]
    assert len(receiver.batches) == 1
