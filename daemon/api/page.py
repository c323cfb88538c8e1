"""The read-only status page at `/`: channels, candidates, signals, reasons and a timeline.

Server-side Jinja2 templates with autoescaping on for every value; no script and no
external asset (the pod has no internet), and a Content-Security-Policy that would refuse
both. It refreshes itself with a meta refresh, so it reads the same without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from daemon.api.page_model import STATES, build_page
from daemon.api.requests import ApiError
from daemon.control import JSON, ControlPlane
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


class TimelineSource(Protocol):
    def snapshot(self, *, since: float) -> Mapping[str, JSON]:
        """Per channel key: health transitions, decisions and actions from `since` on."""
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
) -> str:
    """The page's HTML for a status (as `/v1/status` serves it) and the channels' timelines."""
    model = build_page(
        status,
        dict(timelines),
        window=window,
        window_label=window_label,
        refresh=refresh,
        windows=WINDOWS,
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
        window, label = parse_window(request.query_params.get("window"))
        refresh = parse_refresh(request.query_params.get("refresh"))
        status = self._plane.status()
        since = status["now"] - window
        timelines = self._timeline.snapshot(since=since) if self._timeline else {}
        html = render_page(status, timelines, window=window, window_label=label, refresh=refresh)
        return HTMLResponse(html, headers=HEADERS)
