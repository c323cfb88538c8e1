"""Simulated providers: Statuspage summaries shaped like the real thing, health endpoints,
switchable outages, and the wiring that makes a provider outage fail Novu's messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.clock import FakeClock
from daemon.signals.statuspage import component_statuses
from daemon.sim import NovuSimulator, ProviderChange, ProviderFarm, connect, create_providers_app
from daemon.sim.providers import COMPONENT_STATUSES

REAL_SUMMARY = Path(__file__).parent / "fixtures" / "statuspage-summary.json"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def farm(sleeps: Sleeps) -> ProviderFarm:
    return ProviderFarm(clock=FakeClock(), sleep=sleeps)


@pytest.fixture
async def client(farm: ProviderFarm) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_providers_app(farm))
    async with httpx.AsyncClient(transport=transport, base_url="http://providers") as c:
        yield c


async def summary(client: httpx.AsyncClient, provider: str) -> dict[str, Any]:
    response = await client.get(f"/{provider}/api/v2/summary.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in document["components"]}


async def test_summary_has_the_shape_of_a_real_statuspage_summary(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    """Same top-level, page, status, component and incident keys as a captured summary."""
    real = json.loads(REAL_SUMMARY.read_text())
    farm.set_outage("sendgrid", "partial_outage", components=["Mail Sending"])
    ours = await summary(client, "sendgrid")
    assert set(ours) == set(real)
    assert set(ours["page"]) == set(real["page"])
    assert set(ours["status"]) == set(real["status"])
    real_component_keys = {k for c in real["components"] if not c["group"] for k in c}
    assert {k for c in ours["components"] for k in c} == real_component_keys
    assert set(ours["incidents"][0]) == set(real["incidents"][0])
    assert set(ours["incidents"][0]["incident_updates"][0]) == set(
        real["incidents"][0]["incident_updates"][0]
    )


async def test_every_provider_starts_operational(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    for provider in farm.names:
        document = await summary(client, provider)
        assert set(statuses(document).values()) == {"operational"}
        assert document["status"] == {
            "indicator": "none",
            "description": "All Systems Operational",
        }
        assert document["incidents"] == []
        assert (await client.get(f"/{provider}/api/health")).status_code == 200


@pytest.mark.parametrize(
    ("status", "indicator", "description"),
    [
        ("degraded_performance", "minor", "Minor Service Outage"),
        ("partial_outage", "major", "Partial System Outage"),
        ("major_outage", "critical", "Major System Outage"),
        ("under_maintenance", "maintenance", "Service Under Maintenance"),
    ],
)
async def test_outage_status_sets_components_indicator_and_an_incident(
    client: httpx.AsyncClient,
    farm: ProviderFarm,
    status: str,
    indicator: str,
    description: str,
) -> None:
    farm.set_outage("twilio", status)
    document = await summary(client, "twilio")
    assert set(statuses(document).values()) == {status}
    assert document["status"] == {"indicator": indicator, "description": description}
    events = document["incidents"] + document["scheduled_maintenances"]
    assert len(events) == 1
    assert {c["name"] for c in events[0]["components"]} == {"SMS", "REST API"}


async def test_outage_can_name_components_and_clears_with_none(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    farm.set_outage("sendgrid", "major_outage", components=["Mail Sending"])
    assert statuses(await summary(client, "sendgrid")) == {
        "Mail Sending": "major_outage",
        "API": "operational",
        "Event Webhook": "operational",
    }
    farm.set_outage("sendgrid", None)
    document = await summary(client, "sendgrid")
    assert set(statuses(document).values()) == {"operational"}
    assert document["incidents"] == []


async def test_unknown_status_values_pass_through_for_probe_tests(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    farm.set_outage("ses", "mostly_fine")
    assert set(statuses(await summary(client, "ses")).values()) == {"mostly_fine"}


def test_outage_refuses_bad_status_and_unknown_components(farm: ProviderFarm) -> None:
    with pytest.raises(ValueError, match="lower_snake_case"):
        farm.set_outage("ses", "Major Outage")
    with pytest.raises(ValueError, match="no component"):
        farm.set_outage("ses", "major_outage", components=["Carrier Pigeons"])
    with pytest.raises(KeyError):
        farm.set_outage("postmark", "major_outage")


async def test_summary_is_read_by_the_statuspage_signal_parser(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    """The daemon's own Statuspage parser reads our page as intended."""
    farm.set_outage("sendgrid", "major_outage", components=["Mail Sending"])
    parsed = component_statuses(await summary(client, "sendgrid"))
    assert parsed["mail sending"] == ["major_outage"]
    assert parsed["api"] == ["operational"]


