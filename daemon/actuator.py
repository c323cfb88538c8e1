"""Carry out a switch decision against Novu: re-read, compare, set-primary, activate, verify.

One action per channel at a time, bounded by `action_timeout`. The re-read is a
compare-and-set: when Novu's primary is no longer the decision's `current`, the action is
dropped (`superseded`) before any write; a target already the active primary is a `noop`.
Neither is an attempt, so neither is audited here: the channel owner records what it is.

A write to Novu is preceded by a `started` record of the same id; its final record follows
when the outcome is certain (ok, failed, refused). When it is not (the write timed out, its
answer was lost, the process is stopping mid-call) Novu may still perform it: the action is
left `open` and the owner settles it from Novu's view (daemon/service/settlement.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import uuid4

from daemon.clock import Clock
from daemon.durations import format_duration
from daemon.model import (
    AuditRecord,
    AuditResult,
    ChannelKey,
    ChannelView,
    Decision,
    DecisionKind,
    Integration,
    Trigger,
)
from daemon.novu import NovuClient, NovuError
from daemon.novu.errors import NovuApiError
from daemon.readback import readback_problem
from daemon.rules.model import ChannelRule

log = logging.getLogger("novu_failover.actuator")

ACTING_KINDS = (DecisionKind.SWITCH, DecisionKind.WOULD_SWITCH)
IN_FLIGHT = "another action is in flight"


class AuditSink(Protocol):
    async def record(self, entry: AuditRecord) -> None:
        """Keep `entry` durably before returning; raise (StateError) when it cannot."""
        ...


OutcomeKind = Literal["done", "failed", "refused", "dry_run", "superseded", "noop", "open"]
"""done/failed/refused/dry_run carry their final audit record; superseded and noop wrote
nothing to Novu and carry none; open carries the `started` record of an unsettled write."""


@dataclass(frozen=True)
class ActionOutcome:
    """What happened: `view` is Novu's channel as last read (after the action when it ran)."""

    kind: OutcomeKind
    record: AuditRecord | None
    view: ChannelView | None
    deadline: float | None = None
    """For `open`: when the action's own time bound ran out (settle after it)."""

    @property
    def ok(self) -> bool:
        return self.kind in ("done", "dry_run")


class _Refused(Exception):  # noqa: N818 - a verdict, not a fault: the action is refused
    """The checks before writing said no; the message says why."""


class _Failed(Exception):  # noqa: N818 - the action ran and the result is wrong
    """The writes ran but the read-back does not show the target as the active primary."""


class _Skipped(Exception):  # noqa: N818 - a verdict: nothing to write, nothing to audit
    """The fresh view makes the action pointless: superseded by a change, or a no-op."""

    def __init__(self, kind: OutcomeKind, why: str) -> None:
        super().__init__(why)
        self.kind = kind


@dataclass
class _Action:
    """One action and what it has done so far, so a failure or timeout is still recorded."""

    rule: ChannelRule
    decision: Decision
    id: str
    started: float
    stage: str = "reading the channel"
    writing: bool = False
    """A write call (set-primary, activate) is under way: its requests count as attempts."""
    started_record: AuditRecord | None = None
    """The write-ahead record, once written: from then on the outcome must be certain."""
    attempts: int = 0
    from_: str | None = None
    view: ChannelView | None = None
    erased: tuple[Mapping[str, Any], ...] = ()
    notes: dict[str, str] = field(default_factory=dict)


