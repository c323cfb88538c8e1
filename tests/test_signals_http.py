"""The `http` probe against real loopback servers: verdicts, failures, `${ENV}` expansion."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from signals_loopback import refused_url, serve_routes
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from daemon.rules.model import HttpSignal
from daemon.signals import HttpProbe

NOW = 1_700_000_000.0
seen: list[dict[str, Any]] = []


async def health(request: Request) -> Response:
    seen.append(
        {
            "method": request.method,
            "authorization": request.headers.get("authorization"),
            "query": str(request.url.query),
        }
    )
    return PlainTextResponse("status: all good")


async def broken(request: Request) -> Response:
    return PlainTextResponse("upstream failed", status_code=503)


async def no_content(request: Request) -> Response:
    return Response(status_code=204)


ROUTES = [
    Route("/health", health, methods=["GET", "HEAD", "POST"]),
    Route("/broken", broken),
    Route("/empty", no_content),
]


@pytest.fixture(scope="module")
def loopback() -> Iterator[str]:
    with serve_routes(ROUTES) as url:
        yield url


@pytest.fixture
def server(loopback: str) -> str:
    seen.clear()
    return loopback


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def spec(url: str, **fields: Any) -> HttpSignal:
    # generous by default: a busy CI machine must not turn a healthy answer into a timeout;
    # the tests about timeouts set their own short one
    return HttpSignal.model_validate({"url": url, "timeout": "2s", **fields})


def probe(
    http: httpx.AsyncClient, url: str, environ: dict[str, str] | None = None, **fields: Any
) -> HttpProbe:
    return HttpProbe(
        "http", spec(url, **fields), http=http, environ={} if environ is None else environ
    )


async def test_expected_status_is_healthy_with_latency_and_target(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, f"{server}/health")(now=NOW)
    port = server.rsplit(":", 1)[1]
    assert obs.ok is True
    assert obs.signal == "http"
    assert obs.at == NOW
    assert obs.latency is not None
    assert 0 <= obs.latency < 0.2
    assert obs.detail.startswith(f"GET 127.0.0.1:{port}/health -> 200 in ")


async def test_unexpected_status_is_unhealthy_and_names_what_was_expected(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, f"{server}/broken", expect=[200, 204])(now=NOW)
    assert obs.ok is False
    assert "-> 503 in " in obs.detail
    assert obs.detail.endswith("(expected 200, 204)")


async def test_any_status_in_expect_is_healthy(server: str, http: httpx.AsyncClient) -> None:
    assert (await probe(http, f"{server}/empty", expect=[200, 204])(now=NOW)).ok is True
    assert (await probe(http, f"{server}/empty")(now=NOW)).ok is False


@pytest.mark.parametrize(
    ("needle", "ok"),
    [
        pytest.param("all good", True, id="text-present"),
        pytest.param("degraded", False, id="text-absent"),
    ],
)
async def test_body_contains(server: str, http: httpx.AsyncClient, needle: str, ok: bool) -> None:
    obs = await probe(http, f"{server}/health", body_contains=needle)(now=NOW)
    assert obs.ok is ok
    assert ("body lacks the expected text" in obs.detail) is not ok


@pytest.mark.parametrize("method", ["HEAD", "POST"])
async def test_method_is_used(server: str, http: httpx.AsyncClient, method: str) -> None:
    obs = await probe(http, f"{server}/health", method=method)(now=NOW)
    assert obs.ok is True
    assert obs.detail.startswith(f"{method} ")
    assert seen[-1]["method"] == method


def ticking(*readings: float) -> Iterator[float]:
    yield from readings


@pytest.mark.parametrize(
    ("elapsed", "ok"),
    [
        pytest.param(0.5, True, id="under"),
        pytest.param(1.0, True, id="exactly-the-bound"),
        pytest.param(1.5, False, id="over"),
    ],
)
async def test_max_latency_bounds_the_time_to_the_response(
    server: str, http: httpx.AsyncClient, elapsed: float, ok: bool
) -> None:
    clock = ticking(100.0, 100.0 + elapsed)
    check = HttpProbe(
        "http",
        spec(f"{server}/health", max_latency="1s", timeout="2s"),
        http=http,
        environ={},
        timer=lambda: next(clock),
    )
    obs = await check(now=NOW)
    assert obs.ok is ok
    assert obs.latency == pytest.approx(elapsed)
    assert ("over max latency 1s" in obs.detail) is not ok


async def test_hanging_server_times_out_as_unhealthy(server: str, http: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    obs = await probe(http, f"{server}/hang", timeout="200ms")(now=NOW)
    assert time.perf_counter() - started < 1.0
    assert obs.ok is False
    assert obs.detail.endswith("/hang: timeout after 0.2s")
    assert obs.latency is not None
    assert obs.latency >= 0.15


async def test_trickling_body_is_cut_off_by_the_whole_exchange_deadline(
    server: str, http: httpx.AsyncClient
) -> None:
    """Each read succeeds within the timeout; only the overall deadline ends the probe."""
    started = time.perf_counter()
    obs = await probe(http, f"{server}/trickle", body_contains="never", timeout="200ms")(now=NOW)
    assert time.perf_counter() - started < 1.0
    assert obs.ok is False
    assert "timeout after 0.2s" in obs.detail


async def test_connection_refused_is_unhealthy(http: httpx.AsyncClient) -> None:
    url = refused_url()
    obs = await probe(http, f"{url}/health")(now=NOW)
    assert obs.ok is False
    assert obs.detail.endswith("/health: connection refused")
    assert obs.latency is not None


async def test_missing_variable_is_inconclusive_and_named(
    server: str, http: httpx.AsyncClient
) -> None:
    check = probe(
        http,
        f"{server}/health",
        headers={"Authorization": "Bearer ${PROVIDER_TOKEN}"},
    )
    obs = await check(now=NOW)
    assert obs.ok is None
    assert "PROVIDER_TOKEN" in obs.detail
    assert obs.latency is None
    assert seen == []  # no request without its credentials


async def test_variables_are_read_at_each_call(server: str, http: httpx.AsyncClient) -> None:
    environ: dict[str, str] = {}
    check = probe(
        http,
        f"{server}/health?key=${{QUERY_KEY}}",
        environ,
        headers={"Authorization": "Bearer ${PROVIDER_TOKEN}"},
    )
    assert (await check(now=NOW)).ok is None
    environ.update(PROVIDER_TOKEN="first-token", QUERY_KEY="q1")
    assert (await check(now=NOW)).ok is True
    environ["PROVIDER_TOKEN"] = "rotated-token"
    assert (await check(now=NOW)).ok is True
    assert [s["authorization"] for s in seen] == ["Bearer first-token", "Bearer rotated-token"]
    assert seen[0]["query"] == "key=q1"


async def test_detail_names_host_and_path_only(server: str, http: httpx.AsyncClient) -> None:
    host = server.removeprefix("http://")
    url = f"http://monitor:${{PASSWORD}}@{host}/health?token=abc123&x=${{QUERY_KEY}}#frag"
    check = probe(http, url, {"PASSWORD": "pw-value-1", "QUERY_KEY": "qk-value-2"})
    obs = await check(now=NOW)
    assert obs.ok is True
    assert obs.detail.startswith(f"GET {host}/health -> 200")
    for fragment in ("monitor", "token", "abc123", "QUERY_KEY", "pw-value-1", "qk-value-2"):
        assert fragment not in obs.detail


async def test_header_value_http_cannot_carry_is_inconclusive_and_not_sent(
    server: str, http: httpx.AsyncClient
) -> None:
    check = probe(
        http,
        f"{server}/health",
        {"TOKEN": "abc\r\nX-Evil: 1"},
        headers={"Authorization": "Bearer ${TOKEN}"},
    )
    obs = await check(now=NOW)
    assert obs.ok is None
    assert "header Authorization: its value has characters a header cannot carry" in obs.detail
    assert seen == []


async def test_malformed_placeholder_is_inconclusive(server: str, http: httpx.AsyncClient) -> None:
    obs = await probe(http, f"{server}/health", headers={"X-Key": "${not a name}"})(now=NOW)
    assert obs.ok is None
    assert "malformed placeholder" in obs.detail
