"""One evaluation of a channel: its decision, remembered with the inputs it came from.

The service evaluates every channel on every observation and on a timer tick; most of the
time nothing has changed. `evaluate` then hands back the previous evaluation itself (same
object: no reason re-worded, nothing for the shell to log or export again) until the
decision's own `recheck_at` (its next timer) passes or an input changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from daemon.model import CandidateHealth, ChannelHistory, ChannelView, Decision, Pause
from daemon.policy.decide import decide
from daemon.policy.targets import ReadinessLike
from daemon.rules.model import ChannelRule


@dataclass(slots=True)
class Evaluation:
    decision: Final[Decision]
    inputs: Final[tuple[object, ...]]
    """What the decision was reached from (compared by identity first, then value)."""


def evaluate(
    rule: ChannelRule,
    *,
    health: Mapping[str, CandidateHealth],
    view: ChannelView | None,
    history: ChannelHistory,
    pause: Pause | None,
    started_at: float,
    now: float,
    dry_run: bool = False,
    readiness: Mapping[str, ReadinessLike] | None = None,
    previous: Evaluation | None = None,
) -> Evaluation:
    """`decide(...)` with the same arguments, or `previous` when it still stands."""
    # health's and readiness' keys follow the rule's candidates: their values say what changed
    ready = () if readiness is None else tuple(readiness.values())
    inputs = (rule, view, history, pause, started_at, dry_run, *health.values(), ready)
    # tuple equality tries identity first for each item: cheap when nothing changed
    if previous is not None and now < previous.decision.recheck_at and previous.inputs == inputs:
        return previous
    decision = decide(
        rule,
        health=health,
        view=view,
        history=history,
        pause=pause,
        started_at=started_at,
        now=now,
        dry_run=dry_run,
        readiness=readiness,
    )
    return Evaluation(decision, inputs)