class Actuator:
    """Executes SWITCH / WOULD_SWITCH decisions (automatic or manual) safely and audited."""

    def __init__(
        self,
        *,
        clients: Mapping[str, NovuClient],
        clock: Clock,
        audit: AuditSink,
        action_timeout: float = 30.0,
        new_id: Callable[[], str] = lambda: uuid4().hex,
    ) -> None:
        self._clients = clients
        self._clock = clock
        self._audit = audit
        self._action_timeout = action_timeout
        self._new_id = new_id
        self._in_flight: set[ChannelKey] = set()

    @property
    def action_timeout(self) -> float:
        return self._action_timeout

    def in_flight(self, channel: ChannelKey) -> bool:
        return channel in self._in_flight

    async def execute(self, rule: ChannelRule, decision: Decision) -> ActionOutcome:
        """Make `decision.target` the channel's one active primary (or, dry run, say how).

        Never raises for Novu failures, refusals or timeouts: they come back as an outcome.
        Raises ValueError for a decision that does not act, and CancelledError when
        cancelled (an open write stays open: its `started` record has no final record).
        """
        if decision.kind not in ACTING_KINDS:
            msg = f"only switch decisions are executed, not {decision.kind.value!r}"
            raise ValueError(msg)
        if not decision.target:
            msg = f"a {decision.kind.value} decision for {decision.channel} names no target"
            raise ValueError(msg)
        if decision.channel != rule.key:
            msg = f"decision for {decision.channel} given with the rule of {rule.key}"
            raise ValueError(msg)
        action = _Action(rule, decision, id=self._new_id(), started=self._clock.now())
        if rule.key in self._in_flight:
            action.stage = "waiting for the action in flight"
            record = await self._final(action, "refused", IN_FLIGHT)
            return ActionOutcome("refused", record, view=None)
        self._in_flight.add(rule.key)
        try:
            return await self._bounded(action)
        finally:
            self._in_flight.discard(rule.key)

    async def _bounded(self, action: _Action) -> ActionOutcome:
        result: AuditResult
        error: str | None = None
        deadline = action.started + self._action_timeout
        try:
            async with asyncio.timeout(self._action_timeout):
                result = await self._act(action)
        except _Skipped as exc:
            return ActionOutcome(exc.kind, None, view=action.view)
        except _Refused as exc:
            result, error = "refused", str(exc)
        except _Failed as exc:
            result, error = "failed", str(exc)
        except TimeoutError:
            action.attempts += 1 if action.writing else 0  # at least the one cut short
            if action.writing:
                return self._open(action, deadline, f"timed out while {action.stage}")
            limit = format_duration(self._action_timeout)
            result, error = "failed", f"timed out after {limit} while {action.stage}"
        except NovuError as exc:
            action.attempts += exc.attempts if action.writing else 0
            if action.writing and not _refused_by_novu(exc):
                return self._open(action, deadline, f"{action.stage}: {exc}")
            result, error = "failed", f"{action.stage}: {exc}"
        except asyncio.CancelledError:
            if action.started_record is None:
                await asyncio.shield(
                    self._final(action, "failed", f"cancelled while {action.stage}")
                )
            else:
                log.warning(
                    "%s: action %s cancelled while %s; left open, settled from Novu's view",
                    action.rule.key,
                    action.id,
                    action.stage,
                )
            raise
        except _AuditFailed as exc:
            # The write-ahead record could not be kept: nothing was written to Novu.
            return ActionOutcome("failed", exc.record, view=action.view)
        except Exception as exc:  # a bug must not lose the audit record of a live action
            log.exception("%s: action %s failed unexpectedly", action.rule.key, action.id)
            if action.started_record is not None:
                return self._open(action, deadline, f"unexpected {type(exc).__name__}")
            result, error = "failed", f"unexpected {type(exc).__name__} while {action.stage}"
        record = await self._final(action, result, error)
        return ActionOutcome(_KIND_OF[result], record, view=action.view)

    def _open(self, action: _Action, deadline: float, why: str) -> ActionOutcome:
        """The write may or may not have happened: leave the action open for settlement."""
        log.warning(
            "%s: action %s outcome unknown (%s); settling it from Novu's view after %s",
            action.rule.key,
            action.id,
            why,
            format_duration(max(0.0, deadline - action.started)),
        )
        return ActionOutcome("open", action.started_record, view=None, deadline=deadline)

    async def _act(self, action: _Action) -> AuditResult:
        rule, decision = action.rule, action.decision
        client = self._clients.get(rule.environment)
        if client is None:
            msg = f"no Novu client for environment {rule.environment!r}"
            raise _Failed(msg)
        target_name = decision.target or ""
        target = await self._compare(client, action)
        dry_run = decision.kind is DecisionKind.WOULD_SWITCH
        if target.primary and target.active:
            raise _Skipped("noop", f"{target_name} is already the active primary")
        if target.primary:
            action.notes["plan"] = "activate: already primary but inactive"
        else:
            action.notes["plan"] = "set-primary"
            if target.conditions and not rule.policy.allow_erase_conditions:
                msg = (
                    f"{target_name} has {len(target.conditions)} condition(s) that set-primary "
                    "would erase; set policy.allow_erase_conditions: true to allow it"
                )
                raise _Refused(msg)
        if dry_run:
            action.erased = () if target.primary else target.conditions
            return "dry_run"

        # Write-ahead: if the process dies between Novu's write and the final record, the
        # trail still shows the attempt, and the owner settles it from Novu's view.
        if target.primary:
            action.notes["idempotency_key"] = "none (PUT)"
        else:
            action.notes["idempotency_key"] = f"novu-failover-{action.id}"
        action.notes["deadline"] = repr(action.started + self._action_timeout)
        action.started_record = await self._write_ahead(action)
        if target.primary:
            await self._activate(client, target, action)
        else:
            await self._set_primary(client, target, action)

        action.stage = "reading back the channel"
        action.view = await client.channel_view(rule.channel, now=self._clock.now())
        readback = action.view.find(target_name)
        if readback is not None and readback.primary and not readback.active:
            if "activated" in action.notes:
                msg = f"read-back: {target_name} is still inactive after activating it"
                raise _Failed(msg)
            await self._activate(client, readback, action)
            action.stage = "reading back the channel"
            action.view = await client.channel_view(rule.channel, now=self._clock.now())
        problem = readback_problem(action.view, target_name)
        if problem is not None:
            raise _Failed(problem)
        return "ok"

    async def _compare(self, client: NovuClient, action: _Action) -> Integration:
        """Re-read the channel: the compare of compare-and-set. The target, when Novu still
        shows the decision's `current` as primary; else the action is superseded."""
        rule, decision = action.rule, action.decision
        action.view = await client.channel_view(rule.channel, now=self._clock.now())
        current = action.view.primary
        action.from_ = current.identifier if current else None
        if action.from_ != decision.current:
            msg = (
                f"Novu's primary is {action.from_ or 'none'}, not {decision.current or 'none'} "
                "as decided: changed outside novu-failover"
            )
            raise _Skipped("superseded", msg)
        target = action.view.find(decision.target or "")
        if target is None:
            msg = f"{decision.target} is not an integration of {rule.key} in Novu"
            raise _Refused(msg)
        return target

    async def _set_primary(self, client: NovuClient, target: Integration, action: _Action) -> None:
        key = action.notes["idempotency_key"]  # fresh per action, the same on each retry
        action.stage, action.writing = f"calling set-primary on {target.identifier}", True
        action.erased = target.conditions  # Novu erases them, even if its reply is lost
        done = await client.set_primary(target.id, idempotency_key=key)
        action.attempts += done.attempts
        action.writing = False
        if done.replayed:
            action.notes["replayed"] = "true"
        if not done.value.active:
            await self._activate(client, target, action)

    async def _activate(self, client: NovuClient, target: Integration, action: _Action) -> None:
        action.stage, action.writing = f"calling activate on {target.identifier}", True
        # no idempotency key: Novu keys only POST/PATCH, and PUT active=true is idempotent
        done = await client.activate(target.id)
        action.attempts += done.attempts
        action.writing = False
        action.notes["activated"] = "true"

    async def _write_ahead(self, action: _Action) -> AuditRecord:
        record = self._build(action, "started", None)
        try:
            await self._audit.record(record)
        except Exception as exc:
            error = f"not started: cannot keep the write-ahead audit record: {exc}"
            final = self._build(action, "failed", error)
            log.error("%s: %s", action.rule.key, error)  # noqa: TRY400 - cause is in `error`
            raise _AuditFailed(final) from exc
        _log_record(action.rule.key, record)
        return record

    async def _final(self, action: _Action, result: AuditResult, error: str | None) -> AuditRecord:
        record = self._build(action, result, error)
        _log_record(action.rule.key, record)
        try:
            await self._audit.record(record)
        except Exception:
            # The log line above is the last copy of this record; the owner reports the
            # state error (readiness, metric) from the store itself.
            log.exception(
                "%s: cannot keep the audit record of action %s", action.rule.key, action.id
            )
        return record

    def _build(self, action: _Action, result: AuditResult, error: str | None) -> AuditRecord:
        decision = action.decision
        trigger: Trigger = decision.trigger or "failover"
        return AuditRecord(
            id=action.id,
            at=action.started,
            environment=action.rule.environment,
            channel=action.rule.channel,
            from_=action.from_ if action.view is not None else decision.current,
            to=decision.target,
            trigger=trigger,
            reason=decision.reason,
            result=result,
            dry_run=decision.kind is DecisionKind.WOULD_SWITCH,
            attempts=action.attempts,
            evidence=decision.evidence,
            error=error,
            erased_conditions=action.erased,
            duration=max(0.0, self._clock.now() - action.started),
            extra=dict(action.notes),
        )


