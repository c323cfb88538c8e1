"""`status`, `events`, `explain`, `pause`, `resume`, `ack`, `failover`: talk to a running
daemon over its HTTP API (docs/api.md).

Exit codes: 0 done, 1 the daemon refused (its error is printed), 2 a usage or connection
problem. The API token comes from NOVU_FAILOVER_API_TOKEN or --token-file and is only sent
with the commands that change something.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from daemon import __version__
from daemon.commands.control_args import (
    STATE_WORDS,
    channel_arg,
    duration_arg,
    environment_arg,
    limit_arg,
    offset_arg,
    reason_arg,
    states_arg,
    target_arg,
)
from daemon.commands.control_render import (
    COMPACT_OVER,
    render_events,
    render_explain,
    render_status,
    when,
)
from daemon.durations import format_duration

JSON = dict[str, Any]

DEFAULT_URL = "http://127.0.0.1:9555"
URL_ENV = "NOVU_FAILOVER_URL"
TOKEN_ENV = "NOVU_FAILOVER_API_TOKEN"  # noqa: S105 - the variable's name, not a token
TOKEN_FILE_ENV = "NOVU_FAILOVER_API_TOKEN_FILE"  # noqa: S105 - a variable name
ACTOR_ENV = "NOVU_FAILOVER_ACTOR"
MUTATING = frozenset({"pause", "resume", "ack", "failover"})
READ_TIMEOUT = 10.0
FAILOVER_TIMEOUT = 60.0
"""A manual switch waits for the daemon's actuator (re-read, set-primary with retries, verify)."""


class UsageError(Exception):
    """Exit 2: bad input, no token, or the daemon could not be reached or understood."""


class DaemonRefusedError(Exception):
    """Exit 1: the daemon answered with an error."""


# -- arguments -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.set_defaults(_control_command=name)
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV) or DEFAULT_URL,
        help=f"the daemon's API (default: ${URL_ENV} or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for the daemon's answer"
    )
    if name in MUTATING:
        parser.add_argument(
            "--token-file",
            type=Path,
            help=f"read the API token from this file (default: ${TOKEN_ENV}, ${TOKEN_FILE_ENV})",
        )
        parser.add_argument(
            "--actor",
            default=None,
            help=f"who you are, for the audit trail (default: ${ACTOR_ENV} or your user name)",
        )
    if name in ("status", "events", "explain"):
        parser.add_argument("--json", action="store_true", help="print the daemon's JSON")
    if name == "status":
        parser.add_argument(
            "channel",
            nargs="?",
            type=channel_arg,
            metavar="CHANNEL",
            help="show this channel in full (candidates' reasons, every signal)",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="every channel in full, however many (the daemon's `detail=full`)",
        )
        parser.add_argument(
            "--state",
            type=states_arg,
            help=f"only channels in these states, comma-separated ({', '.join(STATE_WORDS)})",
        )
        parser.add_argument(
            "--environment", type=environment_arg, help="only this environment's channels"
        )
    if name == "events":
        parser.add_argument("--limit", type=limit_arg, default=50, help="how many (1-500)")
        parser.add_argument("--offset", type=offset_arg, default=0, help="skip the newest N")
    elif name in ("explain", "ack"):
        parser.add_argument(
            "channel", type=channel_arg, metavar="CHANNEL", help="e.g. production/email"
        )
    elif name == "pause":
        parser.add_argument(
            "--channel", type=channel_arg, default=None, help="one channel (default: every channel)"
        )
        parser.add_argument(
            "--for", dest="duration", type=duration_arg, help="e.g. 30m (default: until resumed)"
        )
        parser.add_argument("--reason", type=reason_arg, required=True, help="why (required)")
    elif name == "resume":
        parser.add_argument(
            "--channel",
            type=channel_arg,
            default=None,
            help="lift this channel's pause (default: lift the global pause)",
        )
    elif name == "failover":
        parser.add_argument(
            "channel", type=channel_arg, metavar="CHANNEL", help="e.g. production/email"
        )
        parser.add_argument(
            "target", type=target_arg, metavar="TARGET", help="the candidate integration identifier"
        )
        parser.add_argument(
            "--force", action="store_true", help="switch even if the target is not healthy"
        )
        parser.add_argument("--reason", type=reason_arg, required=True, help="why (required)")


