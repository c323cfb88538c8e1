"""Values that cross layers: health, Novu's view of a channel, decisions, history, audit.

Pure data. Nothing here does I/O or reads the clock; times are epoch seconds passed in.

Reasons are worded lazily: a candidate's health and a decision may be built with a wording
function instead of text (`Wording`), called on first use of `reason` / `evidence` and
remembered. The daemon judges far more often than anyone reads a reason (status, explain,
audit records, logs), so the judging path builds no sentences. Those two classes are
plain slotted classes whose fields are `Final` (mypy refuses an assignment) rather than
frozen dataclasses, which pay a function call per field on every construction; they are
built on every fresh evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

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


Wording = Callable[[], str]
"""Words a reason from facts it closes over (immutable values, `now` included); pure, so
calling it later, or twice from two threads at once, gives the same text."""
Evidence = tuple[str, ...]


def _worded(text: str | Wording) -> str:
    return text if isinstance(text, str) else text()


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


@dataclass(slots=True, unsafe_hash=True)
class SignalHealth:
    """A signal's health as the rest of the daemon sees it. Fields are `Final` (see above)."""

    signal: Final[str]
    state: Final[Health]
    reason: Final[str]
    since: Final[float | None]
    passive: Final[bool] = False
    """Passive signals (alerts) can say `down` but are no positive evidence of `up`."""


class CandidateHealth:
    """A candidate's health, judged from its signals' health, with a one-line reason.

    `reason` may be given as a `Wording`: it is worded on first use and remembered (the
    health is judged on every fresh observation, its reason read only when shown).
    Equal when all fields are, the reason included; the reason is only worded to compare
    when everything else is already equal.
    """

    __slots__ = ("_reason", "integration", "signals", "since", "state")
    integration: Final[str]
    state: Final[Health]
    since: Final[float | None]
    signals: Final[tuple[SignalHealth, ...]]
    _reason: str | Wording

    def __init__(
        self,
        integration: str,
        state: Health,
        reason: str | Wording,
        since: float | None,
        signals: tuple[SignalHealth, ...] = (),
    ) -> None:
        self.integration = integration
        self.state = state
        self._reason = reason
        self.since = since
        self.signals = signals

    @property
    def reason(self) -> str:
        text = self._reason = _worded(self._reason)  # worded once, then kept
        return text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CandidateHealth):
            return NotImplemented
        return (
            self.signals == other.signals  # first: what differs after a fresh observation
            and self.integration == other.integration
            and self.state is other.state
            and self.since == other.since
            and self.reason == other.reason
        )

    def __hash__(self) -> int:
        return hash((self.integration, self.state, self.since, self.signals))

    def __repr__(self) -> str:
        return (
            f"CandidateHealth(integration={self.integration!r}, state={self.state!r}, "
            f"reason={self.reason!r}, since={self.since!r}, signals={self.signals!r})"
        )


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

    _primary: Integration | None = field(init=False, repr=False, compare=False)
    _by_identifier: Mapping[str, Integration] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Found once: a view is read by every evaluation until Novu is read again.
        primary = next((i for i in self.integrations if i.primary), None)
        by_identifier: dict[str, Integration] = {}
        for integration in self.integrations:
            by_identifier.setdefault(integration.identifier, integration)  # the first one wins
        object.__setattr__(self, "_primary", primary)
        object.__setattr__(self, "_by_identifier", by_identifier)

    @property
    def primary(self) -> Integration | None:
        """The integration flagged primary (active or not), if any."""
        return self._primary

    def find(self, identifier: str) -> Integration | None:
        return self._by_identifier.get(identifier)

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


class Decision:
    """The outcome of one evaluation of one channel, with a one-line human reason.

    `reason` and `evidence` may be given as wording functions: they are worded on first
    use and remembered. What the daemon acts on (kind, current, target, trigger,
    recheck_at) is always decided at once; the words are only needed when shown (status,
    explain, logs) or written down (an audit record is built from them before it is
    persisted). Equal when all fields but `recheck_at` are; the words are only worded to
    compare when everything else is already equal.
    """

    __slots__ = (
        "_evidence",
        "_reason",
        "at",
        "channel",
        "current",
        "drift",
        "kind",
        "recheck_at",
        "target",
        "trigger",
    )
    channel: Final[ChannelKey]
    kind: Final[DecisionKind]
    at: Final[float]
    current: Final[str | None]
    target: Final[str | None]
    trigger: Final[Trigger | None]
    drift: Final[bool]
    recheck_at: Final[float]
    """Until then the same inputs give the same decision (the next timer: confirm, cooldown,
    brake, grace, failback delay, pause end); its reason's countdowns are worded at `at`."""
    _reason: str | Wording
    _evidence: Evidence | Callable[[], Evidence]

    def __init__(
        self,
        channel: ChannelKey,
        kind: DecisionKind,
        reason: str | Wording,
        at: float,
        *,
        current: str | None = None,
        target: str | None = None,
        trigger: Trigger | None = None,
        evidence: Evidence | Callable[[], Evidence] = (),
        drift: bool = False,
        recheck_at: float = math.inf,
    ) -> None:
        self.channel = channel
        self.kind = kind
        self._reason = reason
        self.at = at
        self.current = current
        self.target = target
        self.trigger = trigger
        self._evidence = evidence
        self.drift = drift
        self.recheck_at = recheck_at

    @property
    def reason(self) -> str:
        text = self._reason = _worded(self._reason)  # worded once, then kept
        return text

    @property
    def evidence(self) -> Evidence:
        evidence = self._evidence
        if not isinstance(evidence, tuple):
            evidence = self._evidence = evidence()  # worded once, then kept
        return evidence

    @property
    def acts(self) -> bool:
        return self.kind is DecisionKind.SWITCH

    def replace(self, **changes: Any) -> Decision:
        """A copy with `changes` (as `dataclasses.replace`); words not yet worded stay lazy."""
        fields: dict[str, Any] = {
            "channel": self.channel,
            "kind": self.kind,
            "reason": self._reason,
            "at": self.at,
            "current": self.current,
            "target": self.target,
            "trigger": self.trigger,
            "evidence": self._evidence,
            "drift": self.drift,
            "recheck_at": self.recheck_at,
        }
        return Decision(**{**fields, **changes})

    def _facts(self) -> tuple[object, ...]:
        return (self.channel, self.kind, self.at, self.current, self.target, self.trigger)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return (
            self._facts() == other._facts()
            and self.drift == other.drift
            and self.reason == other.reason
            and self.evidence == other.evidence
        )

    def __hash__(self) -> int:
        return hash(self._facts())

    def __repr__(self) -> str:
        return (
            f"Decision(channel={self.channel!r}, kind={self.kind!r}, reason={self.reason!r}, "
            f"at={self.at!r}, current={self.current!r}, target={self.target!r}, "
            f"trigger={self.trigger!r}, evidence={self.evidence!r}, drift={self.drift!r}, "
            f"recheck_at={self.recheck_at!r})"
        )


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
