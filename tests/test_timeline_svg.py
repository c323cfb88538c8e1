"""The timeline's geometry and its markup: bands tile their row exactly, take the row's
height, and an unexpected state stays an escaped class (the usual ones are written
literally by the template, the rest go through autoescape)."""

from __future__ import annotations

import time
from typing import Any

from fake_control_plane import START, FakePlane
from html_dom import Element, parse

from daemon.api.page import render_page
from daemon.api.timeline_svg import _TENTHS, MIN_BAND_TENTHS, PLOT_W, PLOT_X, draw
from daemon.control import FULL
from daemon.service.timeline import Timeline

KEY = "production/email"
HOSTILE_STATE = '"><script id="pwned">alert(1)</script>'


def _channel() -> dict[str, Any]:
    return {
        "channel": KEY,
        "candidates": [{"integration": "sendgrid-main", "signals": [{"signal": "http"}]}],
    }


def _timeline(states: list[tuple[float, str]]) -> dict[str, Any]:
    timeline = Timeline()
    for at, state in states:
        timeline.health(KEY, "sendgrid-main", None, state=state, reason=f"r{at}", at=at)
    return timeline.channel_json(KEY, since=START - 3600)


def test_the_table_of_tenths_writes_numbers_as_round_does() -> None:
    assert _TENTHS[2040] == "204.0" == str(round(204.0, 1))
    assert all(_TENTHS[i] == str(round(i / 10, 1)) for i in range(len(_TENTHS)))


def test_bands_tile_the_row_from_the_plot_start_to_its_end() -> None:
    changes = [(START - 3700 + 57.3 * n, "down" if n % 2 else "up") for n in range(60)]
    drawing = draw(_channel(), _timeline(changes), start=START - 3600, end=START)
    bands = drawing.rows[0].bands
    assert len(bands) > 10
    xs = [float(x) for x, _, _, _ in bands]
    ws = [float(w) for _, w, _, _ in bands]
    assert xs[0] == PLOT_X  # the state in force when the window starts, clamped to it
    for (x, w), next_x in zip(zip(xs, ws, strict=True), xs[1:], strict=False):
        assert round(x + w, 1) == next_x  # no hairline gap, no overlap
    assert round(xs[-1] + ws[-1], 1) == PLOT_X + PLOT_W
    assert [state for _, _, state, _ in bands][:2] == ["down", "up"]
    assert bands[1][3].startswith("sendgrid-main: up from ")


def test_a_band_shorter_than_its_minimum_is_drawn_at_the_minimum_width() -> None:
    changes = [(START - 600, "up"), (START - 599.9, "down")]
    drawing = draw(_channel(), _timeline(changes), start=START - 3600, end=START)
    assert drawing.rows[0].bands[0][1] == _TENTHS[MIN_BAND_TENTHS]


def _svg(states: list[tuple[float, str]]) -> Element:
    plane = FakePlane()
    html = render_page(
        plane.status_now(FULL),
        {KEY: _timeline(states)},
        window=3600,
        window_label="1h",
        refresh=10,
    )
    return parse(html).find("section", data_channel=KEY).find("svg", cls="timeline")


def test_bands_take_their_rows_height_and_keep_their_tooltips() -> None:
    svg = _svg([(START - 900, "up"), (START - 300, "unknown")])
    row = next(g for g in svg.find_all("g") if g.find_all("rect", cls="band"))
    (inner,) = row.find_all("svg")
    assert float(inner.attrs["height"]) > 0
    bands = inner.find_all("rect", cls="band")
    assert [b.attrs["class"] for b in bands] == ["band health-up", "band health-unknown"]
    assert {b.attrs["height"] for b in bands} == {"100%"}
    assert bands[1].titles() == [
        f"sendgrid-main: unknown from {_hms(START - 300)}: r{START - 300}"
    ]


def test_an_unexpected_health_state_stays_an_escaped_class() -> None:
    svg = _svg([(START - 900, HOSTILE_STATE)])
    assert svg.find_all("script") == []
    (band,) = svg.find_all("rect", cls="band")
    assert band.attrs["class"] == f"band health-{HOSTILE_STATE}"


def _hms(at: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(at))
