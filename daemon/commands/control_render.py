"""Human text for the control commands, from the JSON shapes in docs/api.md.

Pure: takes the daemon's JSON (and its `now`) and returns text. Tolerant of missing keys,
so an older or newer daemon still prints something useful.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from daemon.control import CHANNEL_STATES
from daemon.durations import format_duration

JSON = dict[str, Any]
COMPACT_OVER = 20
"""More channels than this are printed one line each (fewer: each in full)."""
ROW_REASON_CHARS = 120


def _seconds(value: Any) -> float | None:
    """`value` as finite epoch seconds, or None for no time or a value that is none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def when(at: Any) -> str:
    """An absolute UTC time, to the second; an absurd value is shown, never a crash."""
    if at is None:
        return "-"
    seconds = _seconds(at)
    invalid = f"{str(at)[:32]} (not a valid time)"
    if seconds is None:
        return invalid
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return invalid


def ago(at: Any, now: float) -> str:
    """`3m ago` / `in 4m` relative to the daemon's `now`; `-` for no time."""
    if at is None:
        return "-"
    seconds = _seconds(at)
    if seconds is None:
        return "?"
    delta = now - seconds
    if abs(delta) < 1:
        return "now"
    return f"{format_duration(delta)} ago" if delta > 0 else f"in {format_duration(-delta)}"


