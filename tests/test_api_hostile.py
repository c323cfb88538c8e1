"""Hostile requests against the real daemon over real HTTP on loopback: each gets its
specific 4xx with a message, never a 500 or a hang, and changes nothing (status, events
and the state files are the same after the refusal as before)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from inprocess import email_rules, start_daemon, stop_daemon, until

from daemon.sim import serve_simulation

pytestmark = pytest.mark.timeout(120)

TOKEN = "hostile-test-token-5b1f0c"
EMAIL = "production/email"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
YEAR = 366 * 86400


@dataclass(frozen=True)
class Hostile:
    """One request and the refusal it must get (`words` is part of the error message)."""

    method: str
    path: str
    body: bytes | None = None
    status: int = 422
    words: str = ""
    headers: dict[str, str] = field(default_factory=lambda: dict(AUTH))


def pause(raw: str, **kwargs: Any) -> Hostile:
    return Hostile("POST", "/v1/pause", raw.encode(), **kwargs)


def body(path: str, value: Any, **kwargs: Any) -> Hostile:
    return Hostile("POST", path, json.dumps(value).encode(), **kwargs)


def with_reason(**extra: Any) -> dict[str, Any]:
    return {"channel": EMAIL, "reason": "maintenance", **extra}


FAR = time.time() + 2 * YEAR
SURROGATE = "lone surrogate"

CASES: dict[str, Hostile] = {
    # lone surrogates, wherever they are
    "surrogate-reason": pause(f'{{"channel":"{EMAIL}","reason":"x\\ud800y"}}', status=400,
                              words="reason holds a lone surrogate"),
    "surrogate-low-alone": pause(f'{{"channel":"{EMAIL}","reason":"\\udfff"}}', status=400,
                                 words=SURROGATE),
    "surrogate-global-pause": pause('{"channel":null,"reason":"x\\ud800"}', status=400,
                                    words=SURROGATE),
    "surrogate-channel": pause('{"channel":"production/\\ud800","reason":"x"}', status=400,
                               words="channel holds a lone surrogate"),
    "surrogate-key": pause(f'{{"channel":"{EMAIL}","reason":"x","\\ud800":1}}', status=400,
                           words="a key in body"),
    "surrogate-for": pause(f'{{"channel":"{EMAIL}","reason":"x","for":"5m\\ud800"}}',
                           status=400, words=SURROGATE),
    "surrogate-nested": pause(f'{{"channel":"{EMAIL}","reason":"x","junk":[{{"a":"\\ud800"}}]}}',
                              status=400, words="junk[0].a"),
    "surrogate-failover-target": Hostile(
        "POST", "/v1/failover",
        f'{{"channel":"{EMAIL}","target":"ses\\ud800","reason":"x"}}'.encode(),
        status=400, words="target holds a lone surrogate"),
    "surrogate-failover-reason": Hostile(
        "POST", "/v1/failover",
        f'{{"channel":"{EMAIL}","target":"ses-backup","reason":"\\ud83d"}}'.encode(),
        status=400, words="reason holds a lone surrogate"),
    "surrogate-ack": Hostile("POST", "/v1/ack", b'{"channel":"\\udc80"}', status=400,
                             words=SURROGATE),
    "surrogate-resume": Hostile("POST", "/v1/resume", b'{"channel":null,"x":"\\ud800"}',
                                status=400, words=SURROGATE),
    # numbers JSON does not have, or that are absurd as times
    "until-NaN": pause(f'{{"channel":"{EMAIL}","reason":"x","until":NaN}}', status=400,
                       words="NaN is not valid JSON"),
    "until-Infinity": pause(f'{{"channel":"{EMAIL}","reason":"x","until":Infinity}}',
                            status=400, words="Infinity is not valid JSON"),
    "until-minus-Infinity": pause(f'{{"channel":"{EMAIL}","reason":"x","until":-Infinity}}',
                                  status=400, words="-Infinity is not valid JSON"),
    "until-1e400": pause(f'{{"channel":"{EMAIL}","reason":"x","until":1e400}}',
                         words="until: must be a finite number"),
    "until-1e308": body("/v1/pause", with_reason(until=1e308), words="too far ahead"),
    "until-two-years": body("/v1/pause", with_reason(until=FAR), words="at most 366d"),
    "until-negative": body("/v1/pause", with_reason(until=-1), words="is in the past"),
    "until-zero": body("/v1/pause", with_reason(until=0), words="is in the past"),
    "until-huge-int": pause(f'{{"channel":"{EMAIL}","reason":"x","until":{"9" * 400}}}',
                            words="until:"),
    "until-too-many-digits": pause(
        f'{{"channel":"{EMAIL}","reason":"x","until":{"9" * 5000}}}', status=400,
        words="not valid JSON"),
    "until-text": body("/v1/pause", with_reason(until="tomorrow"), words="until:"),
    "until-bool": body("/v1/pause", with_reason(until=True), words="until:"),
    "until-list": body("/v1/pause", with_reason(until=[1]), words="until:"),
    "for-absurd": body("/v1/pause", with_reason(**{"for": "999999999999999999d"}),
                       words="at most 366d"),
    "for-over-a-year": body("/v1/pause", with_reason(**{"for": "367d"}), words="at most 366d"),
    "for-long-text": body("/v1/pause", with_reason(**{"for": "9" * 40 + "d"}), words="for:"),
    "for-zero": body("/v1/pause", with_reason(**{"for": "0s"}), words="longer than 0s"),
    "for-negative": body("/v1/pause", with_reason(**{"for": "-5m"}), words="not a duration"),
    "for-exponent": body("/v1/pause", with_reason(**{"for": "1e9s"}), words="not a duration"),
    "for-number": body("/v1/pause", with_reason(**{"for": 30}), words="for:"),
    "for-and-until": body("/v1/pause", with_reason(**{"for": "5m", "until": FAR}),
                          words="either for or until"),
    # text: empty, long, multi-line, wrong types
    "reason-empty": body("/v1/pause", with_reason(reason=""), words="must not be empty"),
    "reason-blank": body("/v1/pause", with_reason(reason="   "), words="must not be empty"),
    "reason-501": body("/v1/pause", with_reason(reason="r" * 501), words="at most 500"),
    "reason-newline": body("/v1/pause", with_reason(reason="a\nb"), words="one line"),
    "reason-nul": body("/v1/pause", with_reason(reason="a\x00b"), words="one line"),
    "reason-number": body("/v1/pause", with_reason(reason=5), words="reason:"),
    "reason-null": body("/v1/pause", with_reason(reason=None), words="reason:"),
    "reason-nested-junk": body("/v1/pause", with_reason(reason={"a": [[{"b": None}]]}),
                               words="reason:"),
    "reason-missing": body("/v1/pause", {"channel": EMAIL}, words="reason is required"),
    "channel-missing": body("/v1/pause", {"reason": "x"}, words="channel is required"),
    "unknown-field": body("/v1/pause", with_reason(force=True), words="unknown key 'force'"),
    "channel-three-parts": body("/v1/pause", with_reason(channel="a/b/c"),
                                words="environment/channel"),
    "channel-traversal": body("/v1/pause", with_reason(channel="../etc/passwd"),
                              words="environment/channel"),
    "channel-huge": body("/v1/pause", with_reason(channel="p" * 1000 + "/email"),
                         words="environment/channel"),
    "channel-number": body("/v1/pause", with_reason(channel=42), words="channel"),
    "channel-unknown": body("/v1/pause", with_reason(channel="production/sms"), status=404,
                            words="production/sms"),
    # bodies that are not an object, or not JSON
    "body-list": body("/v1/pause", [], words="must be a JSON object"),
    "body-string": body("/v1/pause", "pause", words="must be a JSON object"),
    "body-null": body("/v1/pause", None, words="must be a JSON object"),
    "body-number": body("/v1/pause", 1e308, words="must be a JSON object"),
    "bad-json": pause("{", status=400, words="not valid JSON"),
    "trailing-comma": pause(f'{{"channel":"{EMAIL}","reason":"x",}}', status=400,
                            words="not valid JSON"),
    "duplicate-key": pause(f'{{"channel":"{EMAIL}","reason":"x","reason":"y"}}', status=400,
                           words="appears twice"),
    "not-utf8": Hostile("POST", "/v1/pause",
                        f'{{"channel":"{EMAIL}","reason":"'.encode() + b'\xff\xfe"}',
                        status=400, words="not valid JSON"),
    "deep-nesting": pause("[" * 15000, status=400, words="nested too deeply"),
    "empty-body": pause("", status=400, words="not valid JSON"),
    # transport: content type, size, token
    "text-plain": Hostile("POST", "/v1/pause", b"{}", status=415, words="application/json",
                          headers={**AUTH, "content-type": "text/plain"}),
    "form": Hostile("POST", "/v1/pause", b"channel=x", status=415, words="application/json",
                    headers={**AUTH, "content-type": "application/x-www-form-urlencoded"}),
    "no-content-type": Hostile("POST", "/v1/pause", b"{}", status=415,
                               words="got content type none",
                               headers={"authorization": AUTH["authorization"]}),
    "oversized": body("/v1/pause", with_reason(reason="r" * 20_000), status=413,
                      words="larger than"),
    "huge-reason-1mb": body("/v1/pause", with_reason(reason="r" * 1_000_000), status=413,
                            words="larger than"),
    "no-token": Hostile("POST", "/v1/pause", b"{}", status=401, words="missing bearer token",
                        headers={"content-type": "application/json"}),
    "wrong-token": Hostile("POST", "/v1/pause", b"{}", status=401, words="wrong bearer token",
                           headers={**AUTH, "authorization": "Bearer nope"}),
    # failover, resume, ack
    "failover-target-space": body("/v1/failover", {**with_reason(), "target": "ses backup"},
                                  words="integration identifier"),
    "failover-target-empty": body("/v1/failover", {**with_reason(), "target": ""},
                                  words="integration identifier"),
    "failover-target-huge": body("/v1/failover", {**with_reason(), "target": "t" * 300},
                                 words="integration identifier"),
    "failover-force-text": body("/v1/failover",
                                {**with_reason(), "target": "ses-backup", "force": "yes"},
                                words="force"),
    "failover-force-int": body("/v1/failover",
                               {**with_reason(), "target": "ses-backup", "force": 1},
                               words="force"),
    "failover-not-candidate": body("/v1/failover", {**with_reason(), "target": "mailgun"},
                                   status=409, words="mailgun"),
    "failover-unknown-channel": body(
        "/v1/failover", {**with_reason(channel="staging/email"), "target": "ses-backup"},
        status=404, words="staging/email"),
    "resume-extra": body("/v1/resume", {"channel": None, "until": 5}, words="unknown key"),
    "resume-number": body("/v1/resume", {"channel": 5}, words="channel"),
    "ack-null": body("/v1/ack", {"channel": None}, words="channel"),
    # reads: query and path
    "events-limit-0": Hostile("GET", "/v1/events?limit=0", status=400, words="limit must be"),
    "events-limit-negative": Hostile("GET", "/v1/events?limit=-1", status=400, words="limit"),
    "events-limit-float": Hostile("GET", "/v1/events?limit=1e3", status=400, words="limit"),
    "events-limit-huge": Hostile("GET", "/v1/events?limit=99999999999999999999", status=400,
                                 words="limit"),
    "events-offset-nan": Hostile("GET", "/v1/events?offset=NaN", status=400, words="offset"),
    "events-offset-not-utf8": Hostile("GET", "/v1/events?offset=%ff", status=400,
                                      words="offset"),
    "explain-surrogate-bytes": Hostile("GET", "/v1/explain/production/%ED%A0%80", status=404,
                                       words="no channel"),
    "explain-unknown": Hostile("GET", "/v1/explain/production/push", status=404,
                               words="production/push"),
    "explain-huge": Hostile("GET", "/v1/explain/production/" + "e" * 5000, status=404,
                            words="no channel"),
    "status-post": Hostile("POST", "/v1/status", b"{}", status=405),
    "status-detail-unknown": Hostile("GET", "/v1/status?detail=everything", status=400,
                                     words="detail: 'everything' is not one of summary, full"),
    "status-detail-twice": Hostile("GET", "/v1/status?detail=full&detail=summary", status=400,
                                   words="give it once"),
    "status-state-unknown": Hostile("GET", "/v1/status?state=ok,broken", status=400,
                                    words="'broken' is not a channel state"),
    "status-state-empty": Hostile("GET", "/v1/status?state=", status=400, words="state:"),
    "status-channel-malformed": Hostile("GET", "/v1/status?channel=production", status=400,
                                        words="is not a channel"),
    "status-channel-huge": Hostile("GET", "/v1/status?channel=" + "c" * 5000 + "/email",
                                   status=400, words="channel:"),
    "status-channel-surrogate": Hostile("GET", "/v1/status?channel=production/%ED%A0%80",
                                        status=400, words="channel:"),
    "status-channel-unknown": Hostile("GET", "/v1/status?channel=production/push", status=404,
                                      words="no channel 'production/push'"),
    "status-environment-slash": Hostile("GET", "/v1/status?environment=a%2Fb", status=400,
                                        words="environment:"),
    "status-environment-unknown": Hostile("GET", "/v1/status?environment=staging", status=404,
                                          words="no environment 'staging'"),
    "status-unknown-parameter": Hostile("GET", "/v1/status?states=ok", status=400,
                                        words="unknown query parameter 'states'"),
    "page-state-unknown": Hostile("GET", "/?state=broken", status=400, words="state:"),
    "page-detail-not-a-page-filter": Hostile("GET", "/?detail=full", status=400,
                                             words="unknown query parameter 'detail'"),
    "pause-get": Hostile("GET", "/v1/pause", status=405),
    "unknown-path": Hostile("GET", "/v1/nothing", status=404, words="not found"),
    "alert-absurd-time": body("/v1/alerts/alertmanager", {"version": "4", "status": "firing",
        "alerts": [{"status": "firing", "labels": {"a": "b"}, "startsAt": "99999-01-01"}]},
        words="startsAt"),
    "alert-labels-not-text": body("/v1/alerts/alertmanager", {"version": "4",
        "status": "firing", "alerts": [{"status": "firing", "labels": {"a": 1e308},
        "startsAt": "2026-01-01T00:00:00Z"}]}, words="must be a string"),
    "alert-wrong-version": body("/v1/alerts/grafana", {"version": "999", "alerts": []},
                                words="version"),
    "alert-surrogate": Hostile("POST", "/v1/alerts/alertmanager",
                               b'{"version":"4","alerts":[{"labels":{"a":"\\ud800"}}]}',
                               status=400, words=SURROGATE),
}  # fmt: skip


class World:
    def __init__(self, url: str, state_dir: Path) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=10)
        self.state_dir = state_dir

    async def snapshot(self) -> dict[str, Any]:
        """What a refusal must not change: pauses, brakes, switches, the trail, the files."""
        status = (await self.http.get("/v1/status")).json()
        events = (await self.http.get("/v1/events", params={"limit": 500})).json()
        channels = [
            {key: channel.get(key) for key in ("channel", "pause", "brake", "last_switch")}
            for channel in status["channels"]
        ]
        files = {
            path.name: path.read_bytes()
            for path in sorted(self.state_dir.iterdir())
            if path.is_file()
        }
        return {
            "global_pause": status["global_pause"],
            "channels": channels,
            "events": [event["id"] for event in events["events"]],
            "total": events["total"],
            "files": files,
        }


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    simulation = await serve_simulation("127.0.0.1", 0)
    rules = tmp_path / "rules.yaml"
    rules.write_text(email_rules(simulation))
    state_dir = tmp_path / "state"
    running, task = await start_daemon(
        simulation, rules=rules, state_dir=state_dir, api_token=TOKEN
    )
    await until(lambda: running.daemon.ready()[0], within=20, what="the daemon to be ready")
    live = World(running.url, state_dir)
    # Some state to keep: a channel pause with its audit record.
    answer = await live.http.post(
        "/v1/pause", json={"channel": EMAIL, "reason": "baseline", "for": "1h"}, headers=AUTH
    )
    assert answer.status_code == 200, answer.text
    yield live
    await live.http.aclose()
    await stop_daemon(running, task)
    await simulation.stop()


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60


async def test_every_hostile_request_gets_its_4xx_and_changes_nothing(world: World) -> None:
    failures: list[str] = []
    before = await world.snapshot()
    for name, case in CASES.items():
        response = await world.http.request(
            case.method, case.path, content=case.body, headers=case.headers
        )
        if response.status_code != case.status:
            failures.append(f"{name}: {response.status_code} {response.text[:200]}")
            continue
        if case.status != 405:
            error = response.json().get("error", "")
            if case.words not in error:
                failures.append(f"{name}: {error!r} lacks {case.words!r}")
        after = await world.snapshot()
        if after != before:
            failures.append(f"{name}: changed state")
            before = after
    assert failures == []
    assert (await world.http.get("/v1/status")).status_code == 200
    assert (await world.http.get("/v1/explain/production/email")).status_code == 200


async def test_the_snapshot_sees_a_change_so_the_table_can_fail(world: World) -> None:
    """A valid pause after the refusals does change what the table says must not change."""
    before = await world.snapshot()
    answer = await world.http.post(
        "/v1/pause", json={"channel": None, "reason": "real one"}, headers=AUTH
    )
    assert answer.status_code == 200
    after = await world.snapshot()
    assert after["global_pause"] is not None
    assert after["total"] == before["total"] + 1
    assert after["files"] != before["files"]
