"""A timer tick evaluates a channel only when something is due: no decision yet, its timer
(`recheck_at`) ended, it wants to act, or an input changed. A tick that finds nothing
changed keeps the last evaluation (the same object: nothing re-worded, counted or logged)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry
from test_policy import MAIN, make_rule, novu

from daemon.actuator import Actuator
from daemon.clock import FakeClock
from daemon.metrics import Metrics
from daemon.model import DecisionKind, Observation
from daemon.rules.model import Rules
from daemon.service.context import OwnerContext
from daemon.service.durable import DurableState
from daemon.service.owner import ChannelOwner
from daemon.service.runtime import build_runtimes
from daemon.state import StateStore


def _owner(tmp_path: Path, clock: FakeClock, **policy: object) -> ChannelOwner:
    rule = make_rule(**policy)
    rules = Rules.model_validate(
        {
            "environments": {"production": {"api_url": "http://n.test", "api_key_env": "K"}},
            "channels": [rule.model_dump()],
        }
    )
    runtime = build_runtimes(rules)[rule.key]
    runtime.view = novu()
    metrics = Metrics(CollectorRegistry())
    state = DurableState(StateStore.open(tmp_path), metrics=metrics)
    context = OwnerContext(
        clock=clock,
        state=state,
        metrics=metrics,
        actuator=Actuator(clients={}, clock=clock, audit=state, action_timeout=5.0),
        clients={},
        started_at=clock.now(),
        dry_run=True,
        action_slots=asyncio.Semaphore(1),
    )
    return ChannelOwner(runtime, context=context)


def _feed(owner: ChannelOwner, integration: str, *, ok: bool, times: int, clock: FakeClock) -> None:
    for ref in [r for r in owner.runtime.signals if r[0] == integration]:
        for _ in range(times):
            owner.observe(ref, Observation(ref[1], ok, clock.now(), "HTTP 200" if ok else "503"))


async def test_nothing_due_once_decided_until_an_input_changes(tmp_path: Path) -> None:
    clock = FakeClock()
    owner = _owner(tmp_path, clock)
    for name in ("sendgrid-main", "ses-backup", "mailgun-backup"):
        _feed(owner, name, ok=True, times=2, clock=clock)
    assert owner.due(clock.now())  # never decided
    await owner.evaluate()
    first = owner.runtime.last_evaluation
    assert first is not None
    assert first.decision.kind is DecisionKind.KEEP
    assert not owner.due(clock.advance(3600))
    await owner.evaluate()  # a kick anyway (a probe): the same evaluation stands
    assert owner.runtime.last_evaluation is first
    assert owner.evaluations == 1
    _feed(owner, MAIN, ok=False, times=3, clock=clock)
    await owner.evaluate()
    assert owner.runtime.last_evaluation is not first
    assert owner.runtime.last_evaluation.decision.kind is DecisionKind.WOULD_SWITCH  # dry run
    assert owner.due(clock.now())  # it wants to act: every tick looks again


async def test_a_timer_makes_the_channel_due_when_it_ends(tmp_path: Path) -> None:
    clock = FakeClock()
    owner = _owner(tmp_path, clock, confirm="30s")
    for name in ("sendgrid-main", "ses-backup", "mailgun-backup"):
        _feed(owner, name, ok=True, times=2, clock=clock)
    _feed(owner, MAIN, ok=False, times=3, clock=clock)
    await owner.evaluate()
    evaluation = owner.runtime.last_evaluation
    assert evaluation is not None
    assert evaluation.decision.kind is DecisionKind.WAIT
    assert not owner.due(clock.advance(29))
    assert owner.due(clock.advance(1))
    await owner.evaluate()
    assert owner.runtime.last_evaluation is not evaluation
    assert owner.runtime.last_evaluation.decision.kind is DecisionKind.WOULD_SWITCH
