"""The `statuspage` probe against a loopback Statuspage serving a real-shaped summary.json."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from signals_loopback import refused_url, serve_routes
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from daemon.rules.model import StatuspageSignal
from daemon.signals import StatuspageProbe
from daemon.signals.statuspage import summary_url

NOW = 1_700_000_000.0
FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "statuspage-summary.json").read_text("utf-8")
)


class Page:
    """What the loopback status page serves next: the summary document, or a broken answer."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.document: Any = copy.deepcopy(FIXTURE)
        self.answer: Response | None = None
        self.paths: list[str] = []

    def set_status(self, name: str, status: str) -> None:
        component = next(c for c in self.document["components"] if c["name"] == name)
        component["status"] = status

    async def summary(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        return self.answer or JSONResponse(self.document)


page = Page()
ROUTES = [
    Route("/api/v2/summary.json", page.summary),
    Route("/custom/summary.json", page.summary),
]


@pytest.fixture(scope="module")
def loopback() -> Iterator[str]:
    with serve_routes(ROUTES) as url:
        yield url


@pytest.fixture
def server(loopback: str) -> str:
    page.reset()
    return loopback


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def probe(
    http: httpx.AsyncClient, url: str, components: list[str], **fields: Any
) -> StatuspageProbe:
    spec = StatuspageSignal.model_validate(
        {"url": url, "components": components, "timeout": "200ms", **fields}
    )
    return StatuspageProbe("statuspage", spec, http=http, environ={})


def test_fixture_has_statuspage_summary_shape() -> None:
    """The fixture keeps the real document's shape, so the probe is tested on what it meets."""
    assert set(FIXTURE) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    keys = {
        "id", "name", "status", "created_at", "updated_at", "position", "description",
        "showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
    }  # fmt: skip
    for component in FIXTURE["components"]:
        assert keys <= set(component)
    assert set(FIXTURE["status"]) == {"indicator", "description"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://status.sendgrid.com", "https://status.sendgrid.com/api/v2/summary.json"),
        ("https://status.sendgrid.com/", "https://status.sendgrid.com/api/v2/summary.json"),
        ("https://status.twilio.com/api/v2/summary.json", "https://status.twilio.com/api/v2/summary.json"),
        ("https://x.example/components.json?a=1", "https://x.example/components.json?a=1"),
    ],
)  # fmt: skip
def test_summary_url(url: str, expected: str) -> None:
    assert summary_url(url) == expected


async def test_operational_components_are_healthy(server: str, http: httpx.AsyncClient) -> None:
    obs = await probe(http, server, ["Mail Sending", "API"])(now=NOW)
    assert obs.ok is True
    assert obs.detail.startswith("Mail Sending: operational; API: operational (127.0.0.1:")
    assert obs.detail.endswith("/api/v2/summary.json)")
    assert page.paths == ["/api/v2/summary.json"]
    assert obs.latency is not None


async def test_url_naming_a_json_document_is_used_as_is(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, f"{server}/custom/summary.json", ["Mail Sending"])(now=NOW)
    assert obs.ok is True
    assert page.paths == ["/custom/summary.json"]


async def test_component_names_match_case_insensitively(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, server, ["mail sending", " MARKETING CAMPAIGNS "])(now=NOW)
    assert obs.ok is True


@pytest.mark.parametrize(
    ("status", "unhealthy", "ok"),
    [
        pytest.param("major_outage", None, False, id="major-outage-default-down"),
        pytest.param("partial_outage", None, False, id="partial-outage-default-down"),
        pytest.param("degraded_performance", None, True, id="degraded-default-up"),
        pytest.param("under_maintenance", None, True, id="maintenance-default-up"),
        pytest.param("degraded_performance", ["degraded_performance", "major_outage"], False,
                     id="degraded-configured-down"),
        pytest.param("partial_outage", ["major_outage"], True, id="partial-configured-up"),
    ],
)  # fmt: skip
async def test_component_status_against_the_unhealthy_set(
    server: str, http: httpx.AsyncClient, status: str, unhealthy: list[str] | None, ok: bool
) -> None:
    page.set_status("Mail Sending", status)
    fields = {} if unhealthy is None else {"unhealthy": unhealthy}
    obs = await probe(http, server, ["Mail Sending", "API"], **fields)(now=NOW)
    assert obs.ok is ok
    assert f"Mail Sending: {status}" in obs.detail
    assert ("API: operational" in obs.detail) is ok  # a down detail names only the culprits


