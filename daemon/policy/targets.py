"""Which candidates may become the primary, and why the others may not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from daemon.model import CandidateHealth, ChannelView, Health, Integration
from daemon.policy.text import health_phrase
from daemon.rules.model import Policy


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True, slots=True)
class Eligibility:
    """One candidate judged as a switch target: a refusal, or notes worth reporting."""

    identifier: str
    health: CandidateHealth | None
    refusal: str | None
    notes: tuple[str, ...] = ()

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
        return Eligibility(identifier, candidate_health, missing_refusal(identifier, view))
    ready = None if readiness is None else readiness.get(identifier)
    if candidate_health is None or candidate_health.state is not Health.UP:
        if ready is not None and not ready.ready and candidate_health is not None:
            # both: the readiness reason is the shorter and says what to fix
            state = candidate_health.state.value
            refusal = f"{identifier} {state} and not ready: {ready.summary}"
            return Eligibility(identifier, candidate_health, refusal)
        phrase = health_phrase(identifier, candidate_health, now=now)
        return Eligibility(identifier, candidate_health, phrase)
    notes: list[str] = []
    if integration.conditions:
        if not policy.allow_erase_conditions:
            return Eligibility(identifier, candidate_health, conditions_refusal(integration))
        count = plural(len(integration.conditions), "condition")
        notes.append(f"set-primary will erase {identifier}'s {count} (allowed)")
    if ready is not None and not ready.ready:
        refusal = f"{identifier} up but not ready: {ready.summary}"
        return Eligibility(identifier, candidate_health, refusal)
    if not integration.active:
        notes.append(f"{identifier} is inactive; set-primary activates it")
    return Eligibility(identifier, candidate_health, None, tuple(notes))