# -- talking to the daemon -------------------------------------------------------------------


def _read_token_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"cannot read the token file {path}: {exc.strerror or exc}"
        raise UsageError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f"the token file {path} is not UTF-8 text"
        raise UsageError(msg) from exc


def _token(args: argparse.Namespace) -> str:
    """--token-file, else $NOVU_FAILOVER_API_TOKEN, else the file $NOVU_FAILOVER_API_TOKEN_FILE
    names: the same variables the daemon reads."""
    token_file: Path | None = args.token_file
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if token_file is None and not from_env and os.environ.get(TOKEN_FILE_ENV):
        token_file = Path(os.environ[TOKEN_FILE_ENV])
    if token_file is not None:
        token, source = _read_token_file(token_file), f"the token file {token_file}"
    else:
        token, source = from_env, f"${TOKEN_ENV}"
    if not token:
        msg = f"no API token: set {TOKEN_ENV} (or {TOKEN_FILE_ENV}) or pass --token-file"
        raise UsageError(msg)
    if not token.isascii() or not token.isprintable() or " " in token:
        msg = f"the API token in {source} must be printable ASCII without spaces"
        raise UsageError(msg)
    return token


def _actor(args: argparse.Namespace) -> str:
    """Who acts, reduced to what the daemon keeps (it sanitizes too): letters, digits, `._@:-`."""
    given: str | None = args.actor or os.environ.get(ACTOR_ENV)
    if not given:
        try:
            given = getpass.getuser()
        except (OSError, KeyError):  # no user name in some containers
            given = ""
    cleaned = re.sub(r"[^A-Za-z0-9 ._@:+/=-]", "", given).strip()[:64].strip()
    return cleaned or "cli"


def _reason_for_failure(exc: httpx.HTTPError) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return text[:1].lower() + text[1:]


class DaemonClient:
    """One daemon, one synchronous httpx client; errors become UsageError / DaemonRefusedError."""

    def __init__(self, url: str, *, timeout: float, headers: dict[str, str]) -> None:
        self.url = url.rstrip("/")
        if not re.match(r"^https?://[^/\s]+", self.url):
            msg = f"--url {url!r} is not an http(s) URL, e.g. {DEFAULT_URL}"
            raise UsageError(msg)
        self.timeout = timeout
        try:
            self.client = httpx.Client(
                base_url=self.url,
                timeout=timeout,
                headers={"user-agent": f"novu-failover-cli/{__version__}", **headers},
            )
        except (httpx.InvalidURL, UnicodeError) as exc:
            msg = f"--url {url!r} is not a valid URL: {exc}"
            raise UsageError(msg) from exc

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def call(
        self, method: str, path: str, *, params: JSON | None = None, body: JSON | None = None
    ) -> JSON:
        try:
            response = self.client.request(method, path, params=params, json=body)
        except httpx.ConnectError as exc:
            msg = f"cannot reach the daemon at {self.url}: {_reason_for_failure(exc)}"
            raise UsageError(msg) from exc
        except httpx.TimeoutException as exc:
            msg = f"the daemon at {self.url} did not answer within {self.timeout:g}s"
            raise UsageError(msg) from exc
        except httpx.HTTPError as exc:
            msg = f"cannot talk to the daemon at {self.url}: {_reason_for_failure(exc)}"
            raise UsageError(msg) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            kind = response.headers.get("content-type", "no content type")
            msg = (
                f"unexpected answer from {self.url}{path}: HTTP {response.status_code} ({kind}); "
                "is --url the novu-failover API?"
            )
            raise UsageError(msg)
        if response.is_error:
            error = str(payload.get("error") or f"HTTP {response.status_code}")
            msg = f"{error} (HTTP {response.status_code})"
            raise DaemonRefusedError(msg)
        return payload


# -- the commands ----------------------------------------------------------------------------


def _print_json(payload: JSON) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True))


def _status(args: argparse.Namespace, daemon: DaemonClient) -> None:
    """A summary of every channel; in full for one channel, for `--full`, or when the
    answer holds few enough channels to read each in full (COMPACT_OVER)."""
    params = {
        name: value
        for name, value in (
            ("channel", args.channel),
            ("state", args.state),
            ("environment", args.environment),
        )
        if value is not None
    }
    full = args.full or args.channel is not None
    first = {**params, "detail": "full"} if full else params
    payload = daemon.call("GET", "/v1/status", params=first)
    if not full and not args.json and len(payload.get("channels") or []) <= COMPACT_OVER:
        payload = daemon.call("GET", "/v1/status", params={**params, "detail": "full"})
    _print_json(payload) if args.json else print(render_status(payload))


