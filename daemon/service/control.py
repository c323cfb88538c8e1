"""The ControlPlane the HTTP API serves: reads from the daemon, and a person's actions.

Pause, resume, brake ack and manual failover are audited like the daemon's own switches,
so the trail answers "who did what, when" for every change of a channel.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import uuid4

from daemon.control import JSON, ControlError
from daemon.logs import log_event
from daemon.model import AuditAction, AuditRecord, Decision, DecisionKind, Pause
from daemon.policy import acknowledge_brake, check_manual_target
from daemon.service.daemon import Daemon
from daemon.service.views import event_json, pause_json

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

    def status(self) -> JSON:
        return self._daemon.status()

    def events(self, *, limit: int, offset: int) -> JSON:
        return self._daemon.events(limit=limit, offset=offset)

    def explain(self, channel: str) -> JSON:
        return self._daemon.explain(channel)

    # -- a person's actions
    def pause(self, *, channel: str | None, until: float | None, reason: str, by: str) -> JSON:
        if channel is not None:
            self._daemon.runtime(channel)
        now = self._daemon.clock.now()
        if until is not None and until <= now:
            raise ControlError(400, "the pause would end in the past")
        pause = Pause(reason=reason, since=now, until=until, by=by)
        self._daemon.store.set_pause(channel, pause)
        self._audit("pause", channel, by=by, reason=reason, now=now)
        self._daemon.refresh_pause_metrics()
        return {"paused": channel or "*", "pause": pause_json(pause)}

    def resume(self, *, channel: str | None, by: str) -> JSON:
        if channel is not None:
            self._daemon.runtime(channel)
        now = self._daemon.clock.now()
        self._daemon.store.set_pause(channel, None)
        self._audit("resume", channel, by=by, reason="resumed", now=now)
        self._daemon.refresh_pause_metrics()
        return {"resumed": channel or "*"}

    def ack(self, *, channel: str, by: str) -> JSON:
        runtime = self._daemon.runtime(channel)
        store = self._daemon.store
        now = self._daemon.clock.now()
        store.set_history(runtime.key, acknowledge_brake(store.history(runtime.key), now=now))
        self._audit("ack", channel, by=by, reason="brake acknowledged", now=now)
        return {"acknowledged": channel, "at": now}

    async def failover(
        self, *, channel: str, target: str, force: bool, reason: str, by: str
    ) -> JSON:
        """Switch now, audited as `manual`; failback never undoes a person's choice."""
        daemon = self._daemon
        runtime = daemon.runtime(channel)
        busy = f"an action on {runtime.key} is in flight; try again when it has finished"
        if daemon.action_in_flight(runtime.key):
            raise ControlError(409, busy)
        lock = daemon.lock(runtime.key)
        # The lock is also held for each routine evaluation (milliseconds): wait for that,
        # but not for longer than an action could take.
        try:
            async with asyncio.timeout(daemon.action_timeout + 5.0):
                await lock.acquire()
        except TimeoutError:
            raise ControlError(409, busy) from None
        try:
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
                evidence=tuple(
                    f"{name}: {h.state.value}: {h.reason}" for name, h in health.items()
                ),
            )
            outcome = await daemon.execute(runtime, decision)
        finally:
            lock.release()
        if not outcome.ok:
            raise ControlError(502, f"failover failed: {outcome.record.error or 'see events'}")
        return {"ok": True, "event": event_json(outcome.record)}

    def _audit(
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
        self._daemon.store.record(record)
        log_event(log, logging.WARNING, action, record.reason, channel=channel or "*", by=by)