_KIND_OF: dict[AuditResult, OutcomeKind] = {
    "ok": "done",
    "dry_run": "dry_run",
    "refused": "refused",
    "failed": "failed",
    "started": "open",
}


class _AuditFailed(Exception):  # noqa: N818 - carries the record that could not be kept
    def __init__(self, record: AuditRecord) -> None:
        super().__init__(record.error)
        self.record = record


def _refused_by_novu(exc: NovuError) -> bool:
    """Novu answered a definite no (a 4xx it does not mean as 'try again'): nothing changed."""
    return (
        isinstance(exc, NovuApiError)
        and 400 <= exc.status < 500
        and exc.status
        not in (
            408,
            409,
            429,
        )
    )


def _log_record(channel: ChannelKey, record: AuditRecord) -> None:
    route = f"{record.from_ or '(none)'} -> {record.to}"
    took = f"{record.attempts} request(s), {record.duration:.1f}s"
    if record.result == "started":
        log.info("%s: switching %s (%s; action %s)", channel, route, record.trigger, record.id)
    elif record.result == "ok":
        log.info("%s: primary %s (%s; %s)", channel, route, record.trigger, took)
    elif record.result == "dry_run":
        log.info("%s: dry run, would switch %s (%s)", channel, route, record.reason)
    else:
        log.warning("%s: %s %s: %s (%s)", channel, record.result, route, record.error, took)
