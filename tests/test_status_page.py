"""The status page at `/`: what it shows for a status, how it escapes, what it refuses."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import httpx
import pytest
from fake_control_plane import START, FakePlane
from html_dom import Element, parse
from prometheus_client import CollectorRegistry

from daemon.api import create_app
from daemon.api.page import MAX_CARDS, render_page
from daemon.api.page_model import NAME_CHARS, channel_state
from daemon.control import FULL
from daemon.model import AuditRecord, Decision, DecisionKind
from daemon.service.timeline import Timeline

HOSTILE = '<script id="pwned">alert(1)</script><img id="pwned-img" src=x onerror=alert(2)>"\'&'


async def _get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
        return await client.get(path)


def _render(status: dict[str, Any], timelines: dict[str, Any] | None = None) -> Element:
    html = render_page(status, timelines or {}, window=3 * 3600, window_label="3h", refresh=10)
    return parse(html)


def _section(dom: Element, key: str) -> Element:
    return dom.find("section", data_channel=key)


async def test_the_page_is_served_without_a_token_with_strict_headers() -> None:
    app = create_app(FakePlane(), registry=CollectorRegistry(), api_token=None)
    response = await _get(app, "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # falls back to 'none': no script runs, even injected
    dom = parse(response.text)
    assert dom.find_all("script") == []
    refs = [e.attrs.get("href", "") + e.attrs.get("src", "") for e in dom.iter()]
    assert not [r for r in refs if "//" in r], "no external asset (the pod has no internet)"
    refresh = dom.find("meta", http_equiv="refresh")
    assert refresh.attrs["content"] == "10"


async def test_each_channel_shows_state_primary_and_reason() -> None:
    response = await _get(
        create_app(FakePlane(), registry=CollectorRegistry(), api_token=None), "/"
    )
    dom = parse(response.text)
    email = _section(dom, "production/email")
    assert email.attrs["data-state"] == "held"
    assert email.find(cls="ident", data_primary="sendgrid-main")
    assert "cooldown holds the switch to ses-backup" in email.find("p", cls="reason").text()
    sms = _section(dom, "production/sms")
    assert sms.attrs["data-state"] == "blocked"
    assert "inactive" in sms.find("p", cls="primary").text()
    assert "blocked until" in sms.find("li", cls="blocked-note").text()
    signal = email.find("tr", data_signal="statuspage")
    assert signal.attrs["data-health"] == "down"
    assert "Mail Sending is major_outage" in signal.text()
    assert dom.find("title").text_raw() == "novu-failover: 1 blocked, 1 held"


@pytest.mark.parametrize(
    ("changes", "dry_run", "expected"),
    [
        pytest.param({"decision": {"kind": "keep"}}, False, "ok", id="keep-is-ok"),
        pytest.param({"decision": {"kind": "switch"}}, False, "ok", id="switch-done-is-ok"),
        pytest.param(
            {"decision": {"kind": "switch"}, "in_flight": True}, False, "acting", id="acting"
        ),
        pytest.param(
            {"decision": {"kind": "keep"}, "in_flight": True}, False, "acting", id="manual-switch"
        ),
        pytest.param(
            {"decision": {"kind": "keep"}, "open_action": {"id": "1"}}, False, "acting", id="open"
        ),
        pytest.param({"decision": {"kind": "hold"}}, False, "held", id="hold"),
        pytest.param({"decision": {"kind": "wait"}}, False, "held", id="wait"),
        pytest.param({"decision": {"kind": "not_managed"}}, False, "held", id="not-managed"),
        pytest.param({"decision": None}, False, "held", id="not-evaluated-yet"),
        pytest.param({"decision": {"kind": "blocked"}}, False, "blocked", id="blocked"),
        pytest.param(
            {"decision": {"kind": "keep"}, "brake": {"blocked_until": START + 60}},
            False,
            "blocked",
            id="brake-holds-while-primary-is-fine",
        ),
        pytest.param({"decision": {"kind": "paused"}}, False, "paused", id="paused"),
        pytest.param(
            {"decision": {"kind": "blocked"}, "pause": {"reason": "x"}},
            False,
            "blocked",
            id="blocked-before-paused",
        ),
        pytest.param({"decision": {"kind": "would_switch"}}, False, "dry-run", id="would-switch"),
        pytest.param({"decision": {"kind": "keep"}, "dry_run": True}, False, "dry-run", id="rule"),
        pytest.param({"decision": {"kind": "keep"}}, True, "dry-run", id="global-dry-run"),
    ],
)
def test_channel_state(changes: dict[str, Any], dry_run: bool, expected: str) -> None:
    channel: dict[str, Any] = {"in_flight": False, "pause": None, "brake": {}, **changes}
    assert channel_state(channel, dry_run=dry_run) == expected


def _hostile_status() -> dict[str, Any]:
    status = FakePlane().status_now(FULL)
    email = status["channels"][0]
    long_name = "x" * 10_000 + HOSTILE
    email["decision"]["reason"] = f"primary down: {HOSTILE}"
    email["candidates"][0]["integration"] = long_name
    email["candidates"][0]["reason"] = HOSTILE
    email["candidates"][0]["signals"][0]["signal"] = HOSTILE
    email["primary"]["integration"] = long_name
    email["pause"] = {"reason": HOSTILE, "since": START, "until": None, "by": HOSTILE}
    status["rules"]["error"] = HOSTILE
    return status


def _hostile_timelines(status: dict[str, Any]) -> dict[str, Any]:
    name = status["channels"][0]["candidates"][0]["integration"]
    return {
        "production/email": {
            "health": [
                {
                    "integration": name,
                    "signal": None,
                    "points": [{"at": START - 60, "state": "down", "reason": HOSTILE}],
                }
            ],
            "decisions": [
                {
                    "at": START - 30,
                    "kind": "paused",
                    "reason": HOSTILE,
                    "current": name,
                    "target": None,
                }
            ],
            "actions": [
                {
                    "at": START - 20,
                    "result": "failed",
                    "from": name,
                    "to": HOSTILE,
                    "trigger": "manual",
                    "dry_run": False,
                    "error": HOSTILE,
                }
            ],
        }
    }


def test_hostile_values_are_escaped_and_the_page_stays_usable() -> None:
    status = _hostile_status()
    html = render_page(
        status, _hostile_timelines(status), window=3600, window_label="1h", refresh=10
    )
    dom = parse(html)
    assert dom.find_all("script") == []
    assert dom.find_all("img") == []
    assert not [e for e in dom.iter() if any(k.startswith("on") for k in e.attrs)]
    assert not [e for e in dom.iter() if e.attrs.get("id", "").startswith("pwned")]
    assert HOSTILE not in html  # only ever in escaped form
    email = _section(dom, "production/email")
    assert HOSTILE in email.find("p", cls="reason").text()
    assert HOSTILE in email.find("tr", cls="candidate").text()
    assert HOSTILE in " ".join(email.find("svg").titles())
    # the 10 kB name is cut where it is shown and whole in its tooltip
    ident = email.find(cls="ident")
    assert len(ident.text()) <= NAME_CHARS
    assert ident.attrs["title"] == status["channels"][0]["primary"]["integration"]
    # the rest of the page is intact after it
    sms = _section(dom, "production/sms")
    assert sms.attrs["data-state"] == "blocked"
    assert sms.find("table", cls="candidates")
    assert "Read-only" in dom.find("footer").text()


def test_the_timeline_draws_health_decisions_switches_and_spans() -> None:
    plane = FakePlane()
    status = plane.status_now(FULL)
    timeline = Timeline()
    key = "production/email"
    timeline.health(key, "sendgrid-main", None, state="up", reason="fine", at=START - 600)
    timeline.health(key, "sendgrid-main", None, state="down", reason="503s", at=START - 300)
    timeline.decision(
        Decision(channel=key, kind=DecisionKind.PAUSED, reason="paused by ops", at=START - 500)
    )
    timeline.decision(
        Decision(channel=key, kind=DecisionKind.SWITCH, reason="fail over", at=START - 290)
    )
    timeline.action(
        key,
        AuditRecord(
            id="1",
            at=START - 289,
            environment="production",
            channel="email",
            from_="sendgrid-main",
            to="ses-backup",
            trigger="failover",
            reason="r",
            result="ok",
        ),
    )
    dom = _render(status, timeline.snapshot(since=START - 3600))
    svg = _section(dom, key).find("svg")
    bands = svg.find_all("rect", cls="band")
    assert [b.attrs["class"] for b in bands] == ["band health-up", "band health-down"]
    assert float(bands[0].attrs["x"]) < float(bands[1].attrs["x"])
    (switch,) = svg.find_all("path", cls="switch")
    assert "result-ok" in switch.attrs["class"]
    assert "failover sendgrid-main → ses-backup: ok" in switch.titles()[0]
    (span,) = svg.find_all("rect", cls="span-paused")
    assert "paused by ops" in span.titles()[0]
    assert len(svg.find_all("path", cls="decision")) == 2
    events = _section(dom, key).find("ol", cls="events").text()
    assert "failover sendgrid-main → ses-backup: ok" in events


def test_readiness_and_failure_classes_are_shown_as_the_status_api_reports_them() -> None:
    """`readiness: {ready, reasons, notes}` per candidate and a signal's `last_failure`
    class, in the shapes views.py gives them (docs/api.md)."""
    status = FakePlane().status_now(FULL)
    for candidate in status["channels"][0]["candidates"]:
        candidate.pop("readiness", None)  # a daemon that does not report readiness
    headers = [th.text() for th in _section(_render(status), "production/email").find_all("th")]
    assert "ready" not in headers
    reported = copy.deepcopy(status)
    candidate = reported["channels"][0]["candidates"][1]
    candidate["readiness"] = {
        "ready": False,
        "reasons": ["canary failed 3m ago: credentials"],
        "notes": [],
    }
    reported["channels"][0]["candidates"][0]["readiness"] = {
        "ready": True,
        "reasons": [],
        "notes": ["canary delivered 2m ago"],
    }
    reported["channels"][0]["candidates"][0]["signals"][0]["last_failure"] = {
        "at": status["now"] - 60,
        "failure_class": "credentials",
    }
    email = _section(_render(reported), "production/email")
    assert "ready" in [th.text() for th in email.find_all("th")]
    row = email.find("tr", data_integration="ses-backup")
    assert "not ready" in row.text()
    assert "canary failed 3m ago: credentials" in row.text()
    primary = email.find("tr", data_integration="sendgrid-main").text()
    assert "ready" in primary
    assert "not ready" not in primary
    assert "credentials" in email.find("tr", data_signal="statuspage").text()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("window=abc", "window:"),
        ("window=10s", "window: must be from 1m to 24h"),
        ("window=2d", "window:"),
        ("refresh=1", "refresh: seconds from 2 to 3600"),
        ("refresh=soon", "refresh:"),
    ],
)
async def test_bad_query_parameters_are_refused_with_a_clear_message(
    query: str, message: str
) -> None:
    app = create_app(FakePlane(), registry=CollectorRegistry(), api_token=None)
    response = await _get(app, f"/?{query}")
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


async def test_refresh_zero_turns_the_self_refresh_off() -> None:
    app = create_app(FakePlane(), registry=CollectorRegistry(), api_token=None)
    dom = parse((await _get(app, "/?refresh=0&window=15m")).text)
    assert dom.find_all("meta", http_equiv="refresh") == []
    assert dom.find("a", cls="current").text() == "15m"


def _fleet_plane(size: int) -> FakePlane:
    """The sample channels plus `size` like production/email (held), and one ok."""
    plane = FakePlane()
    email = plane.channels["production/email"]
    for i in range(size):
        copy_ = dataclasses.replace(email, environment=f"tenant{i:03d}")
        plane.channels[copy_.key] = copy_
    calm = dataclasses.replace(
        email,
        environment="calm",
        decision=Decision(
            channel="calm/email",
            kind=DecisionKind.KEEP,
            reason="no action: primary is up",
            at=START,
            current="sendgrid-main",
        ),
    )
    plane.channels[calm.key] = calm
    return plane


async def test_a_large_fleet_gets_a_row_each_and_cards_for_the_first_that_are_not_ok() -> None:
    app = create_app(_fleet_plane(60), registry=CollectorRegistry(), api_token=None)
    dom = parse((await _get(app, "/?refresh=0")).text)
    rows = dom.find("table", cls="overview").find_all("tr", cls="overview-row")
    assert len(rows) == 63
    assert rows[-1].attrs["data-channel"] == "calm/email"
    assert rows[-1].attrs["data-state"] == "ok"
    cards = dom.find_all("section", cls="channel")
    assert len(cards) == MAX_CARDS
    assert "calm/email" not in [c.attrs["data-channel"] for c in cards]
    assert "63 channels: one row each below" in dom.find("p", cls="notice").text()
    assert dom.find("title").text_raw() == "novu-failover: 1 blocked, 61 held, 1 ok"


async def test_filters_choose_the_cards() -> None:
    app = create_app(_fleet_plane(60), registry=CollectorRegistry(), api_token=None)
    dom = parse((await _get(app, "/?channel=calm/email&window=1h")).text)
    (card,) = dom.find_all("section", cls="channel")
    assert card.attrs["data-channel"] == "calm/email"
    assert card.find("tr", data_signal="statuspage"), "a card shows the signals"
    assert dom.find_all("table", cls="overview") == []
    links = [a.attrs["href"] for a in dom.find("nav", aria_label="timeline window").find_all("a")]
    assert "?window=15m&refresh=10&channel=calm/email" in links
    blocked = parse((await _get(app, "/?state=blocked")).text)
    assert [s.attrs["data-channel"] for s in blocked.find_all("section", cls="channel")] == [
        "production/sms"
    ]