def _now(payload: JSON) -> float:
    return _seconds(payload.get("now")) or time.time()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: str = "") -> list[str]:
    """Columns padded to their widest cell; the last column runs free."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append((indent + "  ".join([*cells, str(row[-1])])).rstrip())
    return lines


def _pause_text(pause: JSON | None, now: float) -> str:
    if not pause:
        return "-"
    until = pause.get("until")
    end = "until resumed" if until is None else f"until {when(until)} ({ago(until, now)})"
    by = pause.get("by") or "?"
    return f"paused {end}, by {by}, {ago(pause.get('since'), now)}: {pause.get('reason')}"


def _brake_text(brake: JSON | None, now: float) -> str:
    if not brake:
        return "-"
    per = brake.get("per")
    window = f" in {format_duration(per)}" if isinstance(per, int | float) else ""
    text = f"{brake.get('count', '?')}/{brake.get('max', '?')} switches{window}"
    blocked = brake.get("blocked_until")
    if blocked is not None:
        text += f"; BLOCKED until {when(blocked)} ({ago(blocked, now)}), ack to release now"
    return text


def _timer_text(until: Any, now: float) -> str:
    seconds = _seconds(until)
    if until is None or (seconds is not None and seconds <= now):
        return "-"
    return f"until {when(until)} ({ago(until, now)})"


def _primary_text(channel: JSON) -> str:
    primary = channel.get("primary")
    if not primary:
        return "none (Novu has no primary for this channel!)"
    text = str(primary.get("integration"))
    if primary.get("active") is False:
        text += "  inactive!"
    if channel.get("managed") is False:
        text += "  (not managed: not one of the candidates)"
    return text


def _decision_text(decision: JSON | None, now: float) -> str:
    if not decision:
        return "none yet"
    return f"{decision.get('kind')}: {decision.get('reason')} ({ago(decision.get('at'), now)})"


def _active(candidate: JSON) -> str:
    if candidate.get("present") is False or candidate.get("active") is None:
        return "missing"
    return "yes" if candidate.get("active") else "no"


def _ready(candidate: JSON) -> str:
    ready = (candidate.get("readiness") or {}).get("ready")
    return "-" if ready is None else "yes" if ready else "no"


def _not_ready(candidate: JSON) -> str:
    readiness = candidate.get("readiness") or {}
    if readiness.get("ready") is not False:
        return ""
    return "; ".join(str(r) for r in readiness.get("reasons") or [])


def _candidate_rows(candidates: Sequence[JSON], now: float) -> list[list[str]]:
    rows = []
    for c in candidates:
        reason = str(c.get("reason") or "")
        if not_ready := _not_ready(c):
            reason = f"{reason} | not ready: {not_ready}"
        rows.append(
            [
                ("* " if c.get("primary") else "  ") + str(c.get("integration")),
                str(c.get("state")),
                ago(c.get("since"), now),
                _active(c),
                _ready(c),
                reason,
            ]
        )
    return rows


def _switch_text(switch: JSON | None, now: float) -> str:
    if not switch:
        return "-"
    return (
        f"{switch.get('trigger')} {switch.get('from') or '-'} -> {switch.get('to')} "
        f"({ago(switch.get('at'), now)})"
    )


def _uptime(status: JSON, now: float) -> str:
    started = status.get("started_at")
    seconds = _seconds(started)
    return "?" if seconds is None else format_duration(max(0.0, now - seconds))


def render_status(status: JSON) -> str:
    now = _now(status)
    rules = status.get("rules") or {}
    lines = [
        f"novu-failover {status.get('version', '?')}, up {_uptime(status, now)}",
        f"rules {rules.get('path', '?')} (loaded {ago(rules.get('loaded_at'), now)})",
    ]
    if rules.get("error"):
        lines.append(f"RULES ERROR (still running on the last good rules): {rules['error']}")
    if status.get("dry_run"):
        lines.append("DRY RUN: decisions are reported, no switch is made")
    if status.get("global_pause"):
        lines.append("GLOBAL PAUSE: " + _pause_text(status["global_pause"], now))
    channels = status.get("channels") or []
    counts = status.get("states")
    if isinstance(counts, dict) and channels:
        shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        lines.append(f"{len(channels)} channel(s): {shown}")
    if not channels:
        lines += ["", "no channel matches" if "states" in status else "no channels configured"]
    if status.get("detail") == "summary" and len(channels) > COMPACT_OVER:
        return "\n".join([*lines, "", *_channel_lines(channels, now)])
    for channel in channels:
        pause = channel.get("pause")
        pause_line = _pause_text(pause, now)
        if pause and pause == status.get("global_pause"):
            pause_line = "global pause (see above)"
        rows = [
            ["primary", _primary_text(channel)],
            ["decision", _decision_text(channel.get("decision"), now)],
            ["pause", pause_line],
            ["brake", _brake_text(channel.get("brake"), now)],
            ["cooldown", _timer_text(channel.get("cooldown_until"), now)],
            ["switched", _switch_text(channel.get("last_switch"), now)],
        ]
        if channel.get("novu_error"):
            seen = ago(channel.get("view_at"), now)
            rows.append(["novu", f"ERROR {channel['novu_error']} (last good view {seen})"])
        if channel.get("in_flight"):
            rows.append(["action", "a switch is in flight"])
        retry = channel.get("action_retry")
        if retry:
            rows.append(
                [
                    "action",
                    f"{retry['failed_actions']} failed attempt(s) in a row; next try "
                    f"{_timer_text(retry['not_before'], now)} (see events)",
                ]
            )
        if channel.get("dry_run") and not status.get("dry_run"):
            rows.append(["dry run", "this channel only reports what it would do"])
        lines += ["", str(channel.get("channel"))]
        lines += [f"  {name:<9} {value}" for name, value in rows]
        candidates = channel.get("candidates") or []
        rows = _candidate_rows(candidates, now)
        headers = ["CANDIDATE", "STATE", "SINCE", "ACTIVE", "READY", "REASON"]
        if candidates and all("reason" not in c for c in candidates):  # a summary
            headers, rows = headers[:-1], [row[:-1] for row in rows]
        lines += table(headers, rows, indent="  ")
    return "\n".join(lines)


def _channel_lines(channels: Sequence[JSON], now: float) -> list[str]:
    """One line per channel, those that need a person first (acting, blocked, ... ok)."""
    order: dict[str, int] = {state: i for i, state in enumerate(CHANNEL_STATES)}
    ranked = sorted(channels, key=lambda c: order.get(str(c.get("state")), len(order)))
    rows = []
    for channel in ranked:
        decision = channel.get("decision") or {}
        reason = str(decision.get("reason") or "none yet")
        if len(reason) > ROW_REASON_CHARS:
            reason = reason[: ROW_REASON_CHARS - 1] + "…"
        kind = decision.get("kind") or "-"  # a decision without a kind: an older daemon
        rows.append(
            [
                str(channel.get("channel")),
                str(channel.get("state") or "?"),
                _primary_text(channel),
                f"{kind}: {reason} ({ago(decision.get('at'), now)})" if decision else "none yet",
            ]
        )
    hint = "one channel in full: novu-failover status CHANNEL; only some: --state not-ok"
    return [*table(["CHANNEL", "STATE", "PRIMARY", "DECISION"], rows), "", hint]


def _event_channel(event: JSON) -> str:
    environment, channel = event.get("environment"), event.get("channel")
    if environment == "*" or channel == "*":
        return "all channels"
    return f"{environment}/{channel}" if environment else str(channel)


def render_events(page: JSON) -> str:
    events = page.get("events") or []
    total, offset = page.get("total", len(events)), page.get("offset", 0)
    if not events:
        return f"no events (total {total})"
    rows = []
    for event in events:
        reason = str(event.get("reason") or "")
        if event.get("error"):
            reason += f" (error: {event['error']})"
        result = str(event.get("result"))
        if event.get("dry_run") and result != "dry_run":
            result += " (dry run)"
        action = event.get("action") or "switch"
        is_switch = action == "switch"
        rows.append(
            [
                when(event.get("at")),
                _event_channel(event),
                str(event.get("trigger")) if is_switch else str(action),
                f"{event.get('from') or '-'} -> {event.get('to') or '-'}" if is_switch else "",
                result,
                reason,
            ]
        )
    headers = ["TIME (UTC)", "CHANNEL", "ACTION", "FROM -> TO", "RESULT", "REASON"]
    # offset and total count entries (lines of the trail); a damaged one is never shown, so
    # a page may hold fewer events than the entries it covers: show the range it covers.
    limit = max(page.get("limit", len(events)), len(events))
    last = min(offset + limit, total) if isinstance(total, int) else offset + len(events)
    footer = f"events {offset + 1}-{last} of {total}, newest first"
    return "\n".join([*table(headers, rows), footer])


def _policy_text(policy: JSON) -> str:
    parts = []
    down_when = policy.get("down_when")
    if isinstance(down_when, dict):
        parts.append(f"down when {down_when.get('quorum')} signals are down")
    elif down_when == "all":
        parts.append("down when all signals are down")
    elif down_when is not None:
        parts.append(f"down when {down_when} signal is down")
    for key in ("confirm", "cooldown", "startup_grace"):
        value = policy.get(key)
        if isinstance(value, int | float):
            parts.append(f"{key.replace('_', ' ')} {format_duration(value)}")
    brake = policy.get("brake") or {}
    if brake:
        parts.append(f"brake {brake.get('max')} per {format_duration(brake.get('per') or 0)}")
    failback = policy.get("failback")
    if isinstance(failback, dict):
        parts.append(f"failback after {format_duration(failback.get('after') or 0)}")
    elif failback is not None:
        parts.append(f"failback {failback}")
    if policy.get("dry_run"):
        parts.append("dry run")
    return ", ".join(parts)


def render_explain(explain: JSON) -> str:
    now = _now(explain)
    lines = [f"{explain.get('channel')}: primary {_primary_text(explain)}", ""]
    decision = explain.get("decision")
    if decision:
        lines.append(
            f"Decision ({ago(decision.get('at'), now)}): {str(decision.get('kind')).upper()}"
            f": {decision.get('reason')}"
        )
        details = [
            f"{name} {decision[key]}"
            for name, key in (("current", "current"), ("target", "target"), ("trigger", "trigger"))
            if decision.get(key)
        ]
        if decision.get("drift"):
            details.append("the primary was changed outside novu-failover (drift), respected")
        if details:
            lines.append("  " + "; ".join(details))
        evidence = decision.get("evidence") or []
        if evidence:
            lines.append("Evidence:")
            lines += [f"  - {item}" for item in evidence]
    else:
        lines.append("Decision: none yet (the channel has not been evaluated)")
    if explain.get("novu_error"):
        lines.append(
            f"Novu: ERROR {explain['novu_error']} "
            f"(last good view {ago(explain.get('view_at'), now)})"
        )
    lines += ["", "Candidates (in order of preference):"]
    for candidate in explain.get("candidates") or []:
        marks = [m for m, on in (("primary", candidate.get("primary")),) if on]
        if candidate.get("present") is False or candidate.get("active") is None:
            marks.append("not in Novu")
        elif candidate.get("active") is False:
            marks.append("inactive")
        if candidate.get("conditions"):
            marks.append(f"{candidate['conditions']} condition(s): set-primary would erase them")
        label = f" ({', '.join(marks)})" if marks else ""
        lines.append(
            f"  {candidate.get('integration')}{label}: {candidate.get('state')} "
            f"since {ago(candidate.get('since'), now)}: {candidate.get('reason')}"
        )
        if not_ready := _not_ready(candidate):
            lines.append(f"    not ready: {not_ready}")
        for signal in candidate.get("signals") or []:
            passive = ", passive" if signal.get("passive") else ""
            failure = signal.get("last_failure") or {}
            last = (
                f" (last failure: {failure['failure_class']} {ago(failure.get('at'), now)})"
                if failure.get("failure_class")
                else ""
            )
            lines.append(
                f"    - {signal.get('signal')} [{signal.get('kind')}{passive}]: "
                f"{signal.get('state')} since {ago(signal.get('since'), now)}: "
                f"{signal.get('reason')}{last}"
            )
    timers = explain.get("timers") or {}
    lines += ["", "Timers:"]
    lines.append(f"  pause: {_pause_text(explain.get('pause'), now)}")
    lines.append(f"  brake: {_brake_text(explain.get('brake'), now)}")
    lines.append(f"  cooldown: {_timer_text(explain.get('cooldown_until'), now)}")
    grace = _seconds(timers.get("startup_grace_until"))
    if grace is not None and grace > now:
        lines.append(f"  startup grace: {_timer_text(grace, now)} (no automatic switch before)")
    if explain.get("in_flight"):
        lines.append("  a switch is in flight right now")
    if explain.get("policy"):
        lines += ["", f"Policy: {_policy_text(explain['policy'])}"]
    recent = explain.get("recent_switches") or []
    if recent:
        lines += ["", "Recent switches (oldest first):"]
        lines += [
            f"  {when(s.get('at'))} {s.get('trigger')} {s.get('from') or '-'} -> {s.get('to')}"
            for s in recent
        ]
    return "\n".join(lines)
