"""The rules.yaml schema. Pydantic models, frozen; unknown keys are errors.

Per-signal timing (interval, timeout, fall, rise) falls back to `defaults`: the loader passes
the validated defaults in the validation context, so every Signal carries concrete values.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.durations import parse_duration
from daemon.model import (
    DEFAULT_DOWN_CLASSES,
    FAILURE_CLASSES,
    ChannelKey,
    ChannelName,
    FailureClass,
    channel_key,
)


def to_seconds(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):  # bool is an int; `timeout: yes` is a mistake, not 1s
        msg = "a duration is a string like 30s or 5m, not a boolean"
        raise ValueError(msg)  # noqa: TRY004 - pydantic wants ValueError to report it
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"a duration must be finite; got {value}"
        raise ValueError(msg)
    return value


MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

# Every duration is finite and bounded (docs/rules.md, "Limits"): a value beyond these is a
# typo or a wish to switch the feature off, and an infinite one would stop a job silently.
Interval = Annotated[
    float, BeforeValidator(to_seconds), Field(ge=0.01, le=DAY, allow_inf_nan=False)
]
Timeout = Annotated[
    float, BeforeValidator(to_seconds), Field(gt=0, le=10 * MINUTE, allow_inf_nan=False)
]
Window = Annotated[float, BeforeValidator(to_seconds), Field(gt=0, le=DAY, allow_inf_nan=False)]
Delay = Annotated[float, BeforeValidator(to_seconds), Field(ge=0, le=DAY, allow_inf_nan=False)]
"""A wait before acting (confirm, startup_grace): 0 means none."""
Spacing = Annotated[
    float, BeforeValidator(to_seconds), Field(ge=0, le=7 * DAY, allow_inf_nan=False)
]
"""Time between switches (cooldown): 0 means none."""
Period = Annotated[float, BeforeValidator(to_seconds), Field(gt=0, le=7 * DAY, allow_inf_nan=False)]
"""A policy period (brake window, failback wait)."""
Count = Annotated[int, Field(ge=1, le=100, strict=True)]
"""fall, rise, quorum: small whole numbers (`true` is not 1, nor `2.0` 2)."""
Rate = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
StatusCode = Annotated[int, Field(ge=100, le=599, strict=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Defaults(Strict):
    interval: Interval = 30.0
    timeout: Timeout = 5.0
    fall: Count = 3
    rise: Count = 2

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Defaults:
        if self.timeout >= self.interval:
            msg = f"timeout ({self.timeout:g}s) must be shorter than interval ({self.interval:g}s)"
            raise ValueError(msg)
        return self


class FailureRate(Strict):
    """Down when more than `max` of the observations in `window` failed (with `min_samples`)."""

    window: Window
    min_samples: int = Field(default=10, ge=1, le=10_000, strict=True)
    max: Rate


class SignalBase(Strict):
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    interval: Interval
    timeout: Timeout
    fall: Count
    rise: Count
    failure_rate: FailureRate | None = None
    down_classes: list[FailureClass] = Field(
        default_factory=lambda: [c for c in FAILURE_CLASSES if c in DEFAULT_DOWN_CLASSES]
    )
    """Failure classes that count toward `down`; failures of the others are inconclusive."""

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = (info.context or {}).get("defaults") or Defaults()
        filled = dict(data)
        for key in ("interval", "timeout", "fall", "rise"):
            filled.setdefault(key, getattr(defaults, key))
        return filled

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> SignalBase:
        if self.timeout >= self.interval:
            msg = f"timeout ({self.timeout:g}s) must be shorter than interval ({self.interval:g}s)"
            raise ValueError(msg)
        return self


_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}")


class HttpSignal(SignalBase):
    """Healthy when the status is in `expect`, latency under `max_latency`, body has text."""

    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    expect: list[StatusCode] = Field(default_factory=lambda: [200], min_length=1, max_length=50)
    max_latency: Timeout | None = None
    body_contains: str | None = None

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if _HEADER_NAME.fullmatch(name) is None:
                msg = f"header name {name[:60]!r} must be letters, digits and -_ (no spaces)"
                raise ValueError(msg)
            if "\n" in text or "\r" in text:
                msg = f"the value of header {name!r} must be one line"
                raise ValueError(msg)
        return value


StatuspageStatus = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
STATUSPAGE_STATUSES: tuple[StatuspageStatus, ...] = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)


def _default_unhealthy() -> list[StatuspageStatus]:
    return ["partial_outage", "major_outage"]


class StatuspageSignal(SignalBase):
    """An Atlassian Statuspage; `url` is the page root or its `/api/v2/summary.json`."""

    url: str = Field(pattern=r"^https?://")
    components: list[str] = Field(min_length=1)
    unhealthy: list[StatuspageStatus] = Field(default_factory=_default_unhealthy, min_length=1)


class NovuDeliverySignal(SignalBase):
    """The candidate's real failure rate among Novu's recent messages of its provider."""

    window: Window = 300.0
    min_messages: int = Field(default=20, ge=1, le=10_000, strict=True)
    max_failure_rate: Rate = 0.2
    provider_id: str | None = None
    """Novu's providerId to count (e.g. `sendgrid`); defaults to the integration's own."""


class PrometheusSignal(SignalBase):
    url: str = Field(pattern=r"^https?://")
    query: str = Field(min_length=1)
    threshold: float = Field(allow_inf_nan=False)
    unhealthy_when: Literal["above", "below"] = "above"
    on_empty: Literal["up", "down", "unknown"] = "unknown"


_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


def parse_matcher(text: str) -> tuple[str, str, str]:
    """`name="value"` in Alertmanager syntax -> (name, op, value); ValueError otherwise."""
    match = _MATCHER.match(text)
    if match is None:
        msg = f'{text!r} is not a matcher; write it like novu_integration="sendgrid-main"'
        raise ValueError(msg)
    name, op, value = match.groups()
    value = value.encode().decode("unicode_escape") if "\\" in value else value
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            msg = f"{text!r}: bad regular expression: {exc}"
            raise ValueError(msg) from exc
    return name, op, value


DatasourceAlerts = Literal["unknown", "down", "ignore"]
"""What a Grafana `DatasourceNoData` / `DatasourceError` alert means for an alert signal."""


class AlertSignal(SignalBase):
    """Passive: Alertmanager/Grafana alerts whose labels match all `matchers` mean down."""

    matchers: list[str] = Field(min_length=1)
    datasource_alerts: DatasourceAlerts = "unknown"
    """Grafana's NoData/Error alerts say the query could not be judged, not that the
    provider is down: by default they make the signal `unknown`."""

    @field_validator("matchers")
    @classmethod
    def _valid_matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_matcher(text)
        return value


CANARY_DEFAULTS = {"interval": 900.0, "fall": 1, "rise": 1}
"""Each canary is a real message: a conservative interval, and one result is conclusive."""


class CanarySignal(SignalBase):
    """A real message through the candidate's integration, to a sink the user owns, judged by
    its status in Novu (read by `transactionId`)."""

    workflow: str = Field(min_length=1, description="the workflow's trigger identifier")
    subscriber_id: str = Field(min_length=1)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ()-]{3,}$")
    deadline: Window = 120.0
    """How long to wait for the message to reach `sent` or `error` in Novu."""
    poll: Timeout = 2.0
    """How often to read the message while waiting."""
    daily_budget: int = Field(default=100, ge=1)
    """At most this many canaries in any 24h (each is a real message)."""

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for key, value in CANARY_DEFAULTS.items():
            filled.setdefault(key, value)
        defaults = (info.context or {}).get("defaults") or Defaults()
        filled.setdefault("timeout", defaults.timeout)
        return filled

    @model_validator(mode="after")
    def _deadline_below_interval(self) -> CanarySignal:
        if self.email is None and self.phone is None:
            msg = "a canary needs the sink's email (email channels) or phone (sms channels)"
            raise ValueError(msg)
        if self.deadline >= self.interval:
            msg = (
                f"deadline ({self.deadline:g}s) must be shorter than interval "
                f"({self.interval:g}s)"
            )
            raise ValueError(msg)
        return self


SignalSpec = (
    HttpSignal
    | StatuspageSignal
    | NovuDeliverySignal
    | PrometheusSignal
    | AlertSignal
    | CanarySignal
)
SIGNAL_KINDS = ("http", "statuspage", "novu_delivery", "prometheus", "alert", "canary")


class SignalEntry(Strict):
    """One item of `signals:`: a mapping with exactly one key naming the kind."""

    http: HttpSignal | None = None
    statuspage: StatuspageSignal | None = None
    novu_delivery: NovuDeliverySignal | None = None
    prometheus: PrometheusSignal | None = None
    alert: AlertSignal | None = None
    canary: CanarySignal | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SignalEntry:
        given = [kind for kind in SIGNAL_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            kinds = ", ".join(SIGNAL_KINDS)
            msg = f"a signal has exactly one of: {kinds} (got {len(given)})"
            raise ValueError(msg)
        return self

    @cached_property
    def kind(self) -> str:
        """The signal's kind; the model is frozen, so it is found once and remembered."""
        return next(kind for kind in SIGNAL_KINDS if getattr(self, kind) is not None)

    @cached_property
    def spec(self) -> SignalSpec:
        spec: SignalSpec = getattr(self, self.kind)
        return spec


