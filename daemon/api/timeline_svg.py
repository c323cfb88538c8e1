"""The geometry of a channel's timeline: health bands, decision and switch marks, pause and
block spans, time ticks, in SVG user units. The template turns it into markup.

Rows follow the status (candidates in rules order, each followed by its signals), so a
candidate or signal removed by a reload disappears from the picture at once.

The many small shapes (bands, spans, marks) are named tuples: the template unpacks them in
field order, which renders about twice as fast as attribute look-ups for thousands of
bands. Changing a field's position means changing timeline.svg.j2 with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from daemon.control import JSON

WIDTH = 1000.0
LABEL_W = 200.0
PLOT_X = LABEL_W + 4.0
PLOT_W = WIDTH - PLOT_X - 8.0
TOP = 18.0
"""Decision marks and switch triangles live above the first band."""
CANDIDATE_H = 14.0
SIGNAL_H = 9.0
GAP = 3.0
AXIS_H = 16.0
LABEL_CHARS = 28
NOW_ROOM = 48.0
SPAN_KINDS = {"paused": "span-paused", "blocked": "span-blocked"}
MIN_BAND_TENTHS = 6
"""A band is at least 0.6 units wide, however short its stretch."""
_PLOT_X10 = round(PLOT_X * 10)
_PLOT_W10 = round(PLOT_W * 10)
_TENTHS = tuple(f"{i // 10}.{i % 10}" for i in range(round(WIDTH * 10) + 1))
"""`_TENTHS[i]` is i/10 written as `str(round(i / 10, 1))` writes it: 2040 -> "204.0"."""
NICE_STEPS = (
    5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
)  # fmt: skip


class Rect(NamedTuple):
    x: float
    y: float
    w: float
    h: float
    css: str
    title: str


class Mark(NamedTuple):
    x: float
    css: str
    title: str
    path: str
    """An SVG path (numbers and commands only) for the mark's shape."""


Band = tuple[str, str, str, str]
"""A stretch of one health state in a row (the row gives y and height): x, width, state,
tooltip. Numbers come formatted: the template writes each field as it is (escaped). A
plain tuple, not a named one: a stormy page makes thousands."""


@dataclass(frozen=True)
class Row:
    """One candidate's or signal's band row, with its label. Numbers come formatted, as the
    template writes them (a page has a thousand rows)."""

    y: str
    h: str
    label_x: str
    label_y: str
    label: str
    title: str
    css: str
    bands: tuple[Band, ...]


@dataclass(frozen=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True)
class Drawing:
    width: float
    height: float
    plot_x: float
    plot_w: float
    plot_top: float
    plot_bottom: float
    rows: tuple[Row, ...]
    spans: tuple[Rect, ...]
    decisions: tuple[Mark, ...]
    switches: tuple[Mark, ...]
    ticks: tuple[Tick, ...]
    empty: bool


class _Scale:
    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = max(end, start + 1.0)
        self.per_second = PLOT_W / (self.end - self.start)

    def x(self, at: float) -> float:
        if at <= self.start:
            return PLOT_X
        if at >= self.end:
            return PLOT_X + PLOT_W
        return round(PLOT_X + (at - self.start) * self.per_second, 1)


def draw(channel: JSON, timeline: JSON, *, start: float, end: float) -> Drawing:
    """The timeline of one channel between `start` and `end` (epoch seconds)."""
    scale = _Scale(start, end)
    series = {(s["integration"], s["signal"]): s["points"] for s in timeline["health"]}
    rows: list[Row] = []
    y = TOP
    for candidate in channel.get("candidates", []):
        name = candidate["integration"]
        points = series.get((name, None), [])
        rows.append(_row(y, CANDIDATE_H, name, "label-candidate", _bands(points, scale, who=name)))
        y += CANDIDATE_H + 1.0
        for signal in candidate.get("signals", []):
            sid = signal["signal"]
            points = series.get((name, sid), [])
            bands = _bands(points, scale, who=f"{name} {sid}")
            rows.append(_row(y, SIGNAL_H, sid, "label-signal", bands))
            y += SIGNAL_H + 1.0
        y += GAP
    bottom = y
    return Drawing(
        width=WIDTH,
        height=bottom + AXIS_H,
        plot_x=PLOT_X,
        plot_w=PLOT_W,
        plot_top=TOP,
        plot_bottom=bottom,
        rows=tuple(rows),
        spans=tuple(_spans(timeline["decisions"], scale, top=TOP, bottom=bottom)),
        decisions=tuple(_decision_marks(timeline["decisions"], scale)),
        switches=tuple(_switch_marks(timeline["actions"], scale, bottom=bottom)),
        ticks=tuple(_ticks(scale)),
        empty=not any(r.bands for r in rows) and not timeline["decisions"],
    )


