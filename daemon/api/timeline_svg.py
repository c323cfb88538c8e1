"""The geometry of a channel's timeline: health bands, decision and switch marks, pause and
block spans, time ticks, in SVG user units. The template turns it into markup.

Rows follow the status (candidates in rules order, each followed by its signals), so a
candidate or signal removed by a reload disappears from the picture at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
NICE_STEPS = (
    5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
)  # fmt: skip


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    css: str
    title: str


@dataclass(frozen=True)
class Mark:
    x: float
    css: str
    title: str
    path: str
    """An SVG path (numbers and commands only) for the mark's shape."""


@dataclass(frozen=True)
class Label:
    y: float
    text: str
    title: str
    css: str


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
    labels: tuple[Label, ...]
    bands: tuple[Rect, ...]
    spans: tuple[Rect, ...]
    decisions: tuple[Mark, ...]
    switches: tuple[Mark, ...]
    ticks: tuple[Tick, ...]
    empty: bool


class _Scale:
    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = max(end, start + 1.0)

    def x(self, at: float) -> float:
        at = min(max(at, self.start), self.end)
        return round(PLOT_X + (at - self.start) / (self.end - self.start) * PLOT_W, 1)


def draw(channel: JSON, timeline: JSON, *, start: float, end: float) -> Drawing:
    """The timeline of one channel between `start` and `end` (epoch seconds)."""
    scale = _Scale(start, end)
    series = {(s["integration"], s["signal"]): s["points"] for s in timeline["health"]}
    labels: list[Label] = [Label(y=TOP - 6.0, text="decisions", title="", css="label-meta")]
    bands: list[Rect] = []
    y = TOP
    for candidate in channel.get("candidates", []):
        name = candidate["integration"]
        labels.append(_label(y + CANDIDATE_H - 3.0, name, "label-candidate"))
        bands.extend(_bands(series.get((name, None), []), scale, y=y, h=CANDIDATE_H, who=name))
        y += CANDIDATE_H + 1.0
        for signal in candidate.get("signals", []):
            sid = signal["signal"]
            labels.append(_label(y + SIGNAL_H - 0.5, sid, "label-signal"))
            points = series.get((name, sid), [])
            bands.extend(_bands(points, scale, y=y, h=SIGNAL_H, who=f"{name} {sid}"))
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
        labels=tuple(labels),
        bands=tuple(bands),
        spans=tuple(_spans(timeline["decisions"], scale, top=TOP, bottom=bottom)),
        decisions=tuple(_decision_marks(timeline["decisions"], scale)),
        switches=tuple(_switch_marks(timeline["actions"], scale, bottom=bottom)),
        ticks=tuple(_ticks(scale)),
        empty=not bands and not timeline["decisions"],
    )


def _label(y: float, text: str, css: str) -> Label:
    shown = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    return Label(y=y, text=shown, title=text, css=css)


def _bands(points: list[JSON], scale: _Scale, *, y: float, h: float, who: str) -> list[Rect]:
    rects = []
    for i, point in enumerate(points):
        begin = point["at"]
        finish = points[i + 1]["at"] if i + 1 < len(points) else scale.end
        if finish <= scale.start or begin >= scale.end:
            continue
        x0, x1 = scale.x(begin), scale.x(finish)
        rects.append(
            Rect(
                x=x0,
                y=y,
                w=max(round(x1 - x0, 1), 0.6),
                h=h,
                css=f"health-{point['state']}",
                title=f"{who}: {point['state']} from {_hms(begin)}: {point['reason']}",
            )
        )
    return rects


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
    for decision in decisions:
        if decision["at"] < scale.start:
            continue
        x = scale.x(decision["at"])
        marks.append(
            Mark(
                x=x,
                css=f"kind-{decision['kind']}",
                title=f"{_hms(decision['at'])} {decision['kind']}: {decision['reason']}",
                path=f"M{x},{TOP - 11.0}l3.5,4l-3.5,4l-3.5,-4z",
            )
        )
    return marks


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


def _hms(at: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(at))
