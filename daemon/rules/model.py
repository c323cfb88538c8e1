"""The rules.yaml schema. Pydantic models, frozen; unknown keys are errors.

Per-signal timing (interval, timeout, fall, rise) falls back to `defaults`: the loader passes
the validated defaults in the validation context, so every Signal carries concrete values.
"""

from __future__ import annotations

import re
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
    return value


Duration = Annotated[float, BeforeValidator(to_seconds), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(to_seconds), Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Defaults(Strict):
    interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0
    fall: int = Field(default=3, ge=1)
    rise: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Defaults:
        if self.timeout >= self.interval:
            msg = f"timeout ({self.timeout:g}s) must be shorter than interval ({self.interval:g}s)"
            raise ValueError(msg)
        return self


class FailureRate(Strict):
    """Down when more than `max` of the observations in `window` failed (with `min_samples`)."""

    window: PositiveDuration
    min_samples: int = Field(default=10, ge=1)
    max: float = Field(gt=0, le=1)


class SignalBase(Strict):
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    interval: PositiveDuration
    timeout: PositiveDuration
    fall: int = Field(ge=1)
    rise: int = Field(ge=1)
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


class HttpSignal(SignalBase):
    """Healthy when the status is in `expect`, latency under `max_latency`, body has text."""

    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    expect: list[int] = Field(default_factory=lambda: [200], min_length=1)
    max_latency: PositiveDuration | None = None
    body_contains: str | None = None


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

    window: PositiveDuration = 300.0
    min_messages: int = Field(default=20, ge=1)
    max_failure_rate: float = Field(default=0.2, gt=0, le=1)
    provider_id: str | None = None
    """Novu's providerId to count (e.g. `sendgrid`); defaults to the integration's own."""


class PrometheusSignal(SignalBase):
    url: str = Field(pattern=r"^https?://")
    query: str = Field(min_length=1)
    threshold: float
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
    deadline: PositiveDuration = 120.0
    """How long to wait for the message to reach `sent` or `error` in Novu."""
    poll: PositiveDuration = 2.0
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

    @property
    def kind(self) -> str:
        return next(kind for kind in SIGNAL_KINDS if getattr(self, kind) is not None)

    @property
    def spec(self) -> SignalSpec:
        spec: SignalSpec = getattr(self, self.kind)
        return spec


class Candidate(Strict):
    integration: str = Field(min_length=1, description="the Novu integration's identifier")
    signals: list[SignalEntry] = Field(min_length=1)

    def signal_ids(self) -> list[str]:
        """Stable ids for this candidate's signals: the name, else `kind` or `kind#n`."""
        ids: list[str] = []
        for index, entry in enumerate(self.signals):
            if entry.spec.name:
                ids.append(entry.spec.name)
                continue
            same_kind = [e for e in self.signals if e.kind == entry.kind and not e.spec.name]
            ids.append(entry.kind if len(same_kind) == 1 else f"{entry.kind}#{index}")
        return ids


class Quorum(Strict):
    quorum: int = Field(ge=1)


class Brake(Strict):
    max: int = Field(default=3, ge=1)
    per: PositiveDuration = 3600.0


class Failback(Strict):
    after: PositiveDuration


class Policy(Strict):
    down_when: Literal["any", "all"] | Quorum = "any"
    confirm: Duration = 0.0
    cooldown: Duration = 600.0
    brake: Brake = Field(default_factory=Brake)
    failback: Literal["off"] | Failback = "off"
    startup_grace: Duration = 0.0
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

    @property
    def key(self) -> ChannelKey:
        return channel_key(self.environment, self.channel)

    def candidate(self, integration: str) -> Candidate | None:
        return next((c for c in self.candidates if c.integration == integration), None)


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
    interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0

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