def _row(y: float, h: float, text: str, css: str, bands: tuple[Band, ...]) -> Row:
    shown = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    indent = "16" if css == "label-signal" else "4"
    return Row(
        y=str(y),
        h=str(h),
        label_x=indent,
        label_y=str(h - 2.0),
        label=shown,
        title=text,
        css=css,
        bands=bands,
    )


def _bands(points: list[JSON], scale: _Scale, *, who: str) -> tuple[Band, ...]:
    """One band per point, from its time to the next point's (the last one to the end).

    A stormy page draws thousands of these, so the loop is kept plain: positions are
    computed inline in tenths of a unit (so a band ends exactly where the next begins) and
    written from a table of formatted numbers; the template escapes a `str` about twice as
    fast as a `float`."""
    start, end, per_tenth = scale.start, scale.end, scale.per_second * 10.0
    left, right = _PLOT_X10, _PLOT_X10 + _PLOT_W10
    tenths, hms = _TENTHS, _hms
    bands: list[Band] = []
    previous: tuple[float, int, str, str] | None = None  # at, x, state, reason
    for point in [*points, {"at": end}]:  # the last band ends at the end
        at = point["at"]
        if at <= start:
            x = left
        elif at >= end:
            x = right
        else:
            x = int(left + (at - start) * per_tenth + 0.5)
        if previous is not None and at > start and previous[0] < end:
            began, x0, state, reason = previous
            w = x - x0 if x - x0 > MIN_BAND_TENTHS else MIN_BAND_TENTHS
            bands.append(
                (tenths[x0], tenths[w], state, f"{who}: {state} from {hms(began)}: {reason}")
            )
        if "state" in point:
            previous = (at, x, point["state"], point["reason"])
    return tuple(bands)


def _spans(decisions: list[JSON], scale: _Scale, *, top: float, bottom: float) -> list[Rect]:
    """Paused and blocked stretches: from a decision of that kind to the next other one."""
    rects = []
    for i, decision in enumerate(decisions):
        css = SPAN_KINDS.get(decision["kind"])
        if css is None:
            continue
        finish = decisions[i + 1]["at"] if i + 1 < len(decisions) else scale.end
        if finish <= scale.start:
            continue
        x0, x1 = scale.x(decision["at"]), scale.x(finish)
        rects.append(
            Rect(
                x=x0,
                y=top - 2.0,
                w=max(round(x1 - x0, 1), 1.0),
                h=bottom - top + 2.0,
                css=css,
                title=f"{decision['kind']} from {_hms(decision['at'])}: {decision['reason']}",
            )
        )
    return rects


def _decision_marks(decisions: list[JSON], scale: _Scale) -> list[Mark]:
    marks = []
    start = scale.start
    for decision in decisions:
        at = decision["at"]
        if at < start:
            continue
        x = scale.x(at)
        kind = decision["kind"]
        marks.append(
            Mark(x, "kind-" + kind, f"{_hms(at)} {kind}: {decision['reason']}", f"M{x}{_DIAMOND}")
        )
    return marks


_DIAMOND = f",{TOP - 11.0}l3.5,4l-3.5,4l-3.5,-4z"
"""A decision mark's path after its `Mx`: a diamond above the first band."""


def _switch_marks(actions: list[JSON], scale: _Scale, *, bottom: float) -> list[Mark]:
    """A line over every band with a triangle on top: where the primary changed (or would
    have, in dry run, or failed to)."""
    marks = []
    for action in actions:
        if action["at"] < scale.start or action["result"] == "started":
            continue
        x = scale.x(action["at"])
        text = f"{action['trigger']} {action['from']} → {action['to']}: {action['result']}"
        if action.get("error"):
            text += f" ({action['error']})"
        marks.append(
            Mark(
                x=x,
                css=f"result-{action['result']}",
                title=f"{_hms(action['at'])} {text}",
                path=f"M{x},{TOP - 3.0}V{bottom}M{x - 5.0},{TOP - 12.0}h10l-5,8z",
            )
        )
    return marks


def _ticks(scale: _Scale) -> list[Tick]:
    span = scale.end - scale.start
    step = next((s for s in NICE_STEPS if span / s <= 8), 86400)
    first = (int(scale.start) // step + 1) * step
    fmt = "%H:%M:%S" if step < 60 else "%H:%M"
    room = span * NOW_ROOM / PLOT_W  # keep the last tick clear of the "now" label
    return [
        Tick(x=scale.x(at), text=time.strftime(fmt, time.gmtime(at)))
        for at in range(first, int(scale.end - room) + 1, step)
    ]


@lru_cache(maxsize=8192)
def _hms(at: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(at))
