"""The real `novu-failover run` process against the simulator and providers on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from typing import Any

import httpx
import pytest
from e2e_support import FALL, INTERVAL, TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def set_primary_calls(simulation: Any) -> list[str]:
    """Identifiers the simulator was asked to make primary, in order."""
    return simulation.set_primary_targets()


async def wait_until(predicate: Any, *, timeout: float, what: str) -> float:
    start = time.monotonic()
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def channel_status(daemon: Any, key: str) -> dict[str, Any]:
    status = await daemon.get("/v1/status")
    return next(c for c in status["channels"] if c["channel"] == key)


async def test_outage_switches_once_within_fall_times_interval(
    simulation: Any, make_daemon: Any
) -> None:
    """A provider outage leads to exactly one set-primary, within fall x interval + margin."""
    daemon = make_daemon()
    await daemon.wait_ready()
    await wait_until(
        lambda: _all_up(daemon, "production/email"), timeout=10, what="email candidates up"
    )
    simulation.set_provider_down("sendgrid", down=True)
    took = await wait_until(
        lambda: set_primary_calls(simulation) == ["ses-backup"],
        timeout=10,
        what="a set-primary to ses-backup",
    )
    # fall consecutive failures at `interval` (+ jitter, timeout and one scheduling slack)
    assert took <= FALL * INTERVAL + 2.0, f"switch took {took:.2f}s"
    await asyncio.sleep(FALL * INTERVAL * 3)
    assert set_primary_calls(simulation) == ["ses-backup"], "switched more than once"
    # the audit record is written after the read-back, a moment after Novu saw the call
    email = await channel_status(daemon, "production/email")
    assert email["primary"]["integration"] == "ses-backup"
    events = (await daemon.get("/v1/events"))["events"]
    switch = [e for e in events if e["action"] == "switch"]
    # newest first: the final record, then the write-ahead record of the same action
    assert [(e["from"], e["to"], e["result"], e["trigger"]) for e in switch] == [
        ("sendgrid-main", "ses-backup", "ok", "failover"),
        ("sendgrid-main", "ses-backup", "started", "failover"),
    ]
    assert switch[0]["id"] == switch[1]["id"]


async def test_failback_only_after_the_delay(simulation: Any, make_daemon: Any) -> None:
    """After recovery the daemon fails back, but not before `failback.after`."""
    daemon = make_daemon(failback="3s")
    await daemon.wait_ready()
    await wait_until(
        lambda: _all_up(daemon, "production/email"), timeout=10, what="email candidates up"
    )
    simulation.set_provider_down("sendgrid", down=True)
    await wait_until(
        lambda: set_primary_calls(simulation) == ["ses-backup"], timeout=10, what="failover"
    )
    recovered = time.monotonic()
    simulation.set_provider_down("sendgrid", down=False)
    await wait_until(
        lambda: set_primary_calls(simulation) == ["ses-backup", "sendgrid-main"],
        timeout=15,
        what="failback",
    )
    assert time.monotonic() - recovered >= 3.0, "failed back before the failback delay"

    async def switches_recorded() -> bool:
        return (await daemon.get("/v1/events"))["total"] >= 4  # 2 x (started, ok)

    await wait_until(switches_recorded, timeout=5, what="the failback's audit record")
    events = (await daemon.get("/v1/events"))["events"]
    finals = [e for e in events if e["action"] == "switch" and e["result"] != "started"]
    assert [(e["to"], e["trigger"]) for e in finals] == [
        ("sendgrid-main", "failback"),
        ("ses-backup", "failover"),
    ]


async def test_paused_channel_never_switches(simulation: Any, make_daemon: Any) -> None:
    daemon = make_daemon()
    await daemon.wait_ready()
    response = await daemon.post(
        "/v1/pause", {"channel": "production/email", "reason": "e2e maintenance"}
    )
    assert response.status_code == 200, response.text
    simulation.set_provider_down("sendgrid", down=True)
    await wait_until(
        lambda: _candidate_state(daemon, "production/email", "sendgrid-main", "down"),
        timeout=10,
        what="sendgrid-main down",
    )
    await asyncio.sleep(FALL * INTERVAL * 3)
    assert set_primary_calls(simulation) == []
    email = await channel_status(daemon, "production/email")
    assert email["decision"]["kind"] == "paused"
    assert email["pause"]["reason"] == "e2e maintenance"


async def test_kill_and_restart_keeps_pause_and_audit_without_second_switch(
    simulation: Any, make_daemon: Any, tmp_path: Any
) -> None:
    """SIGKILL mid-life: the pause and the audit trail survive; no second switch happens."""
    state_dir = tmp_path / "state"
    daemon = make_daemon(state_dir=state_dir, failback="1h")
    await daemon.wait_ready()
    simulation.set_provider_down("sendgrid", down=True)
    await wait_until(
        lambda: set_primary_calls(simulation) == ["ses-backup"], timeout=10, what="failover"
    )
    response = await daemon.post("/v1/pause", {"channel": "production/sms", "reason": "keep"})
    assert response.status_code == 200, response.text
    daemon.kill()

    again = make_daemon(state_dir=state_dir, failback="1h")
    await again.wait_ready()
    sms = await channel_status(again, "production/sms")
    assert sms["pause"] is not None
    assert sms["pause"]["reason"] == "keep"
    events = (await again.get("/v1/events"))["events"]
    assert any(e["action"] == "switch" and e["to"] == "ses-backup" for e in events), events
    assert any(e["action"] == "pause" for e in events)
    await asyncio.sleep(FALL * INTERVAL * 4)
    assert set_primary_calls(simulation) == ["ses-backup"], "a second switch after restart"


async def test_bad_rules_on_sighup_keeps_old_rules_and_reports(
    simulation: Any, make_daemon: Any, tmp_path: Any
) -> None:
    daemon = make_daemon()
    await daemon.wait_ready()
    rules = tmp_path / "rules.yaml"
    good = rules.read_text()
    rules.write_text(good.replace("channel: sms", "channel: push"))
    daemon.signal(signal.SIGHUP)

    async def reported() -> bool:
        async with httpx.AsyncClient() as client:
            ready = (await client.get(f"{daemon.url}/readyz")).json()
        return bool(ready["detail"]["rules"]["error"])

    await wait_until(reported, timeout=10, what="/readyz to show the rules error")
    async with httpx.AsyncClient() as client:
        ready = (await client.get(f"{daemon.url}/readyz")).json()
        metrics = (await client.get(f"{daemon.url}/metrics")).text
    assert "push" in ready["detail"]["rules"]["error"]
    assert 'novu_failover_config_reloads_total{result="error"} 1.0' in metrics
    assert "novu_failover_config_valid 0.0" in metrics
    assert "keeping the last good rules" in daemon.log()
    status = await daemon.get("/v1/status")
    assert {c["channel"] for c in status["channels"]} == {"production/email", "production/sms"}
    # the old rules still act
    simulation.set_provider_down("sendgrid", down=True)
    await wait_until(
        lambda: set_primary_calls(simulation) == ["ses-backup"], timeout=10, what="failover"
    )


async def test_sigterm_exits_zero(simulation: Any, make_daemon: Any) -> None:
    daemon = make_daemon()
    await daemon.wait_ready()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0
    log = daemon.log()
    assert "stopped" in log
    assert "Traceback" not in log, "a job was cut off mid-request instead of finishing"


async def test_control_endpoints_reject_bad_requests_without_change(
    simulation: Any, make_daemon: Any
) -> None:
    daemon = make_daemon()
    await daemon.wait_ready()
    body = {"channel": "production/email", "reason": "x"}
    assert (await daemon.post("/v1/pause", body, token=None)).status_code == 401
    assert (await daemon.post("/v1/pause", body, token="wrong")).status_code == 401
    async with httpx.AsyncClient() as client:
        huge = await client.post(
            f"{daemon.url}/v1/pause",
            content=b'{"reason": "' + b"x" * 100_000 + b'"}',
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        broken = await client.post(
            f"{daemon.url}/v1/pause",
            content=b"{not json",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
    assert huge.status_code == 413
    assert broken.status_code == 400
    status = await daemon.get("/v1/status")
    assert all(c["pause"] is None for c in status["channels"])
    assert status["global_pause"] is None
    assert (await daemon.get("/v1/events"))["total"] == 0


@pytest.mark.skipif(
    shutil.which("promtool") is None and os.environ.get("CI") != "true",
    reason="promtool (Debian package prometheus) not installed; CI installs it",
)
async def test_promtool_accepts_a_real_scrape(simulation: Any, make_daemon: Any) -> None:
    daemon = make_daemon()
    await daemon.wait_ready()
    await wait_until(
        lambda: _all_up(daemon, "production/email"), timeout=10, what="email candidates up"
    )
    scrape = await daemon.get("/metrics")
    assert "novu_failover_" in scrape
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=scrape.encode(), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert simulation.api_key("production") not in scrape


async def _all_up(daemon: Any, key: str) -> bool:
    channel = await channel_status(daemon, key)
    return all(c["state"] == "up" for c in channel["candidates"])


async def _candidate_state(daemon: Any, key: str, integration: str, state: str) -> bool:
    channel = await channel_status(daemon, key)
    return any(
        c["integration"] == integration and c["state"] == state for c in channel["candidates"]
    )
