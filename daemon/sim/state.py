"""The Novu simulator's state and rules: what Novu's integration and message calls do.

Pure Python, no HTTP: `daemon.sim.novu` serves it. Each Novu operation either returns the
bare body (the app adds the `{"data": ...}` envelope) or raises `SimError`, which the app
turns into Novu's ErrorDto. Everything here runs on one event loop; the only awaits are
the injected `sleep` (latency faults) and `hang` (timeout faults).
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from daemon.clock import Clock, SystemClock
from daemon.sim.dto import CHANNELS, MONGO_ID, PRIMARY_CHANNELS, condition_problems, iso
from daemon.sim.faults import FaultPlan
from daemon.sim.limits import IdempotencyStore, RateLimiter
from daemon.sim.messages import MessageLog
from daemon.sim.records import CallRecord, SimEnvironment, SimError, SimIntegration
from daemon.sim.seed import Seed, default_seed, generated_credentials, load_seed, parse_seed
from daemon.sim.trigger import TriggerBook
from daemon.sim.trigger import trigger as run_trigger

Sleep = Callable[[float], Awaitable[None]]
__all__ = ["CallRecord", "NovuSimulator", "SimEnvironment", "SimError", "SimIntegration"]


class NovuSimulator:
    """A stateful, Novu-compatible world: environments, integrations, messages, faults."""

    def __init__(
        self,
        seed: Seed | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        envelope: bool = True,
        idempotency: bool = True,
        old_server: bool = False,
        blank_credentials: bool = False,
        rate_limit: float | None = 30.0,
        burst: int | None = None,
        random_seed: int = 0,
        max_messages: int = 10_000,
    ) -> None:
        self.seed = seed or default_seed()
        self.clock: Clock = clock or SystemClock()
        self._sleep: Sleep = sleep or asyncio.sleep
        self.envelope = envelope
        """Wrap success bodies in `{"data": ...}` like the live API (False: bare bodies)."""
        self.idempotency = idempotency
        """Honour `idempotency-key` on POST (as Novu cloud does; self-hosted is off)."""
        self.old_server = old_server
        """List every environment's integrations; 404 (not 403) for another environment's."""
        self.blank_credentials = blank_credentials
        """Send `credentials: {}` like newer servers (False: decrypted, like older ones)."""
        self.limiter = RateLimiter(limit=rate_limit, burst=burst)
        self._initial = (envelope, idempotency, old_server, blank_credentials, rate_limit, burst)
        self.faults = FaultPlan(random_seed=random_seed)
        self.idempotency_store = IdempotencyStore()
        self.calls: deque[CallRecord] = deque(maxlen=1000)
        self._random_seed = random_seed
        self._max_messages = max_messages
        self._release: asyncio.Event | None = None
        self.hanging = 0
        self._hangs: asyncio.Condition | None = None
        """Requests held by a timeout fault right now."""
        self.after_reset: list[Callable[[], None]] = []
        """Called after `reset()` (the provider wiring re-applies outages through it)."""
        self._load(self.seed)

    # --- construction ---

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> NovuSimulator:
        return cls(load_seed(path), **options)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **options: Any) -> NovuSimulator:
        return cls(parse_seed(data), **options)

    def _load(self, seed: Seed) -> None:
        now = iso(self.clock.now())
        self.environments: tuple[SimEnvironment, ...] = tuple(
            SimEnvironment(e.name, e.id, e.api_key, e.organization_id or seed.organization_id)
            for e in seed.environments
        )
        self._integrations: list[SimIntegration] = []
        for env_seed, env in zip(seed.environments, self.environments, strict=True):
            for s in env_seed.integrations:
                credentials = (
                    s.credentials if s.credentials is not None else generated_credentials(s)
                )
                self._integrations.append(
                    SimIntegration(
                        id=s.id.lower(),
                        environment_id=env.id,
                        organization_id=env.organization_id,
                        identifier=s.identifier,
                        name=s.name or s.identifier,
                        provider_id=s.provider_id,
                        channel=s.channel,
                        active=s.active,
                        primary=s.primary,
                        priority=s.priority if s.priority is not None else -1,
                        conditions=[dict(c) for c in s.conditions],
                        credentials=copy.deepcopy(credentials),
                        created_at=now,
                        updated_at=now,
                    )
                )
            for channel in CHANNELS:
                self._renumber(env.id, channel, seeded=True)
        self._messages = MessageLog(random_seed=self._random_seed, max_messages=self._max_messages)
        self.triggers = TriggerBook()
        """Workflows, per-integration outcomes and the message delay of triggers (canaries)."""

    def reset(self) -> None:
        """As just built: the seed's integrations, the first options, no messages, faults,
        idempotency keys, calls or failing providers (connected providers re-apply theirs)."""
        self._load(self.seed)
        envelope, idempotency, old_server, blank_credentials, limit, burst = self._initial
        self.envelope, self.idempotency = envelope, idempotency
        self.old_server, self.blank_credentials = old_server, blank_credentials
        self.faults.clear()
        self.idempotency_store.clear()
        self.limiter.configure(limit=limit, burst=burst)
        self.calls.clear()
        self.release_hangs()
        for hook in self.after_reset:
            hook()

    # --- environments and lookups ---

    def environment(self, name_or_id: str) -> SimEnvironment:
        for env in self.environments:
            if name_or_id in (env.name, env.id):
                return env
        msg = f"no simulated environment named {name_or_id!r}"
        raise KeyError(msg)

    def api_key(self, environment: str = "production") -> str:
        """The (fake) API key of an environment, to hand to the daemon under test."""
        return self.environment(environment).api_key

    def authenticate(self, authorization: str | None) -> SimEnvironment | None:
        """The environment an `Authorization: ApiKey <key>` header belongs to, if any."""
        if not authorization:
            return None
        scheme, _, key = authorization.strip().partition(" ")
        if scheme != "ApiKey" or not key.strip():
            return None
        return next((e for e in self.environments if e.api_key == key.strip()), None)

    def integrations(self, environment: str | None = None) -> list[SimIntegration]:
        if environment is None:
            return list(self._integrations)
        env = self.environment(environment)
        return [i for i in self._integrations if i.environment_id == env.id]

    def integration(self, identifier: str, environment: str = "production") -> SimIntegration:
        found = next(
            (i for i in self.integrations(environment) if i.identifier == identifier), None
        )
        if found is None:
            msg = f"no integration {identifier!r} in simulated environment {environment!r}"
            raise KeyError(msg)
        return found

    def primary(self, environment: str, channel: str) -> SimIntegration | None:
        """The integration flagged primary in a channel (active or not)."""
        env = self.environment(environment)
        return next(
            (
                i
                for i in self._integrations
                if i.environment_id == env.id and i.channel == channel and i.primary
            ),
            None,
        )

    def _find(self, env: SimEnvironment, integration_id: str) -> SimIntegration:
        if not MONGO_ID.match(integration_id):
            raise SimError(400, ["integrationId must be a mongodb id"])
        found = next((i for i in self._integrations if i.id == integration_id.lower()), None)
        if found is None or found.organization_id != env.organization_id:
            raise SimError(404, f"Integration with id {integration_id} not found")
        if found.environment_id != env.id:
            if self.old_server:
                raise SimError(404, f"Integration with id {integration_id} not found")
            raise SimError(403, f"Integration {integration_id} belongs to another environment")
        return found

    def _dto(self, integration: SimIntegration) -> dict[str, Any]:
        return integration.to_dto(blank_credentials=self.blank_credentials)

    # --- Novu operations ---

    def list_integrations(self, env: SimEnvironment, *, active_only: bool) -> list[dict[str, Any]]:
        """GET /v1/integrations[/active]: this environment's, or the organization's (old)."""
        return [
            self._dto(i)
            for i in self._integrations
            if i.organization_id == env.organization_id
            and (self.old_server or i.environment_id == env.id)
            and (i.active or not active_only)
        ]

    def set_primary(self, env: SimEnvironment, integration_id: str) -> dict[str, Any]:
        """POST /v1/integrations/{id}/set-primary with all of Novu's side effects."""
        target = self._find(env, integration_id)
        if target.channel not in PRIMARY_CHANNELS:
            raise SimError(400, f"Channel {target.channel} does not support primary")
        if target.primary:
            return self._dto(target)  # unchanged, even when inactive
        now = iso(self.clock.now())
        for other in self._channel(target.environment_id, target.channel):
            if other.primary:
                other.primary = False  # demoted, stays active
                other.updated_at = now
        target.active = True
        target.primary = True
        target.conditions = []
        target.updated_at = now
        self._renumber(target.environment_id, target.channel, first=target)
        return self._dto(target)

    def update_integration(
        self, env: SimEnvironment, integration_id: str, body: Any
    ) -> dict[str, Any]:
        """PUT /v1/integrations/{id} (UpdateIntegrationRequestDto)."""
        target = self._find(env, integration_id)
        if not isinstance(body, dict):
            raise SimError(400, ["body must be an object"])
        self._check_update(env, target, body)
        if "name" in body:
            target.name = body["name"]
        if "identifier" in body:
            target.identifier = body["identifier"]
        if "credentials" in body:
            target.credentials = copy.deepcopy(body["credentials"])
        if "conditions" in body:
            target.conditions = copy.deepcopy(body["conditions"])
            if target.conditions:
                target.primary = False  # saving conditions removes the primary flag
        if "active" in body and body["active"] != target.active:
            self._change_active(target, active=body["active"])
        target.updated_at = iso(self.clock.now())
        self._renumber(target.environment_id, target.channel)
        return self._dto(target)

    def _check_update(
        self, env: SimEnvironment, target: SimIntegration, body: dict[str, Any]
    ) -> None:
        problems: list[str] = []
        for name in ("active", "check", "removeNovuBranding"):
            if name in body and not isinstance(body[name], bool):
                problems.append(f"{name} must be a boolean value")
        for name in ("name", "identifier", "_environmentId"):
            if name in body and not isinstance(body[name], str):
                problems.append(f"{name} must be a string")
        if "credentials" in body and not isinstance(body["credentials"], dict):
            problems.append("credentials must be an object")
        if "conditions" in body:
            problems.extend(condition_problems(body["conditions"]))
        if problems:
            raise SimError(400, problems)
        identifier = body.get("identifier")
        if identifier is not None and any(
            i.identifier == identifier and i is not target
            for i in self._integrations
            if i.environment_id == env.id
        ):
            raise SimError(409, f"Integration with identifier: {identifier} already exists")

    def _change_active(self, target: SimIntegration, *, active: bool) -> None:
        target.active = active
        if not active:
            # Novu clears the flag and the priority: the channel is left with no primary.
            target.primary = False
            target.priority = 0
            return
        others = [i for i in self._channel(target.environment_id, target.channel) if i.active]
        target.priority = max((i.priority for i in others if i is not target), default=0) + 1
        if target.channel in PRIMARY_CHANNELS and not any(i is not target for i in others):
            target.primary = True  # the only active integration of its channel

    def _channel(self, environment_id: str, channel: str) -> list[SimIntegration]:
        return [
            i
            for i in self._integrations
            if i.environment_id == environment_id and i.channel == channel
        ]

    def _renumber(
        self,
        environment_id: str,
        channel: str,
        *,
        first: SimIntegration | None = None,
        seeded: bool = False,
    ) -> None:
        """Active integrations get priorities N..1 (primary highest); inactive ones 0."""
        group = self._channel(environment_id, channel)
        active = [i for i in group if i.active and i is not first]
        if seeded:  # seed order, unless the seed gave priorities
            active.sort(key=lambda i: i.priority if i.priority >= 0 else 0, reverse=True)
        else:
            active.sort(key=lambda i: i.priority, reverse=True)
        active.sort(key=lambda i: i.primary, reverse=True)
        ordered = ([first] if first is not None else []) + active
        for rank, integration in enumerate(ordered):
            integration.priority = len(ordered) - rank
        for integration in group:
            if not integration.active:
                integration.priority = 0

    # --- messages ---

    def list_messages(
        self,
        env: SimEnvironment,
        *,
        channel: str | None,
        page: int,
        limit: int,
        transaction_ids: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """GET /v1/messages: newest first, paginated (already `{data, hasMore, ...}`);
        a trigger's message only once its job has run (`triggers.message_delay`)."""
        return self._messages.page(
            env.id,
            channel=channel,
            page=page,
            limit=limit,
            transaction_ids=transaction_ids,
            now=self.clock.now(),
        )

    def trigger(self, env: SimEnvironment, body: Any) -> dict[str, Any]:
        """POST /v1/events/trigger (`daemon.sim.trigger`)."""
        now = self.clock.now()
        return run_trigger(
            self.triggers,
            self._messages,
            env,
            self._integrations,
            body,
            now=now,
            transaction_id=f"sim-txn-{self.triggers.triggers + 1:06d}",
        )

    def set_provider_failing(
        self, provider_id: str, failing: bool, *, rate: float = 1.0, failure_class: str = "outage"
    ) -> None:
        """Messages routed to `provider_id` fail (all, or a `rate` share of them), with that
        provider's error text for `failure_class` (outage by default)."""
        self._messages.set_failing(provider_id, failing, rate=rate, failure_class=failure_class)

    def failing_providers(self) -> dict[str, float]:
        return self._messages.failing_providers()

    def send(
        self, channel: str, environment: str = "production", *, now: float | None = None
    ) -> dict[str, Any] | None:
        """Deliver one message the way Novu routes it: to the channel's active primary.

        Returns the stored message, or None when the channel has no active integration to
        send through (Novu then records no message either).
        """
        env = self.environment(environment)
        if channel not in CHANNELS:
            msg = f"unknown channel {channel!r} (Novu has {', '.join(CHANNELS)})"
            raise ValueError(msg)
        route = self._route(env.id, channel)
        if route is None:
            return None
        at = self.clock.now() if now is None else now
        return self._messages.deliver(env, channel, provider_id=route.provider_id, at=at)

    def record_message(self, environment_id: str, message: dict[str, Any]) -> None:
        """Store a message as is (tests use it for `warning` or odd shapes)."""
        self._messages.record(environment_id, message)

    def _route(self, environment_id: str, channel: str) -> SimIntegration | None:
        group = [i for i in self._channel(environment_id, channel) if i.active]
        if channel in PRIMARY_CHANNELS:
            return next((i for i in group if i.primary), None)
        return max(group, key=lambda i: i.priority, default=None)

    # --- call log ---

    def record_call(self, record: CallRecord) -> None:
        self.calls.append(record)

    def set_primary_targets(self) -> list[str]:
        """Identifiers the simulator made (or confirmed) primary, in order.

        Counts set-primary calls that reached Novu's logic and succeeded there (even if a
        fault then lost the answer); replays of an idempotency key and calls stopped before
        processing (auth, rate limit, a fault) are not counted.
        """
        return [
            c.identifier or c.integration_id
            for c in self.calls
            if c.kind == "set-primary" and c.executed and c.result == 200
        ]

    # --- time and hangs ---

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)

    async def hang(self, seconds: float) -> None:
        """Wait `seconds`, or until `release_hangs()` (stop, reset, clearing faults)."""
        if self._release is None:
            self._release = asyncio.Event()
        release = self._release
        self.hanging += 1
        condition = self._hang_condition()
        async with condition:
            condition.notify_all()
        try:
            await asyncio.wait_for(release.wait(), timeout=seconds)
        except TimeoutError:
            return
        finally:
            self.hanging -= 1

    def _hang_condition(self) -> asyncio.Condition:
        if self._hangs is None:
            self._hangs = asyncio.Condition()
        return self._hangs

    async def wait_hanging(self, count: int = 1) -> None:
        """Until at least `count` requests are held by a timeout fault (for tests)."""
        condition = self._hang_condition()
        async with condition:
            await condition.wait_for(lambda: self.hanging >= count)

    def release_hangs(self) -> None:
        if self._release is not None:
            self._release.set()
            self._release = None

    # --- introspection (for /_sim/state) ---

    def snapshot(self) -> dict[str, Any]:
        """Everything but keys and credentials."""
        return {
            "options": self.options(),
            "environments": [
                {
                    "name": env.name,
                    "id": env.id,
                    "organizationId": env.organization_id,
                    "integrations": [
                        i.to_dto(credentials=False)
                        for i in self._integrations
                        if i.environment_id == env.id
                    ],
                    "messages": self._messages.count(env.id),
                }
                for env in self.environments
            ],
            "faults": self.faults.describe(),
            "failingProviders": self.failing_providers(),
            "failingClasses": self._messages.failing_classes(),
            "triggers": self.triggers.describe(),
            "idempotencyKeys": len(self.idempotency_store),
            "calls": len(self.calls),
        }

    def options(self) -> dict[str, Any]:
        return {
            "envelope": self.envelope,
            "idempotency": self.idempotency,
            "old_server": self.old_server,
            "blank_credentials": self.blank_credentials,
            "rate_limit": self.limiter.limit if self.limiter.enabled else None,
            "burst": self.limiter.capacity if self.limiter.enabled else None,
        }
