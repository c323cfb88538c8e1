"""The control commands' arguments, checked before anything is sent to the daemon."""

from __future__ import annotations

import argparse
import re

from daemon.control import CHANNEL_STATES
from daemon.durations import parse_duration

_CHANNEL = re.compile(r"[A-Za-z0-9_.-]{1,64}/[A-Za-z0-9_.-]{1,32}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_UNDECODABLE = re.compile("[\ud800-\udfff]")
STATE_WORDS = (*CHANNEL_STATES, "not-ok")
"""`status --state`: a channel's states, and `not-ok` for every state but ok."""


def channel_arg(text: str) -> str:
    if _CHANNEL.fullmatch(text) is None:
        msg = f"{text!r} is not a channel; write it as environment/channel, e.g. production/email"
        raise argparse.ArgumentTypeError(msg)
    return text


def states_arg(text: str) -> str:
    words = [word.strip() for word in text.split(",")]
    wrong = [word for word in words if word not in STATE_WORDS]
    if wrong:
        msg = f"{wrong[0]!r} is not a channel state; give one or more of {', '.join(STATE_WORDS)}"
        raise argparse.ArgumentTypeError(msg)
    return ",".join(words)


def environment_arg(text: str) -> str:
    if _ENVIRONMENT.fullmatch(text) is None:
        msg = f"{text!r} is not an environment name (1 to 64 of A-Z a-z 0-9 _ . -)"
        raise argparse.ArgumentTypeError(msg)
    return text


def duration_arg(text: str) -> str:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if seconds <= 0:
        msg = "a pause lasts longer than 0s"
        raise argparse.ArgumentTypeError(msg)
    return text


def _unicode(text: str, *, what: str) -> str:
    """`text` if it is valid Unicode. A command-line argument that is not valid UTF-8
    arrives with lone surrogates (PEP 383), which no JSON body, log or file can hold."""
    if _UNDECODABLE.search(text):
        msg = (
            f"the {what} is not valid UTF-8 text; check the terminal's or the script's "
            "encoding (LANG/LC_ALL)"
        )
        raise argparse.ArgumentTypeError(msg)
    return text


def target_arg(text: str) -> str:
    return _unicode(text, what="target")


def reason_arg(text: str) -> str:
    cleaned = _unicode(text, what="reason").strip()
    if not cleaned or len(cleaned) > 500:
        msg = "give a reason of 1 to 500 characters (it is shown in status and the audit trail)"
        raise argparse.ArgumentTypeError(msg)
    return cleaned


def limit_arg(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 500:
        msg = f"{text!r}: give a number from 1 to 500"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def offset_arg(text: str) -> int:
    if not text.isdigit():
        msg = f"{text!r}: give a number from 0"
        raise argparse.ArgumentTypeError(msg)
    return int(text)
