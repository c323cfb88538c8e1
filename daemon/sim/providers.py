"""Simulated email/SMS providers: a Statuspage and an API health endpoint each.

For every provider (sendgrid, ses, mailgun, twilio, vonage by default):
- `GET /{provider}/api/v2/summary.json`: an Atlassian Statuspage summary (page, components,
  incidents, scheduled_maintenances, status{indicator, description});
- `GET /{provider}/api/health`: 200 `{"status": "ok"}`, or 503 while the API is down,
  after the configured latency.
Control: `GET /_providers`, `POST /_providers/{provider}` with any of
`{"status": "major_outage" | ... | null, "components": [...], "api_down": bool,
"latency": 0.2, "statuspage_down": bool}`.

Outages can drive the Novu simulator (messages to that provider fail) through
`on_change`; `daemon.sim.connect` wires the two without either importing the other.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from daemon.clock import Clock, SystemClock
from daemon.sim.dto import iso

OPERATIONAL = "operational"
COMPONENT_STATUSES = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)
_SEVERITY = {
    # status -> (rank, page indicator, page description, incident impact)
    "operational": (0, "none", "All Systems Operational", "none"),
    "under_maintenance": (1, "maintenance", "Service Under Maintenance", "maintenance"),
    "degraded_performance": (2, "minor", "Minor Service Outage", "minor"),
    "partial_outage": (3, "major", "Partial System Outage", "major"),
    "major_outage": (4, "critical", "Major System Outage", "critical"),
}
_UNKNOWN_SEVERITY = (2, "minor", "Minor Service Outage", "minor")
DELIVERY_FAILURE = {"partial_outage": 0.5, "major_outage": 1.0}
"""Share of messages that fail while a provider's status page shows this status."""
MAX_CONTROL_BODY = 16_000

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One simulated provider: its URL name, status page and Novu `providerId`."""

    name: str
    page_name: str
    components: tuple[str, ...]
    novu_provider_id: str


DEFAULT_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("sendgrid", "SendGrid", ("Mail Sending", "API", "Event Webhook"), "sendgrid"),
    ProviderSpec("ses", "Amazon SES", ("Mail Sending", "API"), "ses"),
    ProviderSpec("mailgun", "Mailgun", ("Outbound Delivery", "API", "Webhooks"), "mailgun"),
    ProviderSpec("twilio", "Twilio", ("SMS", "REST API"), "twilio"),
    ProviderSpec("vonage", "Vonage", ("SMS API", "Dashboard"), "nexmo"),
)


@dataclass(frozen=True, slots=True)
class ProviderChange:
    """What a change means for delivery: the Novu provider and its failure share (0 = fine)."""

    provider: str
    novu_provider_id: str
    failure_rate: float


def _statuspage_id(*parts: str) -> str:
    """A stable 12-character id, like Statuspage's."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    number = int(digest, 16)
    chars = []
    for _ in range(12):
        number, rest = divmod(number, 36)
        chars.append(alphabet[rest])
    return "".join(chars)


@dataclass
class ProviderState:
    spec: ProviderSpec
    components: dict[str, str]
    api_down: bool = False
    latency: float = 0.0
    statuspage_down: bool = False
    changed_at: dict[str, float] = field(default_factory=dict)
    incident_since: float | None = None

    @property
    def worst(self) -> str:
        return max(self.components.values(), key=lambda s: _SEVERITY.get(s, _UNKNOWN_SEVERITY)[0])

    @property
    def failure_rate(self) -> float:
        if self.api_down:
            return 1.0
        return max((DELIVERY_FAILURE.get(s, 0.0) for s in self.components.values()), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.spec.name,
            "page": self.spec.page_name,
            "novuProviderId": self.spec.novu_provider_id,
            "components": dict(self.components),
            "api_down": self.api_down,
            "latency": self.latency,
            "statuspage_down": self.statuspage_down,
            "failure_rate": self.failure_rate,
        }


class UnknownProviderError(KeyError):
    """No simulated provider by that name."""


