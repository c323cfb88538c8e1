"""The channel owner: one per channel, for the life of the process.

It owns everything in flight for its channel — decide, act, record, back off, settle an
open action — so nothing about a channel is ever decided from two places at once. A rules
reload hands the owner its new rule (`adopt`); the owner itself, its back-off and any
open action stay, so an action that finishes after a reload lands where it started.

Owners run concurrently: each evaluation is its own task (`kick`), and a slow action on
one channel never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import uuid4

from daemon.actuator import ActionOutcome
from daemon.control import ControlError
from daemon.health import observe
from daemon.logs import log_event
from daemon.model import (
    AuditRecord,
    ChannelHistory,
    ChannelView,
    Decision,
    DecisionKind,
    Observation,
    Switch,
    effective_pause,
)
from daemon.novu.errors import NovuError
from daemon.policy import decide, history_keep, observe_primary, record_switch
from daemon.service.context import Backoff, OwnerContext
from daemon.service.publish import log_action, publish_decision, report_missing
from daemon.service.runtime import ChannelRuntime, SignalRef
from daemon.service.settlement import OpenAction, Settled, settle
from daemon.state import StateError

log = logging.getLogger("novu_failover.daemon")

ACTING = (DecisionKind.SWITCH, DecisionKind.WOULD_SWITCH)
HISTORY_FLOOR_SECONDS = 7 * 86400.0
"""Switch history is kept at least this long (for people reading it), longer when a rule's
brake or cooldown window needs it."""


class ChannelOwner:
    """Decide -> act -> record -> back off, for one channel; see the module docstring."""

    def __init__(
        self,
        runtime: ChannelRuntime,
        *,
        context: OwnerContext,
        open_action: OpenAction | None = None,
    ) -> None:
        self.runtime = runtime
        self.context = context
        self.open_action = open_action
        self.backoff = Backoff()
        self.lock = asyncio.Lock()
        self.acting = False
        self.evaluations = 0
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.runtime.key

    def adopt(self, runtime: ChannelRuntime) -> None:
        """A reload's new rule for this channel (signal states carried by build_runtimes)."""
        self.runtime = runtime
        self._dirty = True

    # ------------------------------------------------------------------ inputs
    def observe(self, ref: SignalRef, observation: Observation) -> bool:
        """Step a signal with an observation; False when the signal is no longer in the rule."""
        state = self.runtime.signals.get(ref)
        if state is None:
            return False
        self.runtime.signals[ref] = observe(state, observation)
        return True

    def kick(self) -> asyncio.Task[None] | None:
        """Evaluate soon, in this owner's own task; coalesces with one already running."""
        if self._task is not None and not self._task.done():
            self._dirty = True
            return None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"owner {self.key}")
        return self._task

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def _run(self) -> None:
        try:
            await self.evaluate()
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in one channel must not stop the others' evaluations
            log.exception("%s: evaluation failed", self.key)

    async def evaluate(self) -> Decision | None:
        """Decide and act until nothing new arrived meanwhile; the last decision.

        When another evaluation holds the channel, this one is folded into it (None)."""
        if self.lock.locked():
            self._dirty = True
            return None
        async with self.lock:
            decision = None
            while True:
                self._dirty = False
                decision = await self._cycle()
                if not self._dirty:
                    return decision

    # ------------------------------------------------------------------- cycle
    async def _cycle(self) -> Decision:
        now = self.context.clock.now()
        if self.open_action is not None and now >= self.open_action.settle_after:
            await self.read_view()
        if self.open_action is not None:
            return self._publish(self.open_action.decision(self.key, now=now), now=now)
        decision = self._decide(now)
        if decision.kind in ACTING and self._may_act(decision, now):
            outcome = await self.act(decision)
            if outcome is not None and outcome.kind in ("superseded", "noop"):
                self._dirty = True  # decide again from the fresh view
        return decision

    def _decide(self, now: float) -> Decision:
        runtime = self.runtime
        state = self.context.state.store
        health = runtime.refresh_health(now=now)
        pause = effective_pause(state.global_pause, state.channel_pause(runtime.key), now)
        decision = decide(
            runtime.rule,
            health=health,
            view=runtime.view,
            history=state.history(runtime.key),
            pause=pause,
            started_at=self.context.started_at,
            now=now,
            dry_run=self.context.dry_run,
        )
        if decision.kind is not DecisionKind.WOULD_SWITCH:
            runtime.dry_run_target = None  # a later dry-run switch is news again
        return self._publish(decision, now=now)

    def _publish(self, decision: Decision, *, now: float) -> Decision:
        """Remember the decision, set its gauges, and log it when it changed."""
        previous, self.runtime.last_decision = self.runtime.last_decision, decision
        self.evaluations += 1
        publish_decision(
            self.runtime,
            decision,
            previous=previous,
            metrics=self.context.metrics,
            store=self.context.state.store,
            now=now,
        )
        self.context.timeline.evaluated(self.runtime, decision)
        return decision

    def _may_act(self, decision: Decision, now: float) -> bool:
        if now < self.backoff.not_before:
            return False  # backing off after a failed action; a later decision retries
        if decision.kind is DecisionKind.WOULD_SWITCH:
            if self.runtime.dry_run_target == decision.target:
                return False  # this dry-run switch is recorded already; don't flood the trail
            self.runtime.dry_run_target = decision.target
        return True

    # ------------------------------------------------------------------ acting
    async def act(self, decision: Decision) -> ActionOutcome | None:
        """Carry out `decision` now (the caller holds `lock`); None when the gate says no."""
        refusal = self.context.gate.allows(self.key)
        if refusal is not None:
            log_event(log, logging.INFO, "action", f"{self.key}: not acting: {refusal}")
            return None
        return await self._act(decision)

    async def _act(self, decision: Decision) -> ActionOutcome:
        self.acting = True
        try:
            async with self.context.action_slots:
                outcome = await self.context.actuator.execute(self.runtime.rule, decision)
        finally:
            self.acting = False
        await self._after(decision, outcome)
        return outcome

    async def _after(self, decision: Decision, outcome: ActionOutcome) -> None:
        now = self.context.clock.now()
        runtime, rule = self.runtime, self.runtime.rule
        record = outcome.record
        if outcome.kind in ("superseded", "noop"):
            if outcome.view is not None:
                await self.apply_view(outcome.view)
            return
        if outcome.kind == "open":
            assert record is not None
            self.open_action = OpenAction.of(
                record,
                action_timeout=self.context.actuator.action_timeout,
                why="outcome unknown",
                deadline=outcome.deadline,
            )
            return
        assert record is not None
        if outcome.view is not None:
            runtime.view = outcome.view
        self.context.metrics.count_action(
            rule.environment, rule.channel, result=record.result, seconds=record.duration
        )
        if outcome.kind == "done" and decision.kind is DecisionKind.SWITCH and decision.target:
            switch = Switch(
                at=record.at,
                from_=record.from_,
                to=decision.target,
                trigger=decision.trigger or "failover",
            )
            await self._remember(switch)
            self.backoff.reset()
        elif outcome.kind in ("failed", "refused"):
            self.backoff.failed(now)
        self.context.timeline.action(self.key, record)
        log_action(self.key, record)

    async def _remember(self, switch: Switch) -> None:
        """Keep a switch the daemon made (counts for cooldown and the brake)."""
        rule = self.runtime.rule
        store = self.context.state.store
        keep = max(HISTORY_FLOOR_SECONDS, history_keep(rule.policy))
        history = record_switch(store.history(self.key), switch, keep=keep)
        await self._save_history(history)
        self.context.metrics.count_switch(
            rule.environment,
            rule.channel,
            from_integration=switch.from_ or "",
            to_integration=switch.to,
            trigger=switch.trigger,
        )
        self.context.metrics.set_primary(
            rule.environment,
            rule.channel,
            switch.to,
            candidates=[c.integration for c in rule.candidates],
        )

    async def _save_history(self, history: ChannelHistory) -> None:
        # A failure is reported by DurableState (log, metric, /readyz).
        with contextlib.suppress(StateError):
            await self.context.state.set_history(self.key, history)

    # ------------------------------------------------------------ Novu's view
    async def read_view(self) -> None:
        """Read the channel from Novu now (the caller holds `lock`) and apply it."""
        rule = self.runtime.rule
        client = self.context.clients.get(rule.environment)
        if client is None:
            return
        try:
            view = await client.channel_view(rule.channel, now=self.context.clock.now())
        except NovuError as exc:
            self.view_failed(exc)
            return
        await self.apply_view(view)

    def view_failed(self, exc: NovuError) -> None:
        runtime = self.runtime
        if runtime.view_error != str(exc):
            log_event(
                log,
                logging.ERROR,
                "novu",
                f"{runtime.key}: cannot read integrations from Novu: {exc}",
                channel=runtime.key,
            )
        runtime.view_error = str(exc)

    async def apply_view(self, view: ChannelView) -> None:
        """A fresh read of Novu (the caller holds `lock`): settle an open action, then notice
        a person's change (drift) — never while an action of ours is still unsettled."""
        runtime, rule = self.runtime, self.runtime.rule
        now = self.context.clock.now()
        runtime.view, runtime.view_error = view, None
        report_missing(runtime, view)
        if self.open_action is not None:
            settled = settle(self.open_action, view, now=now)
            if settled is None:
                return
            await self._settled(settled)
        await self._notice_drift(view, now=now)
        primary = view.primary
        self.context.metrics.set_primary(
            rule.environment,
            rule.channel,
            primary.identifier if primary else None,
            candidates=[c.integration for c in rule.candidates],
        )

    async def _settled(self, settled: Settled) -> None:
        assert self.open_action is not None
        open_action, self.open_action = self.open_action, None
        record = settled.record
        rule = self.runtime.rule
        await self._keep(record)
        self.context.timeline.action(self.key, record)
        self.context.metrics.count_action(
            rule.environment, rule.channel, result=record.result, seconds=record.duration
        )
        log_event(
            log,
            logging.WARNING,
            "action",
            f"{self.key}: action {record.id} ({record.from_} -> {record.to}) settled: "
            f"{'landed' if settled.switch else 'did not land'} ({record.extra.get('settled')})",
            channel=self.key,
            audit_id=record.id,
            result=record.result,
            why=open_action.why,
        )
        if settled.switch is not None:
            await self._remember(settled.switch)
            self.backoff.reset()
        else:
            self.backoff.failed(self.context.clock.now())

    async def _notice_drift(self, view: ChannelView, *, now: float) -> None:
        store = self.context.state.store
        history = store.history(self.key)
        updated = observe_primary(history, view, now=now)
        if updated == history:
            return
        previous = history.last_known_primary
        await self._save_history(updated)
        if previous is None:
            return  # first sight of the primary, not a change
        current = updated.last_known_primary
        reason = f"primary changed outside novu-failover: {previous} -> {current}; respected"
        log_event(log, logging.WARNING, "drift", f"{self.key}: {reason}", channel=self.key)
        rule = self.runtime.rule
        await self._keep(
            AuditRecord(
                id=uuid4().hex,
                at=now,
                environment=rule.environment,
                channel=rule.channel,
                from_=previous,
                to=current,
                trigger="manual",
                reason=reason,
                result="ok",
                action="drift",
            )
        )

    async def _keep(self, record: AuditRecord) -> None:
        # A failure is reported by DurableState (log, metric, /readyz).
        with contextlib.suppress(StateError):
            await self.context.state.record(record)

    # ---------------------------------------------------------- a person's switch
    async def manual(self, decision: Decision, *, wait: float) -> ActionOutcome:
        """A person's switch: waits up to `wait` for a routine evaluation to finish, never
        for an action; ControlError 409 while an action is in flight or being settled."""
        busy = f"an action on {self.key} is in flight; try again when it has finished"
        if self.acting:
            raise ControlError(409, busy)
        try:
            async with asyncio.timeout(wait):
                await self.lock.acquire()
        except TimeoutError:
            raise ControlError(409, busy) from None
        try:
            if self.open_action is not None:
                raise ControlError(409, self.open_action.describe(self.context.clock.now()))
            outcome = await self.act(decision)
        finally:
            self.lock.release()
        if outcome is None:
            raise ControlError(503, f"{self.key}: this process may not act now")
        if outcome.kind == "superseded":
            raise ControlError(
                409, "Novu's primary changed since the last read; check status and try again"
            )
        return outcome
