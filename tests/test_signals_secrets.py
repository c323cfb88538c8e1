"""Secret hygiene: a value filled in from `${ENV}` never reaches an Observation or a log."""

from __future__ import annotations

import logging
import string
from collections.abc import AsyncIterator, Iterator
from types import EllipsisType
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from signals_loopback import refused_url, serve_routes
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from daemon.model import Observation
from daemon.rules.model import HttpSignal, PrometheusSignal, StatuspageSignal
from daemon.signals import HttpProbe, PrometheusProbe, StatuspageProbe
from daemon.signals.base import Expander, describe_url

NOW = 1_700_000_000.0
API_KEY = "sk-LEAK-7f3a9c2e11d04b"


async def echo_key(request: Request) -> Response:
    """Answers like a provider that rejects the key and quotes it back in the body.

    (Not in a response header: httpcore's DEBUG log prints response headers, so the service
    keeps the `httpx`/`httpcore` loggers out of its output.)"""
    key = request.headers.get("authorization", "")
    return PlainTextResponse(f"invalid API key {key}", status_code=401)


async def accept(request: Request) -> Response:
    return PlainTextResponse("ok")


async def quoting_prometheus(request: Request) -> Response:
    """An error answer that quotes the whole request URL, token included."""
    error = f"bad request {request.url}"
    return JSONResponse({"status": "error", "errorType": "bad_data", "error": error}, 400)


ROUTES = [
    Route("/ok", accept),
    Route("/reject", echo_key),
    Route("/prom/api/v1/query", quoting_prometheus),
]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_routes(ROUTES) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def http_probe(client: httpx.AsyncClient, url: str, key: str, **fields: Any) -> HttpProbe:
    spec = HttpSignal.model_validate(
        {
            "url": url,
            "timeout": "200ms",
            "headers": {"Authorization": "Bearer ${API_KEY}", "X-Api-Key": "${API_KEY}"},
            **fields,
        }
    )
    return HttpProbe("http", spec, http=client, environ={"API_KEY": key})


def assert_clean(obs: Observation, caplog: pytest.LogCaptureFixture, *, value: str) -> None:
    assert value not in obs.detail
    assert value not in repr(obs)
    for record in caplog.records:
        assert value not in record.getMessage()
        assert value not in (record.exc_text or "")
    assert value not in caplog.text


HEADER_CASES = [
    pytest.param("/ok", API_KEY, {}, True, id="healthy"),
    pytest.param("/reject", API_KEY, {}, False, id="rejected-and-echoed"),
    pytest.param("/hang", API_KEY, {}, False, id="timeout"),
    pytest.param("/trickle", API_KEY, {"body_contains": "never"}, False, id="deadline"),
    pytest.param("/ok", API_KEY, {"max_latency": "1ms"}, ..., id="maybe-slow"),
    pytest.param("/ok", f"{API_KEY}\r\nX-Injected: 1", {}, None, id="crlf-in-value"),
    pytest.param("/ok", f"{API_KEY}\u00e9", {}, None, id="non-ascii-value"),
]


@pytest.mark.parametrize(("path", "key", "fields", "ok"), HEADER_CASES)
async def test_header_secret_never_appears_in_detail_or_any_log(
    server: str,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    key: str,
    fields: dict[str, Any],
    ok: bool | EllipsisType | None,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    obs = await http_probe(http, f"{server}{path}", key, **fields)(now=NOW)
    if ok is not ...:
        assert obs.ok is ok
    assert_clean(obs, caplog, value=API_KEY)


async def test_header_secret_on_a_refused_connection(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    obs = await http_probe(http, f"{refused_url()}/ok", API_KEY)(now=NOW)
    assert obs.ok is False
    assert_clean(obs, caplog, value=API_KEY)


def daemon_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("novu_failover")]


async def test_url_secrets_never_appear_in_details_or_the_daemon_s_logs(
    server: str, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Query strings and user info are dropped from details; an echoed URL is scrubbed.

    (httpx itself logs request URLs at INFO: the service keeps the `httpx` logger at WARNING.)
    """
    caplog.set_level(logging.DEBUG, logger="novu_failover")
    host = server.removeprefix("http://")
    environ = {"API_KEY": API_KEY}
    timeout = {"timeout": "200ms"}
    probes = [
        HttpProbe(
            "http",
            HttpSignal.model_validate({"url": f"http://u:${{API_KEY}}@{host}/ok", **timeout}),
            http=http,
            environ=environ,
        ),
        HttpProbe(
            "http",
            HttpSignal.model_validate({"url": f"{server}/hang?token=${{API_KEY}}", **timeout}),
            http=http,
            environ=environ,
        ),
        StatuspageProbe(
            "statuspage",
            StatuspageSignal.model_validate(
                {"url": f"{server}/ok?key=${{API_KEY}}", "components": ["API"], **timeout}
            ),
            http=http,
            environ=environ,
        ),
        PrometheusProbe(
            "prometheus",
            PrometheusSignal.model_validate(
                {"url": f"{server}/prom?token=${{API_KEY}}", "query": "up", "threshold": 1}
                | timeout
            ),
            http=http,
            environ=environ,
        ),
    ]
    observations = [await probe(now=NOW) for probe in probes]
    assert [o.ok for o in observations] == [True, False, None, None]
    assert "query failed: bad request" in observations[3].detail  # the echo was scrubbed
    for obs in observations:
        assert API_KEY not in obs.detail
    for record in daemon_records(caplog):
        assert API_KEY not in record.getMessage()


def test_scrub_replaces_every_filled_in_value() -> None:
    expand = Expander({"A": "first-secret", "B": "first-secret-longer", "C": "ab"})
    assert expand("${B}/${A}/${C}") == "first-secret-longer/first-secret/ab"
    text = "saw first-secret-longer and first-secret; ab stays"
    assert expand.scrub(text) == "saw *** and ***; ab stays"


# Upper case: a described URL here is all lower case, so a hit can only be a leak.
_SECRETISH = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=5, max_size=24)


@given(
    user=_SECRETISH.map(lambda text: f"U{text}"),
    token=_SECRETISH.map(lambda text: f"T{text}"),
    path=st.sampled_from(["", "/", "/v3/scopes", "/api/v2/summary.json"]),
)
def test_described_urls_keep_host_and_path_only(user: str, token: str, path: str) -> None:
    url = f"https://{user}:{token}@api.example.com:8443{path}?token={token}#{token}"
    described = describe_url(url)
    assert described == f"api.example.com:8443{path or '/'}"
    assert token not in described
    assert user not in described