class Candidate(Strict):
    integration: str = Field(min_length=1, description="the Novu integration's identifier")
    signals: list[SignalEntry] = Field(min_length=1)

    def signal_ids(self) -> tuple[str, ...]:
        """Stable ids for this candidate's signals: the name, else `kind` or `kind#n`."""
        return self._signal_ids

    def signal_refs(self) -> tuple[tuple[str, str], ...]:
        """`(integration, signal id)` of each signal, in order: how a channel keys them."""
        return self._signal_refs

    @cached_property
    def _signal_refs(self) -> tuple[tuple[str, str], ...]:
        return tuple((self.integration, signal_id) for signal_id in self._signal_ids)

    @cached_property
    def _signal_ids(self) -> tuple[str, ...]:
        # The model is frozen, so the ids are worked out once rather than on every
        # evaluation (recomputing them was quadratic and a third of an evaluation's time).
        unnamed = Counter(e.kind for e in self.signals if not e.spec.name)
        return tuple(
            entry.spec.name or (entry.kind if unnamed[entry.kind] == 1 else f"{entry.kind}#{index}")
            for index, entry in enumerate(self.signals)
        )


class Quorum(Strict):
    quorum: Count


class Brake(Strict):
    max: int = Field(default=3, ge=1, le=1000, strict=True)
    """Up to 1000: a test bench (or a very busy channel) may want the brake out of reach."""
    per: Period = 3600.0


