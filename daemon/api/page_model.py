"""What the status page shows, computed from the `/v1/status` JSON and the timeline JSON.

The template only lays these values out; every choice (a channel's one-word state, which
times read "4m ago", where identifiers are cut) is made here, where a test can pin it.
Optional fields (`ready`, `failure_class`, from standby readiness and failure classes) are
shown when the status carries them and left out otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote

from daemon.api.timeline_svg import Drawing, draw
from daemon.control import CHANNEL_STATES, JSON, ChannelState, channel_state
from daemon.durations import format_duration

STATES = CHANNEL_STATES
NAME_CHARS = 60
REASON_CHARS = 400
ROW_REASON_CHARS = 160
RECENT_EVENTS = 8
MIN_SPAN = 10.0


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters for display; the page keeps the whole in a title."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=4096)
def clock(at: float | None) -> str:
    """UTC wall time: `10:42:07Z`, with the date when it is not today's."""
    if at is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at))


def ago(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    delta = now - at
    if abs(delta) < 1:
        return "now"
    text = _duration(round(abs(delta)))
    return f"{text} ago" if delta > 0 else f"in {text}"


_duration = lru_cache(maxsize=4096)(format_duration)
"""A page writes the same few durations hundreds of times ("10m ago" for every signal)."""


class Text(NamedTuple):
    """A value shown cut to fit (`shown`), with the whole of it (`full`) as a tooltip."""

    shown: str
    full: str
    cut: bool
    """`shown` is shorter than `full` (the page then offers the whole as a tooltip)."""

    @classmethod
    def of(cls, value: object, limit: int) -> Text:
        full = "" if value is None else str(value)
        if len(full) <= limit:
            return cls(full, full, False)
        return cls(full[: limit - 1] + "…", full, True)


class SignalRow(NamedTuple):
    name: Text
    kind: str
    state: str
    reason: Text
    since: str
    since_at: str
    last_result: str | None
    last_detail: Text | None
    last_ago: str | None
    failure_class: str | None
    passive: bool


class CandidateRow(NamedTuple):
    name: Text
    state: str
    reason: Text
    since: str
    since_at: str
    primary: bool
    notes: tuple[str, ...]
    ready: bool | None
    ready_reason: Text | None
    signals: tuple[SignalRow, ...]


class EventLine(NamedTuple):
    at: str
    ago: str
    css: str
    text: Text


@dataclass(frozen=True)
class ChannelCard:
    anchor: str
    key: Text
    state: ChannelState
    kind: str
    reason: Text
    decided: str
    primary: Text | None
    primary_active: bool
    notes: tuple[Text, ...]
    candidates: tuple[CandidateRow, ...]
    drawing: Drawing
    events: tuple[EventLine, ...]


class OverviewRow(NamedTuple):
    """One channel in the overview of a large page: its word, primary and decision."""

    key: Text
    state: ChannelState
    primary: Text | None
    primary_active: bool
    kind: str
    reason: Text
    anchor: str | None
    """The channel's card on this page, if it has one."""


@dataclass(frozen=True)
class PageModel:
    cards: tuple[ChannelCard, ...]
    overview: tuple[OverviewRow, ...]
    filters: tuple[tuple[str, str], ...]
    filter_query: str
    """The filters as `&name=value...`, for links that keep them."""
    counts: tuple[tuple[ChannelState, int], ...]
    now: str
    version: str
    window: str
    span: str
    refresh: int
    notices: tuple[Text, ...]
    windows: tuple[tuple[str, bool], ...]


def build_page(
    status: JSON,
    timelines: dict[str, JSON],
    *,
    window: float,
    window_label: str,
    refresh: int,
    windows: tuple[str, ...],
    overview: JSON | None = None,
    filters: tuple[tuple[str, str], ...] = (),
) -> PageModel:
    """The page for `status` (channels in full, each drawn as a card); `overview`, a
    summary of more channels than get cards, adds a row for each (docs/status-page.md)."""
    now: float = status["now"]
    started = status.get("started_at") or now - window
    # a young daemon's whole life, a little margin before its start, at least MIN_SPAN
    start = min(max(now - window, started - 0.05 * (now - started)), now - MIN_SPAN)
    dry_run = bool(status.get("dry_run"))
    cards = tuple(
        _card(i, channel, timelines.get(channel["channel"]), now=now, start=start, dry_run=dry_run)
        for i, channel in enumerate(status["channels"])
    )
    states = (overview or status).get("states")
    if not isinstance(states, dict):  # a daemon that does not count: count the cards
        states = {s: sum(1 for c in cards if c.state == s) for s in STATES}
    counts = tuple((state, n) for state in STATES if (n := int(states.get(state) or 0)))
    notices = _notices(status, now=now)
    rows: tuple[OverviewRow, ...] = ()
    if overview is not None:
        anchors = {card.key.full: card.anchor for card in cards}
        rows = tuple(_row(c, anchors.get(c["channel"])) for c in overview["channels"])
        shown = "none is" if not cards else f"the {len(cards)} first that are not ok are"
        notices += (
            Text.of(
                f"{len(rows)} channels: one row each below; {shown} drawn in full. Choose a "
                "channel, a state or an environment to see the others' cards.",
                REASON_CHARS,
            ),
        )
    return PageModel(
        cards=cards,
        overview=rows,
        filters=filters,
        filter_query="".join(f"&{name}={quote(value, safe='/,')}" for name, value in filters),
        counts=counts,
        now=clock(now),
        version=str(status.get("version", "")),
        window=window_label,
        span=format_duration(round(now - start)),
        refresh=refresh,
        notices=notices,
        windows=tuple((w, w == window_label) for w in windows),
    )


def _row(channel: JSON, anchor: str | None) -> OverviewRow:
    decision = channel.get("decision") or {}
    primary = channel.get("primary")
    return OverviewRow(
        key=Text.of(channel["channel"], NAME_CHARS * 2),
        state=channel["state"],
        primary=Text.of(primary["integration"], NAME_CHARS) if primary else None,
        primary_active=bool(primary and primary.get("active")),
        kind=str(decision.get("kind") or "none"),
        reason=Text.of(decision.get("reason") or "not evaluated yet", ROW_REASON_CHARS),
        anchor=anchor,
    )


def _notices(status: JSON, *, now: float) -> tuple[Text, ...]:
    notices = []
    if status.get("dry_run"):
        notices.append("dry run for every channel (NOVU_FAILOVER_DRY_RUN): nothing is written")
    pause = status.get("global_pause")
    if pause:
        notices.append(f"automation paused for every channel: {_pause_text(pause, now)}")
    error = (status.get("rules") or {}).get("error")
    if error:
        notices.append(f"rules reload failed; running on the last good rules: {error}")
    return tuple(Text.of(n, REASON_CHARS) for n in notices)


def _pause_text(pause: JSON, now: float) -> str:
    until = pause.get("until")
    end = "until resumed" if until is None else f"until {clock(until)} ({ago(until, now)})"
    return f"by {pause.get('by')} since {clock(pause.get('since'))}, {end}: {pause.get('reason')}"


def _card(
    index: int,
    channel: JSON,
    timeline: JSON | None,
    *,
    now: float,
    start: float,
    dry_run: bool,
) -> ChannelCard:
    decision = channel.get("decision") or {}
    primary = channel.get("primary")
    timeline = timeline or {"health": [], "decisions": [], "actions": []}
    return ChannelCard(
        anchor=f"channel-{index}",
        key=Text.of(channel["channel"], NAME_CHARS * 2),
        state=channel.get("state") or channel_state(channel, dry_run=dry_run),
        kind=str(decision.get("kind") or "none"),
        reason=Text.of(decision.get("reason") or "not evaluated yet", REASON_CHARS),
        decided=ago(decision.get("at"), now) if decision else "",
        primary=Text.of(primary["integration"], NAME_CHARS) if primary else None,
        primary_active=bool(primary and primary.get("active")),
        notes=tuple(Text.of(n, REASON_CHARS) for n in _channel_notes(channel, now=now)),
        candidates=tuple(_candidate(c, now=now) for c in channel.get("candidates", [])),
        drawing=draw(channel, timeline, start=start, end=now),
        events=_events(timeline, now=now),
    )


def _channel_notes(channel: JSON, *, now: float) -> list[str]:
    notes = []
    primary = channel.get("primary")
    if primary is None:
        notes.append("Novu reports no primary integration for this channel")
    elif not primary.get("active"):
        notes.append("the primary is inactive in Novu: it carries no traffic")
    if not channel.get("managed", True):
        notes.append("the primary is not one of the candidates: not managed, never touched")
    if channel.get("novu_error"):
        notes.append(f"cannot read the channel from Novu: {channel['novu_error']}")
    pause = channel.get("pause")
    if pause:
        notes.append(f"paused {_pause_text(pause, now)}")
    brake = channel.get("brake") or {}
    if brake.get("blocked_until") is not None:
        notes.append(
            f"brake: {brake.get('count')}/{brake.get('max')} automatic switches within "
            f"{format_duration(brake.get('per') or 0)}; blocked until "
            f"{clock(brake['blocked_until'])} ({ago(brake['blocked_until'], now)}) "
            "or `novu-failover ack`"
        )
    if channel.get("cooldown_until"):
        notes.append(f"cooldown until {clock(channel['cooldown_until'])}")
    open_action = channel.get("open_action")
    if open_action:
        notes.append(
            f"action {open_action.get('from')} → {open_action.get('to')} not settled yet: "
            f"{open_action.get('reason')}"
        )
    retry = channel.get("action_retry")
    if retry:
        notes.append(
            f"{retry['failed_actions']} failed action(s); next try not before "
            f"{clock(retry['not_before'])} ({ago(retry['not_before'], now)})"
        )
    if channel.get("dry_run"):
        notes.append("dry run: switches are decided and audited, never made")
    last = channel.get("last_switch")
    if last:
        notes.append(
            f"last switch {ago(last['at'], now)}: {last['from']} → {last['to']} ({last['trigger']})"
        )
    return notes


def _candidate(candidate: JSON, *, now: float) -> CandidateRow:
    notes = []
    if candidate.get("primary"):
        notes.append("primary")
    if candidate.get("present") is False:
        notes.append("missing in Novu")
    elif candidate.get("active") is False:
        notes.append("inactive")
    if candidate.get("conditions"):
        notes.append(f"{candidate['conditions']} condition(s)")
    ready, ready_reason = _readiness(candidate.get("readiness"))
    return CandidateRow(
        name=Text.of(candidate["integration"], NAME_CHARS),
        state=str(candidate.get("state", "unknown")),
        reason=Text.of(candidate.get("reason"), REASON_CHARS),
        since=ago(candidate.get("since"), now),
        since_at=clock(candidate.get("since")),
        primary=bool(candidate.get("primary")),
        notes=tuple(notes),
        ready=ready,
        ready_reason=ready_reason,
        signals=tuple(_signal(s, now=now) for s in candidate.get("signals", [])),
    )


def _readiness(readiness: Any) -> tuple[bool | None, Text | None]:
    """Readiness as `/v1/status` gives it (`{"ready", "reasons", "notes"}`, docs/api.md):
    ready or not with why; None while not evaluated (or from a daemon that has none)."""
    if not isinstance(readiness, dict) or not isinstance(readiness.get("ready"), bool):
        return None, None
    reasons = [str(r) for r in readiness.get("reasons") or []]
    notes = [str(n) for n in readiness.get("notes") or []]
    why = "; ".join(reasons if not readiness["ready"] else notes)
    return readiness["ready"], Text.of(why, REASON_CHARS) if why else None


def _signal(signal: JSON, *, now: float) -> SignalRow:
    last = signal.get("last") or {}
    failed = signal.get("last_failure") or {}
    failure_class = last.get("failure_class") or failed.get("failure_class")
    return SignalRow(
        name=Text.of(signal["signal"], NAME_CHARS),
        kind=str(signal.get("kind", "")),
        state=str(signal.get("state", "unknown")),
        reason=Text.of(signal.get("reason"), REASON_CHARS),
        since=ago(signal.get("since"), now),
        since_at=clock(signal.get("since")),
        last_result=last.get("result"),
        last_detail=Text.of(last["detail"], REASON_CHARS) if last.get("detail") else None,
        last_ago=ago(last["at"], now) if last.get("at") is not None else None,
        failure_class=str(failure_class) if failure_class else None,
        passive=bool(signal.get("passive")),
    )


def _events(timeline: JSON, *, now: float) -> tuple[EventLine, ...]:
    """The newest decisions and actions, as lines to read when the picture is not enough."""
    lines: list[tuple[float, str, str]] = []
    # each list is in the order things happened: only its last RECENT_EVENTS can be shown
    for d in timeline["decisions"][-RECENT_EVENTS:]:
        lines.append((d["at"], f"kind-{d['kind']}", f"decision {d['kind']}: {d['reason']}"))
    for a in timeline["actions"][-RECENT_EVENTS:]:
        text = f"{a['trigger']} {a['from']} → {a['to']}: {a['result']}"
        if a.get("error"):
            text += f" ({a['error']})"
        lines.append((a["at"], f"result-{a['result']}", text))
    lines.sort(key=lambda line: line[0], reverse=True)
    return tuple(
        EventLine(at=clock(at), ago=ago(at, now), css=css, text=Text.of(text, REASON_CHARS))
        for at, css, text in lines[:RECENT_EVENTS]
    )
