"""Which candidates may become the primary, and why the others may not.

Whether a candidate may is judged at once; why it may not (`Eligibility.refusal`) is worded
only when a reason quotes it (see `daemon.model.Wording`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from daemon.model import CandidateHealth, ChannelView, Health, Integration, Wording
from daemon.policy.text import health_phrase
from daemon.rules.model import Policy


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(slots=True)
class Eligibility:
    """One candidate judged as a switch target: a refusal, or notes worth reporting.

    Fields are `Final` rather than the dataclass frozen: judged several times per decision,
    and a frozen dataclass pays a function call per field to build."""

    identifier: Final[str]
    health: Final[CandidateHealth | None]
    refusal: Final[Wording | None]
    """Words why it may not become the primary; None when it may."""
    notes: Final[tuple[str, ...]] = ()

    @property
    def eligible(self) -> bool:
        return self.refusal is None

    def up_for(self, seconds: float, *, now: float) -> bool:
        """Eligible and `up` since at least `seconds` before `now` (unknown `since`: no)."""
        since = None if self.health is None else self.health.since
        return self.eligible and since is not None and since <= now - seconds


def missing_refusal(identifier: str, view: ChannelView) -> str:
    text = f"{identifier} is not an integration of {view.environment}/{view.channel} in Novu"
    elsewhere = view.find_elsewhere(identifier)
    if elsewhere is not None:
        text += f" (it is an {elsewhere.channel} integration: wrong channel)"
    return text


def conditions_refusal(integration: Integration) -> str:
    count = plural(len(integration.conditions), "condition")
    return (
        f"{integration.identifier} has {count} that set-primary would erase "
        "(allow_erase_conditions is off)"
    )


class ReadinessLike(Protocol):
    """What `judge` needs of a candidate's readiness (`daemon.policy.readiness.Readiness`)."""

    @property
    def ready(self) -> bool: ...

    @property
    def summary(self) -> str: ...


def judge(
    identifier: str,
    *,
    policy: Policy,
    health: Mapping[str, CandidateHealth],
    view: ChannelView,
    now: float,
    readiness: Mapping[str, ReadinessLike] | None = None,
) -> Eligibility:
    """May `identifier` become the primary now? Only if it is in Novu, `up`, its
    conditions (which set-primary erases) are empty or allowed to go, and it is ready
    (`readiness`, when given: e.g. a recent canary got through)."""
    candidate_health = health.get(identifier)
    integration = view.find(identifier)
    if integration is None:
        return Eligibility(identifier, candidate_health, lambda: missing_refusal(identifier, view))
    ready = None if readiness is None else readiness.get(identifier)
    if candidate_health is None or candidate_health.state is not Health.UP:
        if ready is not None and not ready.ready and candidate_health is not None:
            # both: the readiness reason is the shorter and says what to fix
            state = candidate_health.state.value
            summary = ready.summary
            return Eligibility(
                identifier,
                candidate_health,
                lambda: f"{identifier} {state} and not ready: {summary}",
            )
        return Eligibility(
            identifier,
            candidate_health,
            lambda: health_phrase(identifier, candidate_health, now=now),
        )
    notes: list[str] = []
    if integration.conditions:
        if not policy.allow_erase_conditions:
            return Eligibility(
                identifier, candidate_health, lambda: conditions_refusal(integration)
            )
        count = plural(len(integration.conditions), "condition")
        notes.append(f"set-primary will erase {identifier}'s {count} (allowed)")
    if ready is not None and not ready.ready:
        summary = ready.summary
        return Eligibility(
            identifier, candidate_health, lambda: f"{identifier} up but not ready: {summary}"
        )
    if not integration.active:
        notes.append(f"{identifier} is inactive; set-primary activates it")
    return Eligibility(identifier, candidate_health, None, tuple(notes))