class ProviderFarm:
    """The simulated providers' state, switchable at run time."""

    def __init__(
        self,
        providers: Iterable[ProviderSpec] = DEFAULT_PROVIDERS,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.specs = tuple(providers)
        self.clock: Clock = clock or SystemClock()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._listeners: list[Callable[[ProviderChange], None]] = []
        self._started = self.clock.now()
        self.reset()

    def reset(self) -> None:
        """Every provider operational, fast and up (listeners are told)."""
        self._states = {
            spec.name: ProviderState(spec, dict.fromkeys(spec.components, OPERATIONAL))
            for spec in self.specs
        }
        for name in self._states:
            self._notify(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._states)

    def state(self, provider: str) -> ProviderState:
        try:
            return self._states[provider]
        except KeyError:
            msg = f"no simulated provider {provider!r} (known: {', '.join(self._states)})"
            raise UnknownProviderError(msg) from None

    def on_change(self, listener: Callable[[ProviderChange], None]) -> None:
        """Call `listener` after every change (used to make Novu's messages fail)."""
        self._listeners.append(listener)
        for name in self._states:
            listener(self._change(name))

    def changes(self) -> list[ProviderChange]:
        """Every provider's current meaning for delivery."""
        return [self._change(name) for name in self._states]

    def _change(self, provider: str) -> ProviderChange:
        state = self._states[provider]
        return ProviderChange(provider, state.spec.novu_provider_id, state.failure_rate)

    def _notify(self, provider: str) -> None:
        for listener in self._listeners:
            listener(self._change(provider))

    # --- switches ---

    def set_outage(
        self, provider: str, status: str | None, *, components: Sequence[str] | None = None
    ) -> None:
        """Put components (all by default) in `status`; None means operational again.

        Any lower-case status string is accepted and shown as is, so probes can be tested
        against values Statuspage does not define (they must read as *unknown*).
        """
        state = self.state(provider)
        value = status or OPERATIONAL
        if not value.replace("_", "").isalpha() or not value.islower():
            msg = f"component status must be lower_snake_case, got {value!r}"
            raise ValueError(msg)
        names = list(components) if components is not None else list(state.components)
        unknown = [c for c in names if c not in state.components]
        if unknown:
            msg = f"{provider} has no component(s) {', '.join(unknown)}"
            raise ValueError(msg)
        now = self.clock.now()
        for name in names:
            if state.components[name] != value:
                state.components[name] = value
                state.changed_at[name] = now
        if state.worst == OPERATIONAL:
            state.incident_since = None
        elif state.incident_since is None:
            state.incident_since = now
        self._notify(provider)

    def set_api_down(self, provider: str, down: bool) -> None:
        self.state(provider).api_down = down
        self._notify(provider)

    def set_latency(self, provider: str, seconds: float) -> None:
        if seconds < 0:
            msg = f"latency must not be negative, got {seconds}"
            raise ValueError(msg)
        self.state(provider).latency = seconds

    def set_statuspage_down(self, provider: str, down: bool) -> None:
        """The status page itself answers 503 (a probe must read that as unknown)."""
        self.state(provider).statuspage_down = down

    def set_down(self, provider: str, *, down: bool) -> None:
        """The whole story at once: major outage on the page and the API answering 503."""
        self.set_outage(provider, "major_outage" if down else None)
        self.set_api_down(provider, down)

    # --- what the endpoints show ---

    def summary(self, provider: str) -> dict[str, Any]:
        """The Statuspage `/api/v2/summary.json` document for a provider."""
        state = self.state(provider)
        spec = state.spec
        page_id = _statuspage_id(spec.name)
        started = iso(self._started)
        now = self.clock.now()
        components = [
            {
                "id": _statuspage_id(spec.name, name),
                "name": name,
                "status": status,
                "created_at": started,
                "updated_at": iso(state.changed_at.get(name, self._started)),
                "position": position,
                "description": None,
                "showcase": True,
                "start_date": None,
                "group_id": None,
                "page_id": page_id,
                "group": False,
                "only_show_if_degraded": False,
            }
            for position, (name, status) in enumerate(state.components.items(), start=1)
        ]
        _, indicator, description, impact = _SEVERITY.get(state.worst, _UNKNOWN_SEVERITY)
        affected = [c for c in components if c["status"] != OPERATIONAL]
        incidents = []
        maintenances = []
        if affected and state.incident_since is not None:
            event = _incident(spec, page_id, affected, impact=impact, since=state.incident_since)
            if state.worst == "under_maintenance":
                maintenances.append(event | {"status": "in_progress"})
            else:
                incidents.append(event)
        return {
            "page": {
                "id": page_id,
                "name": spec.page_name,
                "url": f"https://status.{spec.name}.example.test",
                "time_zone": "Etc/UTC",
                "updated_at": iso(now),
            },
            "components": components,
            "incidents": incidents,
            "scheduled_maintenances": maintenances,
            "status": {"indicator": indicator, "description": description},
        }

    def describe(self) -> dict[str, Any]:
        return {"providers": [s.to_json() for s in self._states.values()]}

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)


