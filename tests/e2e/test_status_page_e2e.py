"""The status page in a real browser (Debian's headless Chromium) against the real daemon in
the middle of the demo story: SendGrid is down and email has failed over to ses-backup;
Twilio flapped and the brake blocked sms. What a person sees is checked from the DOM the
browser built, and a screenshot is saved (set STATUS_PAGE_SCREENSHOT=path to keep it).

Hostile values are checked the same way, through a browser, on a page served from a
status full of markup and a 10 kB integration name."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from browser import dump_dom, screenshot
from fake_control_plane import FakePlane
from html_dom import parse
from prometheus_client import CollectorRegistry

from daemon.api import create_app
from daemon.commands.demo import DEMO_API_KEY_ENV, render_rules
from daemon.control import FULL, StatusQuery
from daemon.service.server import Running, run_daemon
from daemon.settings import load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SPEED = 2.0
PROBE_TIMEOUT = "900ms"
"""Probes every second, each allowed 900 ms: a browser starting on a busy machine must not
starve the in-process daemon's probes into timeouts that rewrite the story."""
HOSTILE = '<script id="pwned">document.title="pwned"</script><img id="pwned-img" src=x onerror=1>'


def _channel(status: dict[str, Any], key: str) -> dict[str, Any]:
    return next(c for c in status["channels"] if c["channel"] == key)


async def _until(predicate: Callable[[], bool], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for: {what}")
        await asyncio.sleep(0.05)


async def _flap(simulation: Any, provider: str, *, period: float) -> None:
    down = True
    while True:
        simulation.set_provider_down(provider, down=down)
        down = not down
        await asyncio.sleep(period)


@pytest.fixture
async def mid_story(simulation: Any, tmp_path: Path) -> AsyncIterator[Running]:
    """The daemon on the demo rules, played to: email failed over, sms blocked by the brake."""
    rules = tmp_path / "rules.yaml"
    text = render_rules(
        novu_url=simulation.url, providers_url=simulation.providers_url, scale=1 / SPEED
    )
    rules.write_text(re.sub(r"timeout: \d+ms", f"timeout: {PROBE_TIMEOUT}", text, count=1))
    settings = load_settings(rules=rules, listen="127.0.0.1:0", state_dir=tmp_path / "state")
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_daemon(
            settings,
            environ={DEMO_API_KEY_ENV: simulation.api_key("production")},
            on_started=started,
            handle_signals=False,
        )
    )
    running = await asyncio.wait_for(started, timeout=20)
    status = running.daemon.status
    try:
        await _until(
            lambda: all(
                c["decision"] is not None and all(x["state"] == "up" for x in c["candidates"])
                for c in status()["channels"]
            ),
            within=30,
            what="every candidate up",
        )
        simulation.set_provider_down("sendgrid", down=True)
        await _until(
            lambda: (
                (_channel(status(), "production/email")["primary"] or {}).get("integration")
                == "ses-backup"
            ),
            within=30,
            what="email failed over to ses-backup",
        )
        flapping = asyncio.create_task(_flap(simulation, "twilio", period=6.0 / SPEED))
        try:
            await _until(
                lambda: (
                    (_channel(status(), "production/sms")["decision"] or {}).get("kind")
                    == "blocked"
                ),
                within=90,
                what="twilio flapping trips the sms brake",
            )
        finally:
            flapping.cancel()
        simulation.set_provider_down("twilio", down=True)  # stays down: the block stays visible
        yield running
    finally:
        running.stop.set()
        assert await task == 0


async def test_a_person_sees_the_failover_the_block_and_the_switch_mark(
    mid_story: Running, tmp_path: Path
) -> None:
    dom = parse(await dump_dom(f"{mid_story.url}/", profile=tmp_path / "chromium"))
    email = dom.find("section", data_channel="production/email")
    assert email.find(cls="ident").attrs["data-primary"] == "ses-backup"
    assert "primary ses-backup" in email.find("p", cls="primary").text()
    switches = email.find("svg").find_all("path", cls="switch")
    titles = [t for s in switches for t in s.titles()]
    assert any("failover sendgrid-main → ses-backup: ok" in t for t in titles), titles
    sendgrid = email.find("tr", data_integration="sendgrid-main")
    assert sendgrid.attrs["data-health"] == "down"
    # the backups prove themselves with a canary: their readiness is shown
    assert "ready" in [th.text() for th in email.find_all("th")]
    assert "ready" in email.find("tr", data_integration="ses-backup").text()

    sms = dom.find("section", data_channel="production/sms")
    assert sms.attrs["data-state"] == "blocked"
    assert sms.find(cls="badge").text() == "blocked"
    reason = sms.find("p", cls="reason").text()
    assert reason.startswith("[blocked] brake: 2 automatic switches"), reason
    assert "blocked until" in sms.find("li", cls="blocked-note").text()
    assert sms.find("svg").find_all("rect", cls="span-blocked")

    shot = tmp_path / "status-page.png"
    await screenshot(f"{mid_story.url}/?refresh=0", shot, profile=tmp_path / "chromium")
    keep = os.environ.get("STATUS_PAGE_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
    print(f"screenshot: {keep or shot}")


async def test_hostile_values_stay_text_in_a_real_browser(tmp_path: Path) -> None:
    class HostilePlane(FakePlane):
        async def status(self, query: StatusQuery = FULL) -> Any:
            status = self.status_now(query)
            email = status["channels"][0]
            email["primary"]["integration"] = "n" * 10_000 + HOSTILE
            email["candidates"][0]["integration"] = "n" * 10_000 + HOSTILE
            email["decision"]["reason"] = f"primary down: {HOSTILE}"
            if query.detail == "full":
                email["candidates"][1]["signals"][0]["reason"] = HOSTILE
            return status

    app = create_app(HostilePlane(), registry=CollectorRegistry(), api_token=None)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        await _until(lambda: server.started, within=10, what="the page server")
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/"
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 200
        dom = parse(await dump_dom(url, profile=tmp_path / "chromium"))
    finally:
        server.should_exit = True
        await serving
    assert dom.find("title").text_raw() == "novu-failover: 1 blocked, 1 held"
    assert not [e for e in dom.iter() if e.attrs.get("id", "").startswith("pwned")]
    assert dom.find_all("script") == []
    assert dom.find_all("img") == []
    email = dom.find("section", data_channel="production/email")
    assert HOSTILE in email.find("p", cls="reason").text()
    ident = email.find(cls="ident")
    assert len(ident.text()) <= 60
    assert ident.attrs["title"].endswith(HOSTILE)
    sms = dom.find("section", data_channel="production/sms")
    assert sms.attrs["data-state"] == "blocked"
    assert sms.find("table", cls="candidates")
