"""Values that cross layers: health, Novu's view of a channel, decisions, history, audit.

Pure data. Nothing here does I/O or reads the clock; times are epoch seconds passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

ChannelName = Literal["email", "sms"]
ChannelKey = str
"""`environment/channel`, e.g. `production/email`: the identity of one channel policy."""


def channel_key(environment: str, channel: str) -> ChannelKey:
    return f"{environment}/{channel}"


FailureClass = Literal["recipient", "credentials", "quota", "outage", "unknown"]
"""Why a delivery or probe failed, as far as failing over is concerned (docs/signals.md)."""
FAILURE_CLASSES: tuple[FailureClass, ...] = (
    "recipient",
    "credentials",
    "quota",
    "outage",
    "unknown",
)
DEFAULT_DOWN_CLASSES: frozenset[FailureClass] = frozenset(
    {"credentials", "quota", "outage", "unknown"}
)
"""The classes a failover can help with: every one but `recipient` (a bad address or number
fails through any provider)."""


class Health(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Observation:
    """One probe result for one signal. `ok=None` means inconclusive (no evidence either way)."""

    signal: str
    ok: bool | None
    at: float
    detail: str
    latency: float | None = None
    failure_class: FailureClass | None = None
    """For a failure: what kind (recipient, credentials, quota, outage, unknown)."""


@dataclass(frozen=True, slots=True)
class SignalHealth:
    signal: str
    state: Health
    reason: str
    since: float | None
    passive: bool = False
    """Passive signals (alerts) can say `down` but are no positive evidence of `up`."""


@dataclass(frozen=True, slots=True)
class CandidateHealth:
    integration: str
    state: Health
    reason: str
    since: float | None
    signals: tuple[SignalHealth, ...] = ()


@dataclass(frozen=True, slots=True)
class Integration:
    """One Novu integration as the daemon keeps it: credentials are dropped at parse time."""

    id: str
    identifier: str
    name: str
    provider_id: str
    channel: str
    environment_id: str
    active: bool
    primary: bool
    conditions: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelView:
    """What Novu says about one channel of one environment, at `fetched_at`."""

    environment: str
    channel: str
    integrations: tuple[Integration, ...]
    fetched_at: float
    elsewhere: tuple[Integration, ...] = ()
    """The environment's integrations of other channels (to say "wrong channel")."""

    @classmethod
    def split(
        cls, environment: str, channel: str, everything: Iterable[Integration], *, now: float
    ) -> ChannelView:
        """One channel's view from an environment's whole integration list."""
        listed = tuple(everything)
        return cls(
            environment=environment,
            channel=channel,
            integrations=tuple(i for i in listed if i.channel == channel),
            fetched_at=now,
            elsewhere=tuple(i for i in listed if i.channel != channel),
        )

    @property
    def primary(self) -> Integration | None:
        """The integration flagged primary (active or not), if any."""
        return next((i for i in self.integrations if i.primary), None)

    def find(self, identifier: str) -> Integration | None:
        return next((i for i in self.integrations if i.identifier == identifier), None)

    def find_elsewhere(self, identifier: str) -> Integration | None:
        """The integration of another channel with this identifier, if Novu has one."""
        return next((i for i in self.elsewhere if i.identifier == identifier), None)


class DecisionKind(StrEnum):
    KEEP = "keep"  # primary is fine (or no better evidence): nothing to do
    SWITCH = "switch"  # act: make `target` the primary
    WOULD_SWITCH = "would_switch"  # dry run: would have switched to `target`
    WAIT = "wait"  # a switch is warranted but a timer holds it (confirm, cooldown, grace)
    HOLD = "hold"  # primary is down and no candidate is healthy
    BLOCKED = "blocked"  # the brake tripped; needs an ack or the window to pass
    PAUSED = "paused"  # a person paused automation
    NOT_MANAGED = "not_managed"  # the primary is not one of our candidates


Trigger = Literal["failover", "failback", "manual"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one evaluation of one channel, with a one-line human reason."""

    channel: ChannelKey
    kind: DecisionKind
    reason: str
    at: float
    current: str | None = None
    target: str | None = None
    trigger: Trigger | None = None
    evidence: tuple[str, ...] = ()
    drift: bool = False
    recheck_at: float = field(default=math.inf, compare=False)
    """Until then the same inputs give the same decision (the next timer: confirm, cooldown,
    brake, grace, failback delay, pause end); its reason's countdowns are worded at `at`."""

    @property
    def acts(self) -> bool:
        return self.kind is DecisionKind.SWITCH


@dataclass(frozen=True, slots=True)
class Switch:
    """A primary change the daemon made (or, for drift, observed)."""

    at: float
    from_: str | None
    to: str
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str
    since: float
    until: float | None = None
    by: str = "api"

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class ChannelHistory:
    """What the policy needs to remember about a channel between evaluations."""

    switches: tuple[Switch, ...] = ()
    brake_acked_at: float | None = None
    last_known_primary: str | None = None


def effective_pause(
    global_pause: Pause | None, channel_pause: Pause | None, now: float
) -> Pause | None:
    """The pause in force for a channel: its own, else the global one; expired ones don't count."""
    for pause in (channel_pause, global_pause):
        if pause is not None and pause.active(now):
            return pause
    return None


AuditResult = Literal["started", "ok", "failed", "refused", "dry_run"]
"""`started` is written before the first write to Novu, so a crash mid-action leaves a trace."""
AuditAction = Literal["switch", "pause", "resume", "ack", "drift"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One attempted (or dry-run) action, kept durably. Never holds a secret."""

    id: str
    at: float
    environment: str
    channel: str
    from_: str | None
    to: str | None
    trigger: Trigger
    reason: str
    result: AuditResult
    dry_run: bool = False
    attempts: int = 0
    evidence: tuple[str, ...] = ()
    error: str | None = None
    erased_conditions: tuple[Mapping[str, Any], ...] = ()
    duration: float = 0.0
    extra: Mapping[str, str] = field(default_factory=dict)
    action: AuditAction = "switch"
    """What was done: a primary switch, a person's pause / resume / brake ack, or a change of
    the primary made outside novu-failover (drift), seen and respected."""


MessageStatus = Literal["sent", "error", "warning"]


@dataclass(frozen=True, slots=True)
class Message:
    """One message from Novu's `GET /v1/messages`: only what delivery health needs."""

    provider_id: str | None
    status: str
    created_at: float
    error_id: str | None = None
    error_text: str | None = None
    transaction_id: str | None = None
