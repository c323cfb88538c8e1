"""`/v1/status` query parameters (also the status page's filters): checked, or a 400 that
says what is accepted."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import QueryParams

from daemon.api.requests import CHANNEL_PATTERN, ApiError
from daemon.control import CHANNEL_STATES, DETAILS, ChannelState, StatusQuery

FILTERS = ("environment", "channel", "state")
PARAMETERS = ("detail", *FILTERS)
NOT_OK = "not-ok"
"""`state=not-ok`: every state but ok (what needs a person's eyes)."""
_CHANNEL = re.compile(CHANNEL_PATTERN)
_ENVIRONMENT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _shown(text: str) -> str:
    return repr(text[:64] + ("…" if len(text) > 64 else ""))


def _one(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        msg = f"{name}: give it once (got {len(values)} values)"
        raise ApiError(400, msg)
    return values[0] if values else None


def _states(text: str) -> frozenset[ChannelState]:
    words = [w.strip() for w in text.split(",")]
    states: set[ChannelState] = set()
    for word in words:
        if word == NOT_OK:
            states.update(s for s in CHANNEL_STATES if s != "ok")
        elif word in CHANNEL_STATES:
            states.add(word)
        else:
            accepted = ", ".join((*CHANNEL_STATES, NOT_OK))
            msg = (
                f"state: {_shown(word)} is not a channel state "
                f"(one or more of {accepted}, comma-separated)"
            )
            raise ApiError(400, msg)
    return frozenset(states)


def parse_status_query(params: QueryParams, *, accepted: Iterable[str] = PARAMETERS) -> StatusQuery:
    """The query a request's parameters ask for; ApiError 400 for an unknown parameter, one
    given twice, or a value that cannot be (404 for a well-formed unknown name comes later,
    from the daemon)."""
    allowed = tuple(accepted)
    unknown = sorted({k for k in params if k not in allowed})
    if unknown:
        msg = f"unknown query parameter {_shown(unknown[0])} (accepted: {', '.join(allowed)})"
        raise ApiError(400, msg)
    detail = _one(params, "detail") if "detail" in allowed else None
    if detail is not None and detail not in DETAILS:
        msg = f"detail: {_shown(detail)} is not one of {', '.join(DETAILS)}"
        raise ApiError(400, msg)
    environment = _one(params, "environment")
    if environment is not None and not _ENVIRONMENT.fullmatch(environment):
        msg = (
            f"environment: {_shown(environment)} is not an environment name "
            "(1 to 64 of A-Z a-z 0-9 _ . -)"
        )
        raise ApiError(400, msg)
    channel = _one(params, "channel")
    if channel is not None and not _CHANNEL.fullmatch(channel):
        msg = (
            f"channel: {_shown(channel)} is not a channel "
            "(environment/channel, e.g. production/email)"
        )
        raise ApiError(400, msg)
    state = _one(params, "state")
    return StatusQuery(
        detail="full" if detail == "full" else "summary",
        environment=environment,
        channel=channel,
        states=_states(state) if state is not None else frozenset(),
    )
