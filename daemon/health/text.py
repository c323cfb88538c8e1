"""Small pure formatters for health reasons: times, rates, counts, observation details."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from daemon.model import Health, Observation

DETAIL_MAX = 160
"""Longest observation detail quoted in a reason; reasons stay one readable line."""


@lru_cache(maxsize=4096)
def iso_utc(at: float) -> str:
    """Epoch seconds as `2024-05-01T12:00:03Z` (formatting only; no clock is read).

    Remembered: the same `since` is worded again in every reason that quotes it."""
    try:
        return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"t={at:g}"


def percent(fraction: float) -> str:
    """0.45 -> '45%', 0.125 -> '12.5%'."""
    text = f"{fraction * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def count(n: int, noun: str) -> str:
    """'1 failure', '3 failures', '2 successes'."""
    if n == 1:
        return f"{n} {noun}"
    plural = f"{noun}es" if noun.endswith("s") else f"{noun}s"
    return f"{n} {plural}"


def one_line(detail: str) -> str:
    """The detail on one line, cut to DETAIL_MAX characters."""
    flat = " ".join(detail.split()) or "no detail"
    return flat if len(flat) <= DETAIL_MAX else flat[: DETAIL_MAX - 1] + "…"


def last_seen(last: Observation | None) -> str:
    """' (last: HTTP 503 ...)' for the latest observation, marking inconclusive ones."""
    if last is None:
        return ""
    if last.ok is None:
        return f" (last check inconclusive: {one_line(last.detail)})"
    return f" (last: {one_line(last.detail)})"


def headline(state: Health, since: float | None, body: str) -> str:
    """'down since 2024-05-01T12:00:03Z: <body>' or 'unknown: <body>' when since is None."""
    if since is None:
        return f"{state.value}: {body}"
    return f"{state.value} since {iso_utc(since)}: {body}"
