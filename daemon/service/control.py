"""The ControlPlane the HTTP API serves: reads from the daemon, and a person's actions.

Pause, resume, brake ack and manual failover are audited like the daemon's own switches,
so the trail answers "who did what, when" for every change of a channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from uuid import uuid4

from daemon.control import JSON, SUMMARY, ControlError, StatusQuery
from daemon.logs import log_event
from daemon.model import AuditAction, AuditRecord, Decision, DecisionKind, Pause
from daemon.policy import acknowledge_brake, check_manual_target
from daemon.service.daemon import Daemon
from daemon.service.status_view import read_in_slices
from daemon.service.views import event_json, pause_json
from daemon.state import StateError

log = logging.getLogger("novu_failover.control")


class DaemonControl:
    """Implements `daemon.control.ControlPlane` over a running `Daemon`."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    # -- read-only: the daemon's own views
    def alive(self) -> tuple[bool, str]:
        return self._daemon.alive()

    def ready(self) -> tuple[bool, JSON]:
        return self._daemon.ready()

    async def status(self, query: StatusQuery = SUMMARY) -> JSON:
        return await read_in_slices(self._daemon.status_read(query))

    async def events(self, *, limit: int, offset: int) -> JSON:
        # a page deep in a large trail reads files: off the event loop
        return await asyncio.to_thread(self._daemon.events, limit=limit, offset=offset)

    def explain(self, channel: str) -> JSON:
        return self._daemon.explain(channel)

    # -- a person's actions
    async def pause(
        self, *, channel: str | None, until: float | None, reason: str, by: str
    ) -> JSON:
        if channel is not None:
            self._daemon.owner(channel)
        now = self._daemon.clock.now()
        if until is not None and until <= now:
            raise ControlError(400, "the pause would end in the past")
        pause = Pause(reason=reason, since=now, until=until, by=by)
        await self._save(self._daemon.state.set_pause(channel, pause))
        await self._audit("pause", channel, by=by, reason=reason, now=now)
        self._daemon.refresh_pause_metrics()
        return {"paused": channel or "*", "pause": pause_json(pause)}

    async def resume(self, *, channel: str | None, by: str) -> JSON:
        if channel is not None:
            self._daemon.owner(channel)
        now = self._daemon.clock.now()
        await self._save(self._daemon.state.set_pause(channel, None))
        await self._audit("resume", channel, by=by, reason="resumed", now=now)
        self._daemon.refresh_pause_metrics()
        return {"resumed": channel or "*"}

    async def ack(self, *, channel: str, by: str) -> JSON:
        key = self._daemon.owner(channel).key
        store = self._daemon.store
        now = self._daemon.clock.now()
        acked = acknowledge_brake(store.history(key), now=now)
        await self._save(self._daemon.state.set_history(key, acked))
        await self._audit("ack", channel, by=by, reason="brake acknowledged", now=now)
        self._daemon.owner(channel).kick()
        return {"acknowledged": channel, "at": now}

    async def failover(
        self, *, channel: str, target: str, force: bool, reason: str, by: str
    ) -> JSON:
        """Switch now, audited as `manual`; failback never undoes a person's choice."""
        daemon = self._daemon
        owner = daemon.owner(channel)
        runtime = owner.runtime
        now = daemon.clock.now()
        health = runtime.refresh_health(now=now)
        refusal = check_manual_target(
            runtime.rule, target=target, health=health, view=runtime.view, force=force
        )
        if refusal is not None:
            raise ControlError(409, refusal)
        primary = runtime.view.primary if runtime.view else None
        dry_run = daemon.dry_run or runtime.rule.policy.dry_run
        decision = Decision(
            channel=runtime.key,
            kind=DecisionKind.WOULD_SWITCH if dry_run else DecisionKind.SWITCH,
            reason=f"manual failover by {by}: {reason}" + (" (forced)" if force else ""),
            at=now,
            current=primary.identifier if primary else None,
            target=target,
            trigger="manual",
            evidence=tuple(f"{name}: {h.state.value}: {h.reason}" for name, h in health.items()),
        )
        # The owner's lock is also held for each routine evaluation (milliseconds): wait for
        # that, but not for longer than an action could take.
        outcome = await owner.manual(decision, wait=daemon.action_timeout + 5.0)
        if outcome.kind == "noop":
            return {"ok": True, "event": None, "note": f"{target} is already the active primary"}
        if outcome.kind == "open":
            raise ControlError(
                504,
                "failover outcome unknown (Novu did not answer in time); it is settled from "
                "Novu's view: see status and events",
            )
        if not outcome.ok or outcome.record is None:
            error = outcome.record.error if outcome.record else None
            raise ControlError(502, f"failover failed: {error or 'see events'}")
        return {"ok": True, "event": event_json(outcome.record)}

    @staticmethod
    async def _save(write: Awaitable[None]) -> None:
        """A person's change is kept durably or refused (503), never half-applied."""
        try:
            await write
        except StateError as exc:
            raise ControlError(503, f"cannot save the change: {exc}") from None

    async def _audit(
        self, action: AuditAction, channel: str | None, *, by: str, reason: str, now: float
    ) -> None:
        env, _, name = (channel or "*/*").partition("/")
        record = AuditRecord(
            id=uuid4().hex,
            at=now,
            environment=env,
            channel=name,
            from_=None,
            to=None,
            trigger="manual",
            reason=f"{action} by {by}: {reason}",
            result="ok",
            action=action,
        )
        await self._save(self._daemon.state.record(record))
        log_event(log, logging.WARNING, action, record.reason, channel=channel or "*", by=by)
