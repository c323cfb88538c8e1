"""Reading Alertmanager's `GET /api/v2/alerts`: the captured answer of a real Alertmanager
0.25 parsed, the query the adapter sends, the merge of an HA pair, and failures reported
per server (a partial answer never counts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from daemon.alertmanager_api import merge, read_active_alerts
from daemon.alerts import Alert, AlertPayloadError, parse_alertmanager_api
from daemon.rules.model import Alertmanagers

CAPTURE = Path(__file__).parent / "fixtures" / "alertmanager-api-v2-alerts.json"
FILTER = ('novu_integration="sendgrid-main"', 'severity=~"critical|page"')


def captured() -> Any:
    return json.loads(CAPTURE.read_text())


def test_the_captured_api_answer_parses_to_firing_alerts_with_their_fingerprints() -> None:
    alerts = parse_alertmanager_api(captured())
    by_fp = {a.fingerprint: a for a in alerts}
    # The same fingerprint as the webhook fixture for the same labels: one identity.
    sendgrid = by_fp["cc2f88f7320a1355"]
    assert (sendgrid.source, sendgrid.status) == ("alertmanager", "firing")
    assert sendgrid.labels["novu_integration"] == "sendgrid-main"
    assert sendgrid.ends_at is not None  # the API shows the real (future) end


def test_suppressed_alerts_are_left_out_and_bad_items_are_named() -> None:
    answer = captured()
    answer[0]["status"]["state"] = "suppressed"
    assert len(parse_alertmanager_api(answer)) == len(answer) - 1
    answer[1]["status"] = {"state": "weird"}
    answer[0]["startsAt"] = "yesterday"
    with pytest.raises(AlertPayloadError) as caught:
        parse_alertmanager_api(answer)
    fields = [field for field, _ in caught.value.problems]
    assert fields == ["[0].startsAt", "[1].status.state"]
    with pytest.raises(AlertPayloadError, match="must be a JSON list"):
        parse_alertmanager_api({"alerts": []})


def _config(*urls: str, headers: dict[str, str] | None = None) -> Alertmanagers:
    return Alertmanagers.model_validate(
        {"servers": [{"url": u, "headers": headers or {}} for u in urls], "timeout": "1s"}
    )


async def test_the_query_asks_for_notifying_alerts_filtered_by_the_signal_matchers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=captured())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await read_active_alerts(
            http,
            _config("http://am-0:9093/", headers={"Authorization": "Bearer ${AM_TOKEN}"}),
            filters=[FILTER],
            environ={"AM_TOKEN": "am-token-1234567"},
        )
    (request,) = seen
    url = urlsplit(str(request.url))
    assert (url.netloc, url.path) == ("am-0:9093", "/api/v2/alerts")
    query = parse_qsl(url.query)
    assert ("active", "true") in query
    assert ("silenced", "false") in query
    assert ("inhibited", "false") in query
    assert [v for k, v in query if k == "filter"] == list(FILTER)
    assert request.headers["authorization"] == "Bearer am-token-1234567"
    assert result.reached
    assert {a.fingerprint for a in result.alerts} >= {"cc2f88f7320a1355"}


async def test_one_member_of_a_pair_down_still_answers_and_says_which_failed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "am-1":
            return httpx.Response(503, text="not ready")
        return httpx.Response(200, json=captured())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await read_active_alerts(
            http, _config("http://am-0:9093", "http://am-1:9093"), filters=[FILTER], environ={}
        )
    assert result.reached
    errors = {a.server: a.error for a in result.answers}
    assert errors["am-0:9093/api/v2/alerts"] is None
    assert errors["am-1:9093/api/v2/alerts"] == "HTTP 503: not ready"


async def test_a_missing_header_variable_fails_that_server_without_a_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request without its credentials")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await read_active_alerts(
            http,
            _config("http://am-0:9093", headers={"Authorization": "Bearer ${AM_TOKEN}"}),
            filters=[FILTER],
            environ={},
        )
    assert not result.reached
    assert result.answers[0].error == "environment variable AM_TOKEN is not set"


def _alert(fp: str, starts: float, ends: float | None) -> Alert:
    return Alert("alertmanager", "firing", {"a": "b"}, starts, ends, fp)


def test_merge_keeps_one_alert_per_fingerprint_the_latest_instance() -> None:
    old, new = _alert("x", 10.0, 100.0), _alert("x", 20.0, 50.0)
    longer = _alert("x", 20.0, 90.0)
    assert merge([[old, new], [longer], [_alert("y", 1.0, None)]]) == (
        longer,
        _alert("y", 1.0, None),
    )
