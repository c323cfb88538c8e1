"""An in-memory `ControlPlane` that behaves like the service's: it keeps pauses, acks and
switches, answers in the shapes of docs/api.md, and refuses like the real one (404 unknown
channel or target, 409 a target that is not up unless forced, or already primary).

Every call is recorded in `calls`, so tests can prove a refused request never reached it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from daemon.api.shapes import (
    audit_json,
    brake_json,
    candidate_json,
    decision_json,
    pause_json,
    primary_json,
)
from daemon.clock import FakeClock
from daemon.control import JSON, ControlError
from daemon.model import (
    AuditRecord,
    CandidateHealth,
    Decision,
    DecisionKind,
    Health,
    Integration,
    Pause,
    SignalHealth,
    channel_key,
)

START = 1_700_000_000.0


@dataclass
class FakeChannel:
    environment: str
    name: str
    candidates: list[CandidateHealth]
    integrations: dict[str, Integration]
    signal_kinds: dict[str, list[str]]
    decision: Decision | None = None
    pause: Pause | None = None
    brake_count: int = 0
    brake_max: int = 3
    brake_per: float = 3600.0
    blocked_until: float | None = None
    acked_at: float | None = None
    cooldown_until: float | None = None
    dry_run: bool = False
    policy: JSON = field(default_factory=dict)

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
        id=f"{abs(hash(identifier)) % 10**24:024x}",
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


def sample_channels(now: float = START) -> list[FakeChannel]:
    """Two channels: email with a down primary held by cooldown, sms with a tripped brake."""
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
                        "novu_delivery", Health.UP, "2% failures in 5m (50 messages)", now - 3000
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
        brake_count=1,
        cooldown_until=now + 240,
        policy={
            "down_when": "any",
            "confirm": 0.0,
            "cooldown": 600.0,
            "brake": {"max": 3, "per": 3600.0},
            "failback": {"after": 900.0},
            "startup_grace": 0.0,
            "dry_run": False,
            "allow_erase_conditions": False,
        },
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
            "vonage-backup": _integration(
                "vonage-backup", channel="sms", provider="nexmo", active=True, primary=False
            ),
        },
        signal_kinds={"twilio-main": ["statuspage"], "vonage-backup": ["http"]},
        decision=Decision(
            channel="production/sms",
            kind=DecisionKind.BLOCKED,
            reason="brake: 3 switches in the last 1h; acknowledge to allow more",
            at=now - 30,
            current="twilio-main",
        ),
        brake_count=3,
        blocked_until=now + 1800,
        policy={
            "down_when": "any",
            "confirm": 0.0,
            "cooldown": 600.0,
            "brake": {"max": 3, "per": 3600.0},
            "failback": "off",
            "startup_grace": 0.0,
            "dry_run": False,
            "allow_erase_conditions": False,
        },
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
        self.alive_state: tuple[bool, str] = (True, "scheduler running, 5 jobs")
        self.ready_state: tuple[bool, JSON] = (True, {"rules": "loaded", "environments": {}})
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

    def _channel_json(self, channel: FakeChannel) -> JSON:
        return {
            "channel": channel.key,
            "environment": channel.environment,
            "primary": primary_json(channel.primary),
            "managed": channel.primary is None
            or channel.health(channel.primary.identifier) is not None,
            "dry_run": channel.dry_run,
            "decision": decision_json(channel.decision),
            "pause": pause_json(channel.pause),
            "brake": brake_json(
                count=channel.brake_count,
                max_switches=channel.brake_max,
                per=channel.brake_per,
                blocked_until=channel.blocked_until,
                acked_at=channel.acked_at,
            ),
            "cooldown_until": channel.cooldown_until,
            "in_flight": False,
            "candidates": [
                candidate_json(
                    health,
                    integration=channel.integrations.get(health.integration),
                    signal_kinds=channel.signal_kinds[health.integration],
                )
                for health in channel.candidates
            ],
        }

    # -- ControlPlane -------------------------------------------------------------------------
    def alive(self) -> tuple[bool, str]:
        self._record("alive")
        return self.alive_state

    def ready(self) -> tuple[bool, JSON]:
        self._record("ready")
        return self.ready_state

    def status(self) -> JSON:
        self._record("status")
        return {
            "version": "0.1.0",
            "started_at": START - 3600,
            "now": self.clock.now(),
            "dry_run": False,
            "rules": {
                "path": "/etc/novu-failover/rules.yaml",
                "loaded_at": START - 3600,
                "error": None,
            },
            "global_pause": pause_json(self.global_pause),
            "channels": [self._channel_json(c) for c in self.channels.values()],
        }

    def events(self, *, limit: int, offset: int) -> JSON:
        self._record("events", limit=limit, offset=offset)
        newest_first = sorted(self.audit, key=lambda r: r.at, reverse=True)
        page = newest_first[offset : offset + limit]
        return {
            "events": [audit_json(r) for r in page],
            "total": len(self.audit),
            "offset": offset,
            "limit": limit,
        }

    def explain(self, channel: str) -> JSON:
        self._record("explain", channel=channel)
        found = self._channel(channel)
        now = self.clock.now()
        timers: list[JSON] = []
        if found.cooldown_until is not None and found.cooldown_until > now:
            timers.append(
                {
                    "name": "cooldown",
                    "until": found.cooldown_until,
                    "detail": "10m after the last automatic switch",
                }
            )
        if found.blocked_until is not None:
            timers.append(
                {
                    "name": "brake",
                    "until": found.blocked_until,
                    "detail": "3 switches in 1h; ack to release now",
                }
            )
        effective = found.pause if found.pause is not None else self.global_pause
        recent = [
            audit_json(r)
            for r in sorted(self.audit, key=lambda r: r.at, reverse=True)
            if channel_key(r.environment, r.channel) == channel
        ][:5]
        return {
            **self._channel_json(found),
            "now": now,
            "global_pause": pause_json(self.global_pause),
            "effective_pause": pause_json(effective),
            "policy": found.policy,
            "timers": timers,
            "recent_events": recent,
        }

    def pause(self, *, channel: str | None, until: float | None, reason: str, by: str) -> JSON:
        self._record("pause", channel=channel, until=until, reason=reason, by=by)
        pause = Pause(reason=reason, since=self.clock.now(), until=until, by=by)
        if channel is None:
            self.global_pause = pause
        else:
            self._channel(channel).pause = pause
        return {"ok": True, "channel": channel, "pause": pause_json(pause)}

    def resume(self, *, channel: str | None, by: str) -> JSON:
        self._record("resume", channel=channel, by=by)
        if channel is None:
            resumed = self.global_pause is not None
            self.global_pause = None
        else:
            found = self._channel(channel)
            resumed = found.pause is not None
            found.pause = None
        still = sorted(c.key for c in self.channels.values() if c.pause is not None)
        return {"ok": True, "channel": channel, "resumed": resumed, "still_paused": still}

    def ack(self, *, channel: str, by: str) -> JSON:
        self._record("ack", channel=channel, by=by)
        found = self._channel(channel)
        was_blocked = found.blocked_until is not None
        found.blocked_until = None
        found.acked_at = self.clock.now()
        return {
            "ok": True,
            "channel": channel,
            "was_blocked": was_blocked,
            "acked_at": found.acked_at,
        }

    async def failover(
        self, *, channel: str, target: str, force: bool, reason: str, by: str
    ) -> JSON:
        self._record("failover", channel=channel, target=target, force=force, reason=reason, by=by)
        found = self._channel(channel)
        health = found.health(target)
        integration = found.integrations.get(target)
        if health is None or integration is None:
            names = ", ".join(c.integration for c in found.candidates)
            msg = f"{target!r} is not a candidate of {channel} (candidates: {names})"
            raise ControlError(404, msg)
        current = found.primary
        if current is not None and current.identifier == target and current.active:
            msg = f"{target} is already the active primary of {channel}"
            raise ControlError(409, msg)
        if health.state is not Health.UP and not force:
            msg = f"{target} is {health.state.value} ({health.reason}); pass force to switch anyway"
            raise ControlError(409, msg)
        for identifier, item in found.integrations.items():
            found.integrations[identifier] = replace(
                item, primary=identifier == target, active=item.active or identifier == target
            )
        record = AuditRecord(
            id=f"evt-{len(self.audit) + 1:04d}",
            at=self.clock.now(),
            environment=found.environment,
            channel=found.name,
            from_=current.identifier if current else None,
            to=target,
            trigger="manual",
            reason=reason,
            result="ok",
            attempts=1,
            evidence=(f"manual switch by {by}" + (" (forced)" if force else ""),),
            duration=0.2,
            extra={"by": by},
        )
        self.audit.append(record)
        return {
            "ok": True,
            "channel": channel,
            "from": record.from_,
            "to": target,
            "dry_run": False,
            "event": audit_json(record),
        }