async def test_health_answers_503_while_the_api_is_down(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    farm.set_api_down("mailgun", True)
    down = await client.get("/mailgun/api/health")
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    farm.set_api_down("mailgun", False)
    assert (await client.get("/mailgun/api/health")).status_code == 200


async def test_api_down_and_page_status_are_independent(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    farm.set_api_down("vonage", True)
    assert set(statuses(await summary(client, "vonage")).values()) == {"operational"}
    farm.set_api_down("vonage", False)
    farm.set_outage("vonage", "major_outage")
    assert (await client.get("/vonage/api/health")).status_code == 200


async def test_health_waits_for_the_configured_latency(
    client: httpx.AsyncClient, farm: ProviderFarm, sleeps: Sleeps
) -> None:
    farm.set_latency("twilio", 0.25)
    assert (await client.get("/twilio/api/health")).status_code == 200
    assert sleeps.calls == [0.25]
    with pytest.raises(ValueError, match="negative"):
        farm.set_latency("twilio", -1)


async def test_status_page_itself_can_be_down(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    farm.set_statuspage_down("sendgrid", True)
    assert (await client.get("/sendgrid/api/v2/summary.json")).status_code == 503
    assert (await client.get("/sendgrid/api/health")).status_code == 200


async def test_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/postmark/api/v2/summary.json")).status_code == 404
    assert (await client.get("/postmark/api/health")).status_code == 404


# --- control endpoints ---


async def test_control_endpoint_switches_an_outage_on_and_off(
    client: httpx.AsyncClient, farm: ProviderFarm
) -> None:
    response = await client.post(
        "/_providers/sendgrid", json={"status": "major_outage", "api_down": True, "latency": 0.2}
    )
    assert response.status_code == 200
    assert response.json()["api_down"] is True
    assert (await client.get("/sendgrid/api/health")).status_code == 503
    assert farm.state("sendgrid").latency == 0.2
    await client.post("/_providers/sendgrid", json={"status": None, "api_down": False})
    assert (await client.get("/sendgrid/api/health")).status_code == 200
    assert farm.state("sendgrid").worst == "operational"


async def test_control_endpoint_lists_every_provider(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/_providers")).json()["providers"]
    assert [p["provider"] for p in listed] == ["sendgrid", "ses", "mailgun", "twilio", "vonage"]
    vonage = listed[-1]
    assert vonage["novuProviderId"] == "nexmo"


@pytest.mark.parametrize(
    ("provider", "body", "status"),
    [
        pytest.param("sendgrid", {"status": 3}, 400, id="status-type"),
        pytest.param("sendgrid", {"api_down": "yes"}, 400, id="flag-type"),
        pytest.param("sendgrid", {"latency": -1}, 400, id="negative-latency"),
        pytest.param("sendgrid", {"colour": "red"}, 400, id="unknown-field"),
        pytest.param("sendgrid", [1, 2], 400, id="not-an-object"),
        pytest.param(
            "sendgrid",
            {"status": "major_outage", "components": ["Nope"]},
            400,
            id="unknown-component",
        ),
        pytest.param("postmark", {"api_down": True}, 404, id="unknown-provider"),
    ],
)
async def test_control_endpoint_refuses_bad_bodies_and_changes_nothing(
    client: httpx.AsyncClient, farm: ProviderFarm, provider: str, body: Any, status: int
) -> None:
    before = farm.describe()
    response = await client.post(f"/_providers/{provider}", json=body)
    assert response.status_code == status
    assert response.json()["error"]
    assert farm.describe() == before


async def test_control_endpoint_refuses_oversized_bodies(client: httpx.AsyncClient) -> None:
    response = await client.post("/_providers/sendgrid", content=b"{" + b" " * 20_000 + b"}")
    assert response.status_code == 413


# --- hooks and wiring into the Novu simulator ---


def test_listeners_hear_every_change_with_its_delivery_meaning(farm: ProviderFarm) -> None:
    heard: list[ProviderChange] = []
    farm.on_change(heard.append)
    assert len(heard) == len(farm.names)  # the current state first
    heard.clear()
    farm.set_outage("vonage", "partial_outage")
    farm.set_api_down("vonage", True)
    farm.set_outage("vonage", None)
    farm.set_api_down("vonage", False)
    assert [(c.novu_provider_id, c.failure_rate) for c in heard] == [
        ("nexmo", 0.5),
        ("nexmo", 1.0),
        ("nexmo", 1.0),
        ("nexmo", 0.0),
    ]


@pytest.mark.parametrize(
    "status", [s for s in COMPONENT_STATUSES if s not in ("partial_outage", "major_outage")]
)
def test_statuses_short_of_an_outage_do_not_fail_delivery(farm: ProviderFarm, status: str) -> None:
    farm.set_outage("sendgrid", status)
    assert farm.state("sendgrid").failure_rate == 0.0


def test_connected_outage_fails_the_providers_messages_in_novu(farm: ProviderFarm) -> None:
    sim = NovuSimulator(clock=FakeClock(), rate_limit=None)
    connect(farm, sim)
    assert sim.send("email")["status"] == "sent"  # type: ignore[index]
    farm.set_down("sendgrid", down=True)
    assert sim.failing_providers() == {"sendgrid": 1.0}
    assert sim.send("email")["status"] == "error"  # type: ignore[index]
    assert sim.send("sms")["status"] == "sent"  # type: ignore[index]
    farm.set_down("sendgrid", down=False)
    assert sim.send("email")["status"] == "sent"  # type: ignore[index]


def test_vonage_outage_fails_novus_nexmo_provider(farm: ProviderFarm) -> None:
    sim = NovuSimulator(clock=FakeClock(), rate_limit=None)
    connect(farm, sim)
    farm.set_outage("vonage", "partial_outage")
    assert sim.failing_providers() == {"nexmo": 0.5}


def test_simulator_reset_reapplies_the_providers_state(farm: ProviderFarm) -> None:
    sim = NovuSimulator(clock=FakeClock(), rate_limit=None)
    connect(farm, sim)
    farm.set_down("twilio", down=True)
    sim.reset()
    assert sim.failing_providers() == {"twilio": 1.0}
    farm.reset()
    assert sim.failing_providers() == {}