def _incident(
    spec: ProviderSpec,
    page_id: str,
    affected: list[dict[str, Any]],
    *,
    impact: str,
    since: float,
) -> dict[str, Any]:
    incident_id = _statuspage_id(spec.name, "incident", str(since))
    names = ", ".join(c["name"] for c in affected)
    return {
        "id": incident_id,
        "name": f"{spec.page_name}: degraded {names} (simulated)",
        "status": "investigating",
        "created_at": iso(since),
        "updated_at": iso(since),
        "monitoring_at": None,
        "resolved_at": None,
        "impact": impact,
        "shortlink": f"https://stspg.example.test/{incident_id}",
        "started_at": iso(since),
        "page_id": page_id,
        "incident_updates": [
            {
                "id": _statuspage_id(incident_id, "update"),
                "status": "investigating",
                "body": f"We are investigating problems with {names}.",
                "incident_id": incident_id,
                "created_at": iso(since),
                "updated_at": iso(since),
                "display_at": iso(since),
                "affected_components": [
                    {
                        "code": c["id"],
                        "name": c["name"],
                        "old_status": OPERATIONAL,
                        "new_status": c["status"],
                    }
                    for c in affected
                ],
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
        ],
        "components": affected,
    }


def apply_control(farm: ProviderFarm, provider: str, data: Any) -> None:
    """Apply a `POST /_providers/{provider}` body; every field optional, all checked first."""
    if not isinstance(data, dict):
        msg = "body must be a JSON object"
        raise TypeError(msg)
    known = {"status", "components", "api_down", "latency", "statuspage_down"}
    unknown = sorted(set(data) - known)
    problems = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    status = data.get("status")
    if status is not None and not isinstance(status, str):
        problems.append("status must be a string or null")
    components = data.get("components")
    if components is not None and not (
        isinstance(components, list) and all(isinstance(c, str) for c in components)
    ):
        problems.append("components must be a list of names")
    for flag in ("api_down", "statuspage_down"):
        if flag in data and not isinstance(data[flag], bool):
            problems.append(f"{flag} must be true or false")
    latency = data.get("latency")
    if latency is not None and (not isinstance(latency, int | float) or latency < 0):
        problems.append("latency must be a non-negative number of seconds")
    if problems:
        raise ValueError("; ".join(problems))
    farm.state(provider)  # unknown provider: fail before changing anything
    if "status" in data:
        farm.set_outage(provider, status, components=components)
    if "api_down" in data:
        farm.set_api_down(provider, data["api_down"])
    if "statuspage_down" in data:
        farm.set_statuspage_down(provider, data["statuspage_down"])
    if latency is not None:
        farm.set_latency(provider, float(latency))


def provider_control_routes(farm: ProviderFarm) -> list[BaseRoute]:
    """`GET /_providers` and `POST /_providers/{provider}` (mountable anywhere)."""

    async def list_providers(request: Request) -> Response:
        del request
        return JSONResponse(farm.describe())

    async def control(request: Request) -> Response:
        provider = request.path_params["provider"]
        raw = await request.body()
        if len(raw) > MAX_CONTROL_BODY:
            return JSONResponse({"error": f"body over {MAX_CONTROL_BODY} bytes"}, status_code=413)
        try:
            apply_control(farm, provider, json.loads(raw) if raw.strip() else {})
        except UnknownProviderError as exc:
            return JSONResponse({"error": str(exc.args[0])}, status_code=404)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(farm.state(provider).to_json())

    return [
        Route("/_providers", list_providers, methods=["GET"]),
        Route("/_providers/{provider}", control, methods=["POST"]),
    ]


def create_providers_app(farm: ProviderFarm) -> Starlette:
    """The providers' status pages and health endpoints, plus `/_providers` control."""

    async def summary(request: Request) -> Response:
        provider = request.path_params["provider"]
        try:
            state = farm.state(provider)
        except UnknownProviderError as exc:
            return JSONResponse({"error": str(exc.args[0])}, status_code=404)
        if state.statuspage_down:
            return JSONResponse({"error": "status page unavailable"}, status_code=503)
        return JSONResponse(farm.summary(provider))

    async def health(request: Request) -> Response:
        provider = request.path_params["provider"]
        try:
            state = farm.state(provider)
        except UnknownProviderError as exc:
            return JSONResponse({"error": str(exc.args[0])}, status_code=404)
        await farm.sleep(state.latency)
        if state.api_down:
            return JSONResponse({"status": "unavailable", "provider": provider}, status_code=503)
        return JSONResponse({"status": "ok", "provider": provider})

    routes = [
        *provider_control_routes(farm),
        Route("/{provider}/api/v2/summary.json", summary, methods=["GET"]),
        Route("/{provider}/api/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes)
