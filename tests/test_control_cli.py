"""The control commands against a real daemon API served by uvicorn on loopback."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fake_control_plane import START, FakePlane
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from daemon.api import create_app
from daemon.cli import COMMANDS
from daemon.commands import control
from daemon.control import SUMMARY, StatusQuery

TOKEN = "cli-test-token"


@dataclass
class Served:
    url: str
    plane: FakePlane


@dataclass
class Result:
    code: int
    out: str
    err: str


Serve = Callable[[ASGIApp], str]
Cli = Callable[..., Result]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve ASGI apps with uvicorn on 127.0.0.1, each on a port the OS picks."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: ASGIApp) -> str:
        # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on accepted connections
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while not server.started:  # waiting for readiness, not for time logic
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def daemon(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> Served:
    plane = FakePlane()
    app = create_app(
        plane, registry=CollectorRegistry(), api_token=SecretStr(TOKEN), clock=plane.clock
    )
    url = serve(app)
    monkeypatch.setenv("NOVU_FAILOVER_URL", url)
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", TOKEN)
    monkeypatch.setenv("NOVU_FAILOVER_ACTOR", "alice")
    monkeypatch.delenv("NOVU_FAILOVER_API_TOKEN_FILE", raising=False)
    return Served(url=url, plane=plane)


def main(argv: list[str]) -> int:
    """`novu-failover` as daemon.cli builds it, with only the control subcommands (so other
    commands' imports cannot break these tests)."""
    parser = argparse.ArgumentParser(prog="novu-failover")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        if module_name == "control":
            control.add_arguments(sub.add_parser(name, help=help_text), name)
    return control.run(parser.parse_args(argv))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    def invoke(*argv: str) -> Result:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code=code, out=captured.out, err=captured.err)

    return invoke


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


EXPECTED_STATUS = (
    """\
novu-failover 0.1.0, up 1h
rules /etc/novu-failover/rules.yaml (loaded 1h ago)
2 channel(s): 1 blocked, 1 held

production/email
  primary   sendgrid-main
  decision  wait: primary sendgrid-main is down; cooldown holds the switch to ses-backup (5s ago)
  pause     -
  brake     1/3 switches in 1h
  cooldown  until 2023-11-14 22:17:20Z (in 4m)
  switched  failback ses-backup -> sendgrid-main (6m ago)
  CANDIDATE        STATE    SINCE    ACTIVE  READY  REASON
  * sendgrid-main  down     2m ago   yes     yes    statuspage: Mail Sending is major_outage
    ses-backup     up       50m ago  yes     yes    novu_delivery: 2% failures in 5m (50 messages)
"""
    "    mailgun-spare  unknown  -        no      no     "
    "no evidence yet | not ready: no canary delivered yet\n"
    """
production/sms
  primary   twilio-main  inactive!
  decision  blocked: brake: 3 switches in the last 1h; acknowledge to allow more (30s ago)
  pause     -
  brake     3/3 switches in 1h; BLOCKED until 2023-11-14 22:43:20Z (in 30m), ack to release now
  cooldown  -
  switched  -
  novu      ERROR GET /v1/integrations -> 503 (attempt 3/3) (last good view 1m10s ago)
  CANDIDATE        STATE  SINCE   ACTIVE   READY  REASON
  * twilio-main    up     2h ago  no       yes    statuspage: SMS is operational
"""
    "    vonage-backup  up     2h ago  missing  no     http: 200 in 40ms | "
    "not ready: vonage-backup is not an integration of production/sms in Novu\n"
)


def test_status_renders_a_table_per_channel(daemon: Served, cli: Cli) -> None:
    result = cli("status")
    assert (result.code, result.err) == (0, "")
    assert result.out == EXPECTED_STATUS


def test_status_json_prints_the_daemon_answer(daemon: Served, cli: Cli) -> None:
    result = cli("status", "--json")
    assert result.code == 0
    assert json.loads(result.out) == json.loads(json.dumps(daemon.plane.status_now()))