def _events(args: argparse.Namespace, daemon: DaemonClient) -> None:
    params = {"limit": args.limit, "offset": args.offset}
    payload = daemon.call("GET", "/v1/events", params=params)
    _print_json(payload) if args.json else print(render_events(payload))


def _explain(args: argparse.Namespace, daemon: DaemonClient) -> None:
    payload = daemon.call("GET", f"/v1/explain/{args.channel}")
    _print_json(payload) if args.json else print(render_explain(payload))


def _pause(args: argparse.Namespace, daemon: DaemonClient) -> None:
    body = {"channel": args.channel, "for": args.duration, "reason": args.reason}
    payload = daemon.call("POST", "/v1/pause", body=body)
    pause = payload.get("pause") or {}
    scope = args.channel or "every channel"
    until, since = pause.get("until"), pause.get("since")
    end = "until resumed" if until is None else f"until {when(until)}"
    if isinstance(until, int | float) and isinstance(since, int | float):
        end = f"for {format_duration(until - since)}, {end}"
    print(f"paused {scope} {end}: {pause.get('reason', args.reason)}")


def _resume(args: argparse.Namespace, daemon: DaemonClient) -> None:
    daemon.call("POST", "/v1/resume", body={"channel": args.channel})
    print(f"resumed {args.channel or 'every channel (the global pause is lifted)'}")
    # A global resume leaves channel pauses in place: say which, so nobody is surprised.
    status = daemon.call("GET", "/v1/status")
    still = [
        str(channel.get("channel"))
        for channel in status.get("channels") or []
        if channel.get("pause") and channel.get("pause") != status.get("global_pause")
    ]
    if status.get("global_pause"):
        print("still paused: every channel (a global pause is in force)")
    elif still:
        print(f"still paused: {', '.join(still)} (resume each with --channel)")


def _ack(args: argparse.Namespace, daemon: DaemonClient) -> None:
    daemon.call("POST", "/v1/ack", body={"channel": args.channel})
    print(f"acknowledged the brake on {args.channel}: automatic switching may resume")


def _failover(args: argparse.Namespace, daemon: DaemonClient) -> None:
    body = {
        "channel": args.channel,
        "target": args.target,
        "force": args.force,
        "reason": args.reason,
    }
    try:
        payload = daemon.call("POST", "/v1/failover", body=body)
    except DaemonRefusedError as exc:
        if not args.force and "force" in str(exc):
            msg = f"{exc}\n(add --force to switch anyway, if you are sure)"
            raise DaemonRefusedError(msg) from exc
        raise
    event = payload.get("event") or {}
    dry_run = event.get("dry_run") or event.get("result") == "dry_run"
    verb = "dry run: would switch" if dry_run else "switched"
    source = event.get("from") or "no primary"
    print(f"{verb} {args.channel}: {source} -> {event.get('to', args.target)}")
    if event.get("id"):
        print(
            f"audit event {event['id']}: {event.get('result')}, {event.get('attempts')} attempt(s)"
        )


_COMMANDS: dict[str, Callable[[argparse.Namespace, DaemonClient], None]] = {
    "status": _status,
    "events": _events,
    "explain": _explain,
    "pause": _pause,
    "resume": _resume,
    "ack": _ack,
    "failover": _failover,
}


def run(args: argparse.Namespace) -> int:
    name: str = args._control_command
    try:
        headers: dict[str, str] = {}
        if name in MUTATING:
            headers = {"authorization": f"Bearer {_token(args)}", "x-actor": _actor(args)}
        default_timeout = FAILOVER_TIMEOUT if name == "failover" else READ_TIMEOUT
        timeout = args.timeout if args.timeout is not None else default_timeout
        with DaemonClient(args.url, timeout=timeout, headers=headers) as daemon:
            _COMMANDS[name](args, daemon)
    except DaemonRefusedError as exc:
        print(f"novu-failover {name}: refused: {exc}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"novu-failover {name}: {exc}", file=sys.stderr)
        return 2
    return 0
