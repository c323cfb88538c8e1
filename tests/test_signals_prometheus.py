"""The `prometheus` probe against a loopback server speaking Prometheus' query API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from signals_loopback import refused_url, serve_routes
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from daemon.rules.model import PrometheusSignal
from daemon.signals import PrometheusProbe
from daemon.signals.prometheus import query_url

NOW = 1_700_000_000.0
TS = 1_700_000_000.123


def vector(*values: str) -> dict[str, Any]:
    result = [
        {"metric": {"provider": f"p{i}"}, "value": [TS, value]} for i, value in enumerate(values)
    ]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def scalar(value: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "scalar", "result": [TS, value]}}


BAD_DATA = {
    "status": "error",
    "errorType": "bad_data",
    "error": 'invalid parameter "query": 1:5: parse error: unexpected <EOF>',
}
ANSWERS: dict[str, Response] = {
    "error_rate_high": JSONResponse(vector("0.35")),
    "error_rate_low": JSONResponse(vector("0.05")),
    "error_rate_edge": JSONResponse(vector("0.2")),
    "several_series": JSONResponse(vector("0.01", "0.9")),
    "nothing": JSONResponse(vector()),
    "nan": JSONResponse(vector("NaN")),
    "inf": JSONResponse(vector("+Inf")),
    "scalar_high": JSONResponse(scalar("7")),
    "matrix": JSONResponse({"status": "success", "data": {"resultType": "matrix", "result": []}}),
    "garbled_value": JSONResponse(vector("many")),
    "bad(": JSONResponse(BAD_DATA, status_code=400),
    "html": PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502),
    "unavailable": JSONResponse(
        {"status": "error", "errorType": "unavailable", "error": "too many queries"},
        status_code=503,
    ),
}
queries: list[dict[str, str]] = []


async def query(request: Request) -> Response:
    params = dict(request.query_params)
    queries.append(params)
    return ANSWERS[params["query"]]


@pytest.fixture(scope="module")
def loopback() -> Iterator[str]:
    routes = [
        Route("/api/v1/query", query, methods=["GET"]),
        Route("/prom/api/v1/query", query, methods=["GET"]),
    ]
    with serve_routes(routes) as url:
        yield url


@pytest.fixture
def server(loopback: str) -> str:
    queries.clear()
    return loopback


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def probe(
    http: httpx.AsyncClient, url: str, query: str, threshold: float = 0.2, **fields: Any
) -> PrometheusProbe:
    spec = PrometheusSignal.model_validate(
        {"url": url, "query": query, "threshold": threshold, "timeout": "200ms", **fields}
    )
    return PrometheusProbe("prometheus", spec, http=http, environ={})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://prom:9090", "http://prom:9090/api/v1/query"),
        ("http://prom:9090/", "http://prom:9090/api/v1/query"),
        ("http://h/prom/api/v1/query", "http://h/prom/api/v1/query"),
        ("http://h/prom?tenant=a", "http://h/prom/api/v1/query?tenant=a"),
    ],
)
def test_query_url(url: str, expected: str) -> None:
    assert query_url(url) == expected


@pytest.mark.parametrize(
    ("name", "when", "ok", "text"),
    [
        pytest.param("error_rate_high", "above", False, "value 0.35 > threshold 0.2",
                     id="above-threshold-down"),
        pytest.param("error_rate_low", "above", True, "value 0.05 <= threshold 0.2",
                     id="under-threshold-up"),
        pytest.param("error_rate_edge", "above", True, "value 0.2 <= threshold 0.2",
                     id="equal-is-healthy-above"),
        pytest.param("error_rate_low", "below", False, "value 0.05 < threshold 0.2",
                     id="below-mode-down"),
        pytest.param("error_rate_edge", "below", True, "value 0.2 >= threshold 0.2",
                     id="equal-is-healthy-below"),
        pytest.param("inf", "above", False, "value inf > threshold 0.2", id="inf-is-above"),
        pytest.param("scalar_high", "above", False, "value 7 > threshold 0.2", id="scalar"),
        pytest.param("several_series", "above", True,
                     "value 0.01 <= threshold 0.2 (first of 2 series)", id="first-series"),
    ],
)  # fmt: skip
async def test_value_against_threshold(
    server: str, http: httpx.AsyncClient, name: str, when: str, ok: bool, text: str
) -> None:
    obs = await probe(http, server, name, unhealthy_when=when)(now=NOW)
    assert obs.ok is ok
    assert obs.detail.startswith(f"{text} (127.0.0.1:")
    assert obs.detail.endswith("/api/v1/query)")
    assert obs.latency is not None
    assert queries == [{"query": name}]


@pytest.mark.parametrize(
    ("on_empty", "ok"),
    [("up", True), ("down", False), ("unknown", None)],
)
async def test_empty_result_means_what_on_empty_says(
    server: str, http: httpx.AsyncClient, on_empty: str, ok: bool | None
) -> None:
    obs = await probe(http, server, "nothing", on_empty=on_empty)(now=NOW)
    assert obs.ok is ok
    assert f"empty result (on_empty: {on_empty})" in obs.detail


async def test_empty_result_is_unknown_by_default(server: str, http: httpx.AsyncClient) -> None:
    assert (await probe(http, server, "nothing")(now=NOW)).ok is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("nan", "value is NaN", id="nan"),
        pytest.param("matrix", "expected an instant vector or scalar, got matrix", id="matrix"),
        pytest.param("garbled_value", "sample value 'many' is not a number", id="garbled"),
        pytest.param("bad(", "prometheus answered 400: query failed: invalid parameter",
                     id="bad-query"),
        pytest.param("html", "prometheus answered 502 without JSON", id="proxy-error"),
        pytest.param("unavailable", "prometheus answered 503: query failed: too many queries",
                     id="overloaded"),
    ],
)  # fmt: skip
async def test_unusable_answers_are_unknown(
    server: str, http: httpx.AsyncClient, name: str, text: str
) -> None:
    obs = await probe(http, server, name)(now=NOW)
    assert obs.ok is None
    assert obs.detail.startswith(text)


async def test_base_url_with_a_path_prefix(server: str, http: httpx.AsyncClient) -> None:
    obs = await probe(http, f"{server}/prom/", "error_rate_low")(now=NOW)
    assert obs.ok is True
    assert obs.detail.endswith("/prom/api/v1/query)")


async def test_hanging_prometheus_is_unknown_after_the_timeout(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, f"{server}/hang", "error_rate_low")(now=NOW)
    assert obs.ok is None
    assert obs.detail.startswith("prometheus unreachable: timeout after 0.2s (")


async def test_refused_prometheus_is_unknown(http: httpx.AsyncClient) -> None:
    obs = await probe(http, refused_url(), "error_rate_low")(now=NOW)
    assert obs.ok is None
    assert obs.detail.startswith("prometheus unreachable: connection refused (")


async def test_missing_variable_is_unknown(http: httpx.AsyncClient) -> None:
    obs = await probe(http, "http://${PROM_HOST}:9090", "up")(now=NOW)
    assert obs.ok is None
    assert "PROM_HOST is not set" in obs.detail
