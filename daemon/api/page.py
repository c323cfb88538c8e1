"""The read-only status page at `/`: channels, candidates, signals, reasons and a timeline.

Server-side Jinja2 templates with autoescaping on for every value; no script and no
external asset (the pod has no internet), and a Content-Security-Policy that would refuse
both. It refreshes itself with a meta refresh, so it reads the same without JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from daemon.api.page_model import STATES, build_page
from daemon.api.requests import ApiError
from daemon.api.status_query import FILTERS, parse_status_query
from daemon.control import CHANNEL_STATES, JSON, SUMMARY, ControlError, ControlPlane, StatusQuery
from daemon.durations import parse_duration

if TYPE_CHECKING:
    from jinja2 import Environment

WINDOWS = ("15m", "1h", "3h", "6h", "24h")
DEFAULT_WINDOW = "3h"
MIN_WINDOW = 60.0
MAX_WINDOW = 24 * 3600.0
DEFAULT_REFRESH = 10
MIN_REFRESH, MAX_REFRESH = 2, 3600
HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


MAX_CARDS = 50
"""Channels drawn in full (timeline, candidates, signals) on one page; past this, every
selected channel gets a row of the overview and only those not ok get a card."""
PAGE_PARAMETERS = ("window", "refresh", *FILTERS)


class TimelineSource(Protocol):
    def snapshot(
        self, *, since: float, channels: Iterable[str] | None = None
    ) -> Mapping[str, JSON]:
        """Per channel key (of `channels`, or all): health transitions, decisions and
        actions from `since` on."""
        ...


@cache
def _templates() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined  # noqa: PLC0415 - not at start-up

    return Environment(
        loader=PackageLoader("daemon.api", "templates"),
        autoescape=True,  # every value, whatever the template's file name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: no stat of the file per request
    )


def render_page(
    status: JSON,
    timelines: Mapping[str, JSON],
    *,
    window: float,
    window_label: str,
    refresh: int,
    overview: JSON | None = None,
    query: StatusQuery = SUMMARY,
) -> str:
    """The page's HTML for a status in full (as `/v1/status?detail=full` serves it) and the
    channels' timelines; `overview`, a summary status of more channels than get a card,
    adds a row per channel."""
    model = build_page(
        status,
        dict(timelines),
        window=window,
        window_label=window_label,
        refresh=refresh,
        windows=WINDOWS,
        overview=overview,
        filters=_filters(query),
    )
    return _templates().get_template("status.html.j2").render(page=model, states=STATES)


def parse_window(value: str | None) -> tuple[float, str]:
    """`?window=` as seconds and its label; ApiError 400 naming the bounds otherwise."""
    label = (value or DEFAULT_WINDOW).strip()
    try:
        seconds = parse_duration(label)
    except ValueError as exc:
        msg = f"window: {exc} (e.g. {', '.join(WINDOWS)})"
        raise ApiError(400, msg) from exc
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:
        msg = f"window: must be from 1m to 24h (got {label[:20]!r})"
        raise ApiError(400, msg)
    return seconds, label


def parse_refresh(value: str | None) -> int:
    """`?refresh=` seconds between reloads: 0 turns it off, else 2..3600."""
    if value is None:
        return DEFAULT_REFRESH
    try:
        seconds = int(value)
    except ValueError:
        seconds = -1
    if seconds != 0 and not MIN_REFRESH <= seconds <= MAX_REFRESH:
        msg = (
            f"refresh: seconds from {MIN_REFRESH} to {MAX_REFRESH}, or 0 for off "
            f"(got {value[:20]!r})"
        )
        raise ApiError(400, msg)
    return seconds


class StatusPage:
    """The `/` endpoint over the control plane's status and the timeline (None: no picture)."""

    def __init__(self, plane: ControlPlane, timeline: TimelineSource | None) -> None:
        self._plane = plane
        self._timeline = timeline

    async def __call__(self, request: Request) -> Response:
        query = parse_status_query(request.query_params, accepted=PAGE_PARAMETERS)
        window, label = parse_window(request.query_params.get("window"))
        refresh = parse_refresh(request.query_params.get("refresh"))
        status, overview = await self._statuses(query)
        since = status["now"] - window
        keys = [c["channel"] for c in status["channels"]]
        timelines = self._timeline.snapshot(since=since, channels=keys) if self._timeline else {}
        html = render_page(
            status,
            timelines,
            window=window,
            window_label=label,
            refresh=refresh,
            overview=overview,
            query=query,
        )
        return HTMLResponse(html, headers=HEADERS)

    async def _statuses(self, query: StatusQuery) -> tuple[JSON, JSON | None]:
        """The channels to draw in full, and (past MAX_CARDS channels) the summary of all
        selected ones for the overview. A thousand channels in full would be ~15 MB of HTML."""
        summary = await self._plane.status(replace(query, detail="summary"))
        channels = summary["channels"]
        if len(channels) <= MAX_CARDS:
            return await self._plane.status(replace(query, detail="full")), None
        attention = [c["channel"] for c in channels if c["state"] != "ok"][:MAX_CARDS]
        full = []
        for key in attention:
            try:
                one = await self._plane.status(StatusQuery(detail="full", channel=key))
            except ControlError:  # gone with a reload since the summary was read
                continue
            full += one["channels"]
        return {**summary, "detail": "full", "channels": full}, summary


def _filters(query: StatusQuery) -> tuple[tuple[str, str], ...]:
    """The page's filters as (parameter, value), for its links and its heading."""
    filters = [("environment", query.environment), ("channel", query.channel)]
    if query.states:
        filters.append(("state", ",".join(s for s in CHANNEL_STATES if s in query.states)))
    return tuple((name, value) for name, value in filters if value)
