"""An in-memory `ControlPlane` that behaves like the service's (daemon/service/daemon.py):
it keeps pauses, acks and switches, audits them, answers in the shapes of docs/api.md, and
refuses like the real one: 404 for an unknown channel; 409 for a target that is not a
candidate, is already the active primary, or is not up (unless forced).

Every call is recorded in `calls`, so tests can prove a refused request never reached it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from daemon.clock import FakeClock
from daemon.control import (
    JSON,
    SUMMARY,
    ControlError,
    StatusQuery,
    channel_state,
    state_counts,
    summarize,
)
from daemon.model import (
    AuditAction,
    AuditRecord,
    CandidateHealth,
    Decision,
    DecisionKind,
    Health,
    Integration,
    Pause,
    SignalHealth,
    Switch,
    channel_key,
    effective_pause,
)
from daemon.service.views import decision_json, event_json, pause_json

START = 1_700_000_000.0


def switch_json(switch: Switch) -> JSON:
    return {"at": switch.at, "from": switch.from_, "to": switch.to, "trigger": switch.trigger}


@dataclass
class FakeChannel:
    environment: str
    name: str
    candidates: list[CandidateHealth]
    integrations: dict[str, Integration]
    signal_kinds: dict[str, list[str]]
    policy: JSON
    decision: Decision | None = None
    pause: Pause | None = None
    switches: list[Switch] = field(default_factory=list)
    brake_count: int = 0
    blocked_until: float | None = None
    acked_at: float | None = None
    cooldown_until: float | None = None
    view_at: float | None = None
    novu_error: str | None = None
    not_ready: dict[str, list[str]] = field(default_factory=dict)
    """Readiness reasons per candidate (a candidate missing in Novu is never ready)."""

    @property
    def key(self) -> str:
        return channel_key(self.environment, self.name)

    @property
    def primary(self) -> Integration | None:
        return next((i for i in self.integrations.values() if i.primary), None)

    def health(self, integration: str) -> CandidateHealth | None:
        return next((c for c in self.candidates if c.integration == integration), None)


def _integration(
    identifier: str, *, channel: str, provider: str, active: bool, primary: bool
) -> Integration:
    return Integration(
        id=f"{sum(map(ord, identifier)):024x}",
        identifier=identifier,
        name=identifier,
        provider_id=provider,
        channel=channel,
        environment_id="6615943e7ace93b0540ae377",
        active=active,
        primary=primary,
    )


def _signal(
    name: str, state: Health, reason: str, since: float | None, *, passive: bool = False
) -> SignalHealth:
    return SignalHealth(signal=name, state=state, reason=reason, since=since, passive=passive)


def _policy(*, failback: JSON | str) -> JSON:
    return {
        "down_when": "any",
        "confirm": 0.0,
        "cooldown": 600.0,
        "brake": {"max": 3, "per": 3600.0},
        "failback": failback,
        "startup_grace": 0.0,
        "dry_run": False,
        "allow_erase_conditions": False,
    }


def sample_channels(now: float = START) -> list[FakeChannel]:
    """Two channels: email with a down primary held by cooldown, sms with a tripped brake
    and an inactive primary."""
    email = FakeChannel(
        environment="production",
        name="email",
        candidates=[
            CandidateHealth(
                integration="sendgrid-main",
                state=Health.DOWN,
                reason="statuspage: Mail Sending is major_outage",
                since=now - 120,
                signals=(
                    _signal("statuspage", Health.DOWN, "Mail Sending is major_outage", now - 120),
                    _signal("http", Health.UP, "200 in 85ms (2/2)", now - 3600),
                    _signal("alert", Health.UNKNOWN, "no alert firing", None, passive=True),
                ),
            ),
            CandidateHealth(
                integration="ses-backup",
                state=Health.UP,
                reason="novu_delivery: 2% failures in 5m (50 messages)",
                since=now - 3000,
                signals=(
                    _signal(
                        "novu_delivery",
                        Health.UP,
                        "2% failures in 5m (50 messages)",
                        now - 3000,
                    ),
                ),
            ),
            CandidateHealth(
                integration="mailgun-spare",
                state=Health.UNKNOWN,
                reason="no evidence yet",
                since=None,
                signals=(_signal("http", Health.UNKNOWN, "no evidence yet", None),),
            ),
        ],
        integrations={
            "sendgrid-main": _integration(
                "sendgrid-main", channel="email", provider="sendgrid", active=True, primary=True
            ),
            "ses-backup": _integration(
                "ses-backup", channel="email", provider="ses", active=True, primary=False
            ),
            "mailgun-spare": _integration(
                "mailgun-spare", channel="email", provider="mailgun", active=False, primary=False
            ),
        },
        signal_kinds={
            "sendgrid-main": ["statuspage", "http", "alert"],
            "ses-backup": ["novu_delivery"],
            "mailgun-spare": ["http"],
        },
        policy=_policy(failback={"after": 900.0}),
        decision=Decision(
            channel="production/email",
            kind=DecisionKind.WAIT,
            reason="primary sendgrid-main is down; cooldown holds the switch to ses-backup",
            at=now - 5,
            current="sendgrid-main",
            target="ses-backup",
            trigger="failover",
            evidence=("statuspage: Mail Sending is major_outage",),
        ),
        switches=[Switch(at=now - 360, from_="ses-backup", to="sendgrid-main", trigger="failback")],
        brake_count=1,
        cooldown_until=now + 240,
        view_at=now - 10,
        not_ready={"mailgun-spare": ["no canary delivered yet"]},
    )
    sms = FakeChannel(
        environment="production",
        name="sms",
        candidates=[
            CandidateHealth(
                integration="twilio-main",
                state=Health.UP,
                reason="statuspage: SMS is operational",
                since=now - 7200,
                signals=(_signal("statuspage", Health.UP, "SMS is operational", now - 7200),),
            ),
            CandidateHealth(
                integration="vonage-backup",
                state=Health.UP,
                reason="http: 200 in 40ms",
                since=now - 7200,
                signals=(_signal("http", Health.UP, "200 in 40ms", now - 7200),),
            ),
        ],
        integrations={
            "twilio-main": _integration(
                "twilio-main", channel="sms", provider="twilio", active=False, primary=True
            ),
        },
        signal_kinds={"twilio-main": ["statuspage"], "vonage-backup": ["http"]},
        policy=_policy(failback="off"),
        decision=Decision(
            channel="production/sms",
            kind=DecisionKind.BLOCKED,
            reason="brake: 3 switches in the last 1h; acknowledge to allow more",
            at=now - 30,
            current="twilio-main",
        ),
        brake_count=3,
        blocked_until=now + 1800,
        view_at=now - 70,
        novu_error="GET /v1/integrations -> 503 (attempt 3/3)",
    )
    return [email, sms]


class FakePlane:
    """The in-memory control plane. `fail_with` makes every call raise it (for 500 tests)."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock(START)
        self.channels = {c.key: c for c in sample_channels(self.clock.now())}
        self.global_pause: Pause | None = None
        self.audit: list[AuditRecord] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.alive_state: tuple[bool, str] = (True, "scheduler running; heartbeat 0.4s ago")
        self.ready_state: tuple[bool, JSON] = (True, {"rules": {"error": None}})
        self.fail_with: Exception | None = None

    # -- plumbing -----------------------------------------------------------------------------
    def _record(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        if self.fail_with is not None:
            raise self.fail_with

    def _channel(self, key: str) -> FakeChannel:
        channel = self.channels.get(key)
        if channel is None:
            known = ", ".join(sorted(self.channels))
            msg = f"no channel {key!r} in the rules (known: {known})"
            raise ControlError(404, msg)
        return channel

    def _audit(
        self, action: AuditAction, channel: str | None, *, by: str, reason: str, **more: Any
    ) -> AuditRecord:
        environment, _, name = (channel or "*/*").partition("/")
        record = AuditRecord(
            id=f"evt-{len(self.audit) + 1:04d}",
            at=self.clock.now(),
            environment=environment,
            channel=name,
            from_=more.pop("from_", None),
            to=more.pop("to", None),
            trigger="manual",
            reason=reason if action == "switch" else f"{action} by {by}: {reason}",
            result="ok",
            action=action,
            **more,
        )
        self.audit.append(record)
        return record

    @staticmethod
    def _readiness(channel: FakeChannel, identifier: str) -> JSON:
        reasons = list(channel.not_ready.get(identifier, []))
        if identifier not in channel.integrations:
            reasons.insert(0, f"{identifier} is not an integration of {channel.key} in Novu")
        return {"ready": not reasons, "reasons": reasons, "notes": []}

    def _channel_json(self, channel: FakeChannel) -> JSON:
        now = self.clock.now()
        primary = channel.primary
        candidates = []
        for health in channel.candidates:
            integration = channel.integrations.get(health.integration)
            kinds = channel.signal_kinds[health.integration]
            candidates.append(
                {
                    "integration": health.integration,
                    "state": health.state.value,
                    "reason": health.reason,
                    "since": health.since,
                    "present": integration is not None,
                    "active": integration.active if integration else None,
                    "primary": bool(integration and integration.primary),
                    "conditions": len(integration.conditions) if integration else 0,
                    "readiness": self._readiness(channel, health.integration),
                    "signals": [
                        {
                            "signal": s.signal,
                            "kind": kind,
                            "state": s.state.value,
                            "reason": s.reason,
                            "since": s.since,
                            "passive": s.passive,
                            "last_failure": None,
                            "last": None,
                        }
                        for s, kind in zip(health.signals, kinds, strict=True)
                    ],
                }
            )
        data: JSON = {
            "channel": channel.key,
            "environment": channel.environment,
            "name": channel.name,
            "primary": (
                {"integration": primary.identifier, "active": primary.active} if primary else None
            ),
            "managed": primary is None or channel.health(primary.identifier) is not None,
            "novu_error": channel.novu_error,
            "view_at": channel.view_at,
            "decision": decision_json(channel.decision),
            "pause": pause_json(effective_pause(self.global_pause, channel.pause, now)),
            "brake": {
                "count": channel.brake_count,
                "max": 3,
                "per": 3600.0,
                "blocked_until": channel.blocked_until,
                "acked_at": channel.acked_at,
            },
            "cooldown_until": channel.cooldown_until,
            "dry_run": False,
            "in_flight": False,
            "last_switch": switch_json(channel.switches[-1]) if channel.switches else None,
            "candidates": candidates,
        }
        data["state"] = channel_state(data, dry_run=False)
        return data

    # -- ControlPlane -------------------------------------------------------------------------
    def alive(self) -> tuple[bool, str]:
        self._record("alive")
        return self.alive_state

    def ready(self) -> tuple[bool, JSON]:
        self._record("ready")
        return self.ready_state

    async def status(self, query: StatusQuery = SUMMARY) -> JSON:
        return self.status_now(query)

    def status_now(self, query: StatusQuery = SUMMARY) -> JSON:
        """`status` without a loop: every channel in full, then filtered and summarized the
        documented way (`daemon.control.summarize`)."""
        self._record("status", query=query)
        now = self.clock.now()
        if query.channel is not None:
            self._channel(query.channel)
        if query.environment is not None and query.environment not in {
            c.environment for c in self.channels.values()
        }:
            raise ControlError(404, f"no environment {query.environment!r} in the rules")
        selected = [
            self._channel_json(c)
            for c in self.channels.values()
            if query.selects(c.key, c.environment)
        ]
        channels = [c for c in selected if not query.states or c["state"] in query.states]
        if query.detail == "summary":
            channels = [summarize(c) for c in channels]
        return {
            "detail": query.detail,
            "states": state_counts(channels),
            "channels": channels,
            "global_pause": pause_json(effective_pause(self.global_pause, None, now)),
            "rules": {
                "path": "/etc/novu-failover/rules.yaml",
                "loaded_at": START - 3600,
                "error": None,
            },
            "dry_run": False,
            "started_at": START - 3600,
            "now": now,
            "version": "0.1.0",
        }

    async def events(self, *, limit: int, offset: int) -> JSON:
        self._record("events", limit=limit, offset=offset)
        newest_first = sorted(self.audit, key=lambda r: r.at)[::-1]  # ties: latest first
        return {
            "events": [event_json(r) for r in newest_first[offset : offset + limit]],
            "total": len(self.audit),
            "offset": offset,
            "limit": limit,
        }

    def explain(self, channel: str) -> JSON:
        self._record("explain", channel=channel)
        found = self._channel(channel)
        data = self._channel_json(found)
        data["timers"] = {
            "startup_grace_until": None,
            "cooldown_until": data["cooldown_until"],
            "brake_blocked_until": data["brake"]["blocked_until"],
            "pause_until": data["pause"]["until"] if data["pause"] else None,
        }
        data["recent_switches"] = [switch_json(s) for s in found.switches[-10:]]
        data["policy"] = found.policy
        data["now"] = self.clock.now()
        return data

    async def pause(
        self, *, channel: str | None, until: float | None, reason: str, by: str
    ) -> JSON:
        self._record("pause", channel=channel, until=until, reason=reason, by=by)
        now = self.clock.now()
        if until is not None and until <= now:
            raise ControlError(400, "the pause would end in the past")
        pause = Pause(reason=reason, since=now, until=until, by=by)
        if channel is None:
            self.global_pause = pause
        else:
            self._channel(channel).pause = pause
        self._audit("pause", channel, by=by, reason=reason)
        return {"paused": channel or "*", "pause": pause_json(pause)}

    async def resume(self, *, channel: str | None, by: str) -> JSON:
        self._record("resume", channel=channel, by=by)
        if channel is None:
            self.global_pause = None
        else:
            self._channel(channel).pause = None
        self._audit("resume", channel, by=by, reason="resumed")
        return {"resumed": channel or "*"}

    async def ack(self, *, channel: str, by: str) -> JSON:
        self._record("ack", channel=channel, by=by)
        found = self._channel(channel)
        found.blocked_until = None
        found.acked_at = self.clock.now()
        self._audit("ack", channel, by=by, reason="brake acknowledged")
        return {"acknowledged": channel, "at": found.acked_at}

    async def failover(
        self, *, channel: str, target: str, force: bool, reason: str, by: str
    ) -> JSON:
        self._record("failover", channel=channel, target=target, force=force, reason=reason, by=by)
        found = self._channel(channel)
        health = found.health(target)
        if health is None:
            names = ", ".join(c.integration for c in found.candidates)
            msg = f"{target} is not a candidate of {channel} (candidates: {names})"
            raise ControlError(409, msg)
        integration = found.integrations.get(target)
        if integration is None:
            msg = f"{target} does not exist in Novu's {channel} integrations"
            raise ControlError(409, msg)
        if integration.primary and integration.active:
            raise ControlError(409, f"{target} is already primary")
        if health.state is not Health.UP and not force:
            msg = f"{target} {health.state.value} ({health.reason}); force to switch anyway"
            raise ControlError(409, msg)
        current = found.primary
        for identifier, item in found.integrations.items():
            chosen = identifier == target
            found.integrations[identifier] = replace(
                item, primary=chosen, active=item.active or chosen
            )
        now = self.clock.now()
        found.switches.append(
            Switch(
                at=now, from_=current.identifier if current else None, to=target, trigger="manual"
            )
        )
        record = self._audit(
            "switch",
            channel,
            by=by,
            reason=f"manual failover by {by}: {reason}" + (" (forced)" if force else ""),
            from_=current.identifier if current else None,
            to=target,
            attempts=1,
            evidence=tuple(
                f"{h.integration}: {h.state.value}: {h.reason}" for h in found.candidates
            ),
            duration=0.2,
        )
        return {"ok": True, "event": event_json(record)}