def test_read_commands_send_no_token(
    daemon: Served, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOVU_FAILOVER_API_TOKEN")
    assert cli("status").code == 0
    assert cli("events").code == 0
    assert cli("explain", "production/email").code == 0


def test_pause_and_resume_round_trip(daemon: Served, cli: Cli) -> None:
    paused = cli(
        "pause", "--channel", "production/email", "--for", "30m", "--reason", "SendGrid maintenance"
    )
    assert paused.code == 0, paused.err
    assert paused.out == (
        "paused production/email for 30m, until 2023-11-14 22:43:20Z: SendGrid maintenance\n"
    )
    assert daemon.plane.calls[-1] == (
        "pause",
        {
            "channel": "production/email",
            "until": START + 1800,
            "reason": "SendGrid maintenance",
            "by": "alice",
        },
    )
    status = cli("status").out
    assert "  pause     paused until 2023-11-14 22:43:20Z (in 30m), by alice, now: SendGrid" in (
        status
    )
    resumed = cli("resume", "--channel", "production/email")
    assert (resumed.code, resumed.out) == (0, "resumed production/email\n")
    assert "paused until" not in cli("status").out


def test_global_pause_is_shown_and_resume_names_channels_still_paused(
    daemon: Served, cli: Cli
) -> None:
    assert cli("pause", "--reason", "incident 4711").out == (
        "paused every channel until resumed: incident 4711\n"
    )
    cli("pause", "--channel", "production/sms", "--reason", "carrier test")
    status = cli("status").out
    assert "GLOBAL PAUSE: paused until resumed, by alice, now: incident 4711" in status
    assert "  pause     global pause (see above)" in status
    resumed = cli("resume")
    assert resumed.out == (
        "resumed every channel (the global pause is lifted)\n"
        "still paused: production/sms (resume each with --channel)\n"
    )
    assert "GLOBAL PAUSE" not in cli("status").out
    events = [line.split()[2:5] for line in cli("events").out.splitlines()[1:-1]]
    assert events == [
        ["all", "channels", "resume"],
        ["production/sms", "pause", "ok"],
        ["all", "channels", "pause"],
    ]


def test_ack_releases_a_tripped_brake(daemon: Served, cli: Cli) -> None:
    result = cli("ack", "production/sms")
    assert (result.code, result.out) == (
        0,
        "acknowledged the brake on production/sms: automatic switching may resume\n",
    )
    assert daemon.plane.calls[-1] == ("ack", {"channel": "production/sms", "by": "alice"})
    assert "BLOCKED" not in cli("status").out


def test_a_refused_failover_exits_1_with_the_daemon_error(daemon: Served, cli: Cli) -> None:
    result = cli("failover", "production/email", "mailgun-spare", "--reason", "try the spare")
    assert result.code == 1
    assert result.out == ""
    assert result.err == (
        "novu-failover failover: refused: mailgun-spare unknown (no evidence yet); "
        "force to switch anyway (HTTP 409)\n"
        "(add --force to switch anyway, if you are sure)\n"
    )


def test_a_forced_failover_switches_and_shows_in_events(daemon: Served, cli: Cli) -> None:
    result = cli(
        "failover", "production/email", "mailgun-spare", "--force", "--reason", "try the spare"
    )
    assert result.code == 0, result.err
    assert result.out == (
        "switched production/email: sendgrid-main -> mailgun-spare\n"
        "audit event evt-0001: ok, 1 attempt(s)\n"
    )
    assert daemon.plane.calls[-1][1]["force"] is True
    events = cli("events", "--limit", "10")
    header, row, footer = events.out.splitlines()
    assert header.startswith("TIME (UTC)            CHANNEL           ACTION  FROM -> TO")
    assert row == (
        "2023-11-14 22:13:20Z  production/email  manual  "
        "sendgrid-main -> mailgun-spare  ok      manual failover by alice: try the spare (forced)"
    )
    assert header.index("RESULT") == row.index("ok ")
    assert footer == "events 1-1 of 1, newest first"
    assert daemon.plane.calls[-1] == ("events", {"limit": 10, "offset": 0})


def test_unknown_channel_is_refused_with_exit_1(daemon: Served, cli: Cli) -> None:
    result = cli("ack", "staging/email")
    assert result.code == 1
    assert "no channel 'staging/email' in the rules" in result.err
    assert "(HTTP 404)" in result.err


def test_explain_tells_the_story_of_a_channel(daemon: Served, cli: Cli) -> None:
    result = cli("explain", "production/email")
    assert result.code == 0, result.err
    assert result.out == (
        "production/email: primary sendgrid-main\n"
        "\n"
        "Decision (5s ago): WAIT: primary sendgrid-main is down; cooldown holds the switch "
        "to ses-backup\n"
        "  current sendgrid-main; target ses-backup; trigger failover\n"
        "Evidence:\n"
        "  - statuspage: Mail Sending is major_outage\n"
        "\n"
        "Candidates (in order of preference):\n"
        "  sendgrid-main (primary): down since 2m ago: statuspage: Mail Sending is major_outage\n"
        "    - statuspage [statuspage]: down since 2m ago: Mail Sending is major_outage\n"
        "    - http [http]: up since 1h ago: 200 in 85ms (2/2)\n"
        "    - alert [alert, passive]: unknown since -: no alert firing\n"
        "  ses-backup: up since 50m ago: novu_delivery: 2% failures in 5m (50 messages)\n"
        "    - novu_delivery [novu_delivery]: up since 50m ago: 2% failures in 5m (50 messages)\n"
        "  mailgun-spare (inactive): unknown since -: no evidence yet\n"
        "    not ready: no canary delivered yet\n"
        "    - http [http]: unknown since -: no evidence yet\n"
        "\n"
        "Timers:\n"
        "  pause: -\n"
        "  brake: 1/3 switches in 1h\n"
        "  cooldown: until 2023-11-14 22:17:20Z (in 4m)\n"
        "\n"
        "Policy: down when any signal is down, confirm 0s, cooldown 10m, startup grace 0s, "
        "brake 3 per 1h, failback after 15m\n"
        "\n"
        "Recent switches (oldest first):\n"
        "  2023-11-14 22:07:20Z failback ses-backup -> sendgrid-main\n"
    )


def test_missing_token_is_a_usage_error_and_sends_nothing(
    daemon: Served, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOVU_FAILOVER_API_TOKEN")
    monkeypatch.delenv("NOVU_FAILOVER_API_TOKEN_FILE", raising=False)
    result = cli("ack", "production/sms")
    assert result.code == 2
    assert result.err == (
        "novu-failover ack: no API token: set NOVU_FAILOVER_API_TOKEN "
        "(or NOVU_FAILOVER_API_TOKEN_FILE) or pass --token-file\n"
    )
    assert daemon.plane.calls == []


def test_the_token_file_wins_over_the_environment(daemon: Served, cli: Cli, tmp_path: Path) -> None:
    good, wrong = tmp_path / "good", tmp_path / "wrong"
    good.write_text(TOKEN + "\n")
    wrong.write_text("not-the-token\n")
    assert cli("ack", "production/sms", "--token-file", str(good)).code == 0
    refused = cli("ack", "production/sms", "--token-file", str(wrong))
    assert refused.code == 1
    assert "wrong bearer token (HTTP 401)" in refused.err
    missing = cli("ack", "production/sms", "--token-file", str(tmp_path / "absent"))
    assert missing.code == 2
    assert "cannot read the token file" in missing.err
    assert "not-the-token" not in refused.err + missing.err


def test_the_token_file_variable_is_read_like_the_daemon_reads_it(
    daemon: Served, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    monkeypatch.delenv("NOVU_FAILOVER_API_TOKEN")
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN_FILE", str(token_file))
    assert cli("ack", "production/sms").code == 0


def test_an_unreachable_daemon_exits_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", TOKEN)
    for argv in (["status"], ["pause", "--reason", "x"]):
        result = cli(*argv, "--url", url)
        assert result.code == 2
        assert result.err == (
            f"novu-failover {argv[0]}: cannot reach the daemon at {url}: connection refused\n"
        )


def test_something_that_is_not_the_api_exits_2(serve: Serve, cli: Cli) -> None:
    async def page(request: object) -> PlainTextResponse:
        return PlainTextResponse("<html>hello</html>")

    url = serve(Starlette(routes=[Route("/v1/status", page)]))
    result = cli("status", "--url", url)
    assert result.code == 2
    assert "unexpected answer from" in result.err
    assert "is --url the novu-failover API?" in result.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["explain", "email"], "is not a channel", id="bare-channel"),
        pytest.param(["pause", "--reason", "  "], "give a reason", id="blank-reason"),
        pytest.param(["pause"], "--reason", id="no-reason"),
        pytest.param(["pause", "--for", "soon", "--reason", "x"], "is not a duration", id="for"),
        pytest.param(["events", "--limit", "501"], "from 1 to 500", id="limit"),
        pytest.param(["failover", "production/email"], "TARGET", id="no-target"),
    ],
)
def test_bad_arguments_exit_2_before_calling_the_daemon(
    cli: Cli, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_url_that_is_not_http_exits_2(cli: Cli) -> None:
    result = cli("status", "--url", "127.0.0.1:9555")
    assert result.code == 2
    assert "is not an http(s) URL" in result.err


_TIME_KEYS = ("at", "now", "since", "until", "started_at", "loaded_at", "view_at", "acked_at")


def _absurd(payload: object, value: object) -> object:
    """`payload` with every time-like field (and every `*_until`) set to `value`."""
    if isinstance(payload, dict):
        return {
            key: value if key in _TIME_KEYS or key.endswith("_until") else _absurd(item, value)
            for key, item in payload.items()
        }
    if isinstance(payload, list):
        return [_absurd(item, value) for item in payload]
    return payload


@pytest.mark.parametrize(
    "value",
    [1e308, -1e308, 1e20, -62135596801.0, "nan", "inf", "-inf", "soon", True, [], {}],
    ids=repr,
)
def test_status_events_and_explain_render_absurd_times_without_crashing(
    daemon: Served, cli: Cli, monkeypatch: pytest.MonkeyPatch, value: object
) -> None:
    """A daemon (an older one, or damaged state) may answer with times no calendar holds."""
    plane = daemon.plane
    explain = plane.explain("production/email")
    events = asyncio.run(plane.events(limit=50, offset=0))

    async def absurd_events(**kwargs: object) -> object:
        return _absurd(events, value)

    status_of = plane.status_now

    async def absurd_status(query: StatusQuery = SUMMARY) -> object:
        return _absurd(status_of(query), value)

    monkeypatch.setattr(plane, "status", absurd_status)
    monkeypatch.setattr(plane, "explain", lambda channel: _absurd(explain, value))
    monkeypatch.setattr(plane, "events", absurd_events)
    for argv in (["status"], ["explain", "production/email"], ["events"]):
        result = cli(*argv)
        assert result.code == 0, result.err
        assert result.out.strip()
    if isinstance(value, float | str):
        assert "(not a valid time)" in cli("status").out


def test_a_reason_that_is_not_utf8_is_a_clear_usage_error(daemon: Served, cli: Cli) -> None:
    """Python hands undecodable argv bytes over as lone surrogates (PEP 383)."""
    with pytest.raises(SystemExit) as exited:
        cli("pause", "--reason", "maintenance \udcff\udcfe")
    assert exited.value.code == 2
    assert daemon.plane.calls == []


def test_the_installed_command_refuses_a_non_utf8_reason_without_a_traceback(
    daemon: Served,
) -> None:
    executable = Path(sys.executable).parent / "novu-failover"
    for argv in (
        [b"pause", b"--reason", b"caf\xe9 down"],
        [b"failover", b"production/email", b"ses-\xff", b"--reason", b"x"],
    ):
        done = subprocess.run(
            [os.fsencode(executable), *argv],
            capture_output=True,
            check=False,
            timeout=30,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 2, err
        assert "not valid UTF-8 text" in err
        assert "Traceback" not in err
    assert daemon.plane.calls == []


def _fleet(plane: FakePlane, size: int) -> None:
    """`size` more channels like production/email (held), in environments of their own."""
    email = plane.channels["production/email"]
    for i in range(size):
        copy = dataclasses.replace(email, environment=f"tenant{i:03d}")
        plane.channels[copy.key] = copy


def test_status_of_a_large_fleet_is_one_line_per_channel_problems_first(
    daemon: Served, cli: Cli
) -> None:
    _fleet(daemon.plane, 30)
    result = cli("status")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "32 channel(s): 1 blocked, 31 held" in lines
    header = next(i for i, line in enumerate(lines) if line.startswith("CHANNEL"))
    assert lines[header + 1].split()[:2] == ["production/sms", "blocked"]  # the blocked first
    assert sum(1 for line in lines[header + 2 :] if line.split()[1:2] == ["held"]) == 31
    assert "CANDIDATE" not in result.out  # no per-channel tables for 32 channels
    (query,) = [kw["query"] for name, kw in daemon.plane.calls if name == "status"]
    assert query.detail == "summary"


def test_status_of_one_channel_asks_for_it_in_full(daemon: Served, cli: Cli) -> None:
    _fleet(daemon.plane, 30)
    result = cli("status", "production/email")
    assert result.code == 0, result.err
    assert "statuspage: Mail Sending is major_outage" in result.out  # a candidate's reason
    assert "production/sms" not in result.out
    (query,) = [kw["query"] for name, kw in daemon.plane.calls if name == "status"]
    assert (query.channel, query.detail) == ("production/email", "full")


def test_status_filters_are_sent_to_the_daemon(daemon: Served, cli: Cli) -> None:
    result = cli("status", "--state", "not-ok", "--environment", "production")
    assert result.code == 0, result.err
    queries = [kw["query"] for name, kw in daemon.plane.calls if name == "status"]
    assert queries[0].environment == "production"
    assert queries[0].states == frozenset({"acting", "blocked", "paused", "held", "dry-run"})
    assert [q.detail for q in queries] == ["summary", "full"]  # 2 channels: shown in full


def test_a_bad_state_is_refused_before_asking_the_daemon(daemon: Served, cli: Cli) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("status", "--state", "broken")
    assert exited.value.code == 2
    assert daemon.plane.calls == []
