"""The contract between the HTTP API (and so the CLI) and the running service.

The service implements `ControlPlane`; `daemon.api` serves it. Everything returned is
JSON-ready (dicts, lists, str, float, bool, None) and holds no secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

JSON = dict[str, Any]

ChannelState = Literal["acting", "blocked", "paused", "held", "dry-run", "ok"]
"""A channel's one word for a person (docs/api.md): the status page's badge."""

CHANNEL_STATES: tuple[ChannelState, ...] = ("acting", "blocked", "paused", "held", "dry-run", "ok")
HELD_KINDS = frozenset({"hold", "wait", "not_managed"})
DETAILS = ("summary", "full")

SUMMARY_DECISION_OMITS = frozenset({"evidence"})
SUMMARY_CHANNEL_OMITS = frozenset({"view_at"})
SUMMARY_CANDIDATE_KEYS = ("integration", "state", "since", "primary", "active", "ready")
"""What the summary (the default of `/v1/status`) keeps of a candidate; `ready` is its
readiness's `ready`. Reasons and per-signal evidence are in `detail=full` and explain."""


@dataclass(frozen=True)
class StatusQuery:
    """Which channels `/v1/status` shows, and how much of each (docs/api.md)."""

    detail: Literal["summary", "full"] = "summary"
    environment: str | None = None
    channel: str | None = None
    """A channel key, `environment/channel`."""
    states: frozenset[ChannelState] = frozenset()
    """Only channels in one of these states; empty: every state."""

    def selects(self, key: str, environment: str) -> bool:
        """Whether a channel passes the environment and channel filters (not the state's)."""
        return (self.channel is None or key == self.channel) and (
            self.environment is None or environment == self.environment
        )


SUMMARY = StatusQuery()
FULL = StatusQuery(detail="full")


def channel_state(channel: JSON, *, dry_run: bool) -> ChannelState:
    """The one word a person needs first, from a channel as `/v1/status` shows it (summary
    or full). Order matters: an action in flight (or one whose outcome is still open),
    then what stops automation (brake, pause), then a held switch, then dry run, else ok."""
    decision = channel.get("decision") or {}
    kind = decision.get("kind")
    if channel.get("in_flight") or channel.get("open_action"):
        return "acting"  # a switch is running, or its outcome is being settled
    if kind == "blocked" or (channel.get("brake") or {}).get("blocked_until") is not None:
        return "blocked"
    if kind == "paused" or channel.get("pause") is not None:
        return "paused"
    if kind is None or kind in HELD_KINDS:
        return "held"
    if dry_run or channel.get("dry_run") or kind == "would_switch":
        return "dry-run"
    return "ok"


def state_counts(channels: Iterable[JSON]) -> JSON:
    """How many of `channels` are in each state (every state, zeros included)."""
    counts: JSON = dict.fromkeys(CHANNEL_STATES, 0)
    for channel in channels:
        counts[channel["state"]] += 1
    return counts


def summarize(channel: JSON) -> JSON:
    """The summary form of a full channel (docs/api.md): what the summary keeps, in the
    same shape. The service builds summaries directly; this pins what they must equal."""
    summary = {k: v for k, v in channel.items() if k not in SUMMARY_CHANNEL_OMITS}
    decision = channel.get("decision")
    if decision is not None:
        summary["decision"] = {k: v for k, v in decision.items() if k not in SUMMARY_DECISION_OMITS}
    summary["candidates"] = [
        {
            **{k: c.get(k) for k in SUMMARY_CANDIDATE_KEYS if k != "ready"},
            "ready": (c.get("readiness") or {}).get("ready"),
        }
        for c in channel.get("candidates") or []
    ]
    return summary


class ControlError(Exception):
    """A refused control request: `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlPlane(Protocol):
    def alive(self) -> tuple[bool, str]:
        """For /healthz: the scheduler and event loop are running."""
        ...

    def ready(self) -> tuple[bool, JSON]:
        """For /readyz: rules loaded and every environment reached once; detail says what not."""
        ...

    async def status(self, query: StatusQuery = SUMMARY) -> JSON:
        """The channels `query` selects (a summary, or in full with candidates' reasons and
        per-signal evidence): state, primary, last decision, pause, brake, cooldown; plus
        the global pause, the rules file and its reload error. ControlError 404 for a
        channel or environment not in the rules."""
        ...

    async def events(self, *, limit: int, offset: int) -> JSON:
        """Audit trail, newest first: {"events": [...], "total": n, "offset": o, "limit": l}."""
        ...

    def explain(self, channel: str) -> JSON:
        """Why a channel did or did not switch: last decision, evidence, health, timers."""
        ...

    async def pause(
        self, *, channel: str | None, until: float | None, reason: str, by: str
    ) -> JSON: ...

    async def resume(self, *, channel: str | None, by: str) -> JSON: ...

    async def ack(self, *, channel: str, by: str) -> JSON:
        """Clear a tripped brake on a channel."""
        ...

    async def failover(
        self, *, channel: str, target: str, force: bool, reason: str, by: str
    ) -> JSON:
        """Manual switch; refused (ControlError 409) when the target is down unless forced."""
        ...
