"""How the policy words things: ISO UTC times, health in a phrase, pauses."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from daemon.durations import format_duration
from daemon.model import CandidateHealth, Health, Pause


@lru_cache(maxsize=4096)
def iso(at: float) -> str:
    """Epoch seconds as `2024-05-01T14:30:00Z` (whole seconds, UTC); remembered, as the
    same times are quoted again in every evaluation."""
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def left(until: float, now: float) -> str:
    """`until 2024-05-01T14:30:00Z (4m left)`."""
    return f"until {iso(until)} ({format_duration(max(until - now, 0.0))} left)"


def health_phrase(identifier: str, health: CandidateHealth | None, *, now: float | None) -> str:
    """`ses-backup down for 2m (statuspage: major_outage)`; `x unknown (no health reported)`.

    Without `now` the phrase leaves out for how long.
    """
    if health is None:
        return f"{identifier} unknown (no health reported)"
    text = f"{identifier} {health.state.value}"
    if now is not None and health.since is not None and health.since <= now:
        text += f" for {format_duration(now - health.since)}"
    return f"{text} ({health.reason})" if health.reason else text


def signal_tally(health: CandidateHealth) -> str:
    """`3/3 signals` when the candidate has signals, else its reason."""
    if not health.signals:
        return health.reason or "no signals reported"
    up = sum(1 for signal in health.signals if signal.state is Health.UP)
    return f"{up}/{len(health.signals)} signals"


def pause_phrase(pause: Pause) -> str:
    """`paused by api until 2024-05-01T14:30:00Z: maintenance window`."""
    text = f"paused by {pause.by}"
    if pause.until is not None:
        text += f" until {iso(pause.until)}"
    return f"{text}: {pause.reason}" if pause.reason else text