async def test_fixture_degraded_component_is_up_by_default(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, server, ["Event Webhook"])(now=NOW)
    assert obs.ok is True
    assert "Event Webhook: degraded_performance" in obs.detail


async def test_component_missing_from_the_page_is_unknown(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, server, ["Mail Sending", "Carrier Pigeons"])(now=NOW)
    assert obs.ok is None
    assert "component 'Carrier Pigeons' not on the page" in obs.detail


async def test_unknown_status_value_is_unknown_not_healthy(
    server: str, http: httpx.AsyncClient
) -> None:
    page.set_status("Mail Sending", "partly_cloudy")
    obs = await probe(http, server, ["Mail Sending"])(now=NOW)
    assert obs.ok is None
    assert "Mail Sending: unknown status 'partly_cloudy'" in obs.detail


async def test_an_unhealthy_component_outweighs_a_missing_one(
    server: str, http: httpx.AsyncClient
) -> None:
    page.set_status("API", "major_outage")
    obs = await probe(http, server, ["Carrier Pigeons", "API"])(now=NOW)
    assert obs.ok is False
    assert obs.detail.startswith("API: major_outage")


async def test_any_of_several_components_with_one_name_being_down_is_down(
    server: str, http: httpx.AsyncClient
) -> None:
    extra = copy.deepcopy(page.document["components"][0])
    extra.update(id="eu0000000001", status="major_outage", group_id="gx5bbx3bd4f7")
    page.document["components"].append(extra)
    obs = await probe(http, server, ["Mail Sending"])(now=NOW)
    assert obs.ok is False


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(PlainTextResponse("<html>maintenance</html>"), "not JSON", id="not-json"),
        pytest.param(Response(b"\xff\xfe{", media_type="application/json"), "not JSON",
                     id="not-utf8"),
        pytest.param(JSONResponse({"page": {}}), "no components list", id="no-components"),
        pytest.param(JSONResponse([1, 2]), "no components list", id="json-array"),
        pytest.param(PlainTextResponse("oops", status_code=503), "answered 503", id="http-503"),
        pytest.param(JSONResponse(FIXTURE, status_code=404), "answered 404", id="http-404"),
    ],
)  # fmt: skip
async def test_unreadable_page_is_unknown(
    server: str, http: httpx.AsyncClient, answer: Response, reason: str
) -> None:
    page.answer = answer
    obs = await probe(http, server, ["Mail Sending"])(now=NOW)
    assert obs.ok is None
    assert f"status page unreadable: {reason}" in obs.detail


async def test_hanging_page_is_unknown_after_the_timeout(
    server: str, http: httpx.AsyncClient
) -> None:
    obs = await probe(http, f"{server}/hang", ["Mail Sending"])(now=NOW)
    assert obs.ok is None
    assert obs.detail.startswith("status page unreadable: timeout after 0.2s (127.0.0.1:")
    assert obs.detail.endswith("/hang/api/v2/summary.json)")


async def test_refused_page_is_unknown(http: httpx.AsyncClient) -> None:
    obs = await probe(http, refused_url(), ["Mail Sending"])(now=NOW)
    assert obs.ok is None
    assert obs.detail.startswith("status page unreadable: connection refused (")


async def test_missing_variable_in_the_url_is_unknown(http: httpx.AsyncClient) -> None:
    obs = await probe(http, "https://${STATUS_HOST}/", ["Mail Sending"])(now=NOW)
    assert obs.ok is None
    assert "STATUS_HOST is not set" in obs.detail