class Failback(Strict):
    after: Period


class Policy(Strict):
    down_when: Literal["any", "all"] | Quorum = "any"
    confirm: Delay = 0.0
    cooldown: Spacing = 600.0
    brake: Brake = Field(default_factory=Brake)
    failback: Literal["off"] | Failback = "off"
    startup_grace: Delay = 0.0
    dry_run: bool = False
    allow_erase_conditions: bool = False
    """set-primary erases the target's conditions; refuse such a target unless this is true."""


class Environment(Strict):
    api_url: str = Field(pattern=r"^https?://")
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    api_key_file: Path | None = None
    environment_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$")
    """Needed only for older Novu servers that list every environment's integrations."""

    @model_validator(mode="after")
    def _one_key_source(self) -> Environment:
        if (self.api_key_env is None) == (self.api_key_file is None):
            msg = "give exactly one of api_key_env or api_key_file"
            raise ValueError(msg)
        return self


class ChannelRule(Strict):
    environment: str
    channel: ChannelName
    candidates: list[Candidate] = Field(min_length=1)
    policy: Policy = Field(default_factory=Policy)

    @cached_property
    def key(self) -> ChannelKey:
        return channel_key(self.environment, self.channel)

    def candidate(self, integration: str) -> Candidate | None:
        return self._by_integration.get(integration)

    @cached_property
    def signal_refs(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """`(integration, its signals' refs)` for each candidate, in order: what a channel's
        health is judged from, found once (the model is frozen) in one compact tuple, since
        it is walked on every evaluation of the channel."""
        return tuple((c.integration, c.signal_refs()) for c in self.candidates)

    @cached_property
    def _by_integration(self) -> dict[str, Candidate]:
        # Found once (the model is frozen): the policy asks on every decision.
        by_integration: dict[str, Candidate] = {}
        for candidate in self.candidates:
            by_integration.setdefault(candidate.integration, candidate)  # the first one wins
        return by_integration


class FailurePattern(Strict):
    """A user pattern for failure classes, tried before the built-in ones: a regular
    expression (case-insensitive) over a failed message's `errorId` and `errorText`."""

    failure_class: FailureClass = Field(alias="class")
    match: str = Field(min_length=1)
    providers: list[str] = Field(default_factory=list)
    """Novu providerIds it applies to (e.g. `sendgrid`); empty: every provider."""

    @field_validator("match")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            msg = f"{value!r} is not a regular expression: {exc}"
            raise ValueError(msg) from exc
        return value


class AlertmanagerServer(Strict):
    """One Alertmanager whose API (`GET /api/v2/alerts`) the daemon reads."""

    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with each request; values may hold `${ENV}` placeholders (e.g. a bearer token)."""


class Alertmanagers(Strict):
    """The Alertmanagers (one, or each member of an HA pair) that are the alert signals'
    source of truth, read at start-up and every `interval`."""

    servers: list[AlertmanagerServer] = Field(min_length=1)
    interval: Interval = 30.0
    timeout: Timeout = 5.0

    @field_validator("servers")
    @classmethod
    def _each_once(cls, servers: list[AlertmanagerServer]) -> list[AlertmanagerServer]:
        urls = [server.url.rstrip("/") for server in servers]
        twice = sorted({url for url in urls if urls.count(url) > 1})
        if twice:
            msg = f"each Alertmanager is listed once; listed twice: {', '.join(twice)}"
            raise ValueError(msg)
        return servers

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Alertmanagers:
        if self.timeout >= self.interval:
            msg = f"timeout ({self.timeout:g}s) must be less than the interval ({self.interval:g}s)"
            raise ValueError(msg)
        return self


class Rules(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    environments: dict[str, Environment] = Field(min_length=1)
    channels: list[ChannelRule] = Field(min_length=1)
    failure_classes: list[FailurePattern] = Field(default_factory=list)
    """User patterns for failure classes (docs/signals.md)."""
    alertmanagers: Alertmanagers | None = None

    def channel(self, key: ChannelKey) -> ChannelRule | None:
        return next((c for c in self.channels if c.key == key), None)
