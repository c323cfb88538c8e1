"""May a person make `target` the primary? The predicate behind manual failover."""

from __future__ import annotations

from collections.abc import Mapping

from daemon.model import CandidateHealth, ChannelView, Health
from daemon.policy.targets import conditions_refusal, missing_refusal
from daemon.policy.text import health_phrase
from daemon.rules.model import ChannelRule

FORCE_HINT = "force to switch anyway"


def check_manual_target(
    rule: ChannelRule,
    *,
    target: str,
    health: Mapping[str, CandidateHealth],
    view: ChannelView | None,
    force: bool,
) -> str | None:
    """The reason to refuse a manual switch to `target`, or None if it may go ahead.

    `force` overrides the health and conditions checks, never the existence ones.
    Pause and brake do not apply: they limit automation, not people.
    """
    if rule.candidate(target) is None:
        names = ", ".join(c.integration for c in rule.candidates)
        return f"{target} is not a candidate of {rule.key} (candidates: {names})"
    if view is None:
        return f"Novu not reached yet; cannot check {target} before switching"
    integration = view.find(target)
    if integration is None:
        return missing_refusal(target, view)
    if integration.primary and integration.active:
        return f"{target} is already primary"
    if force:
        return None
    target_health = health.get(target)
    if target_health is None or target_health.state is not Health.UP:
        return f"{health_phrase(target, target_health, now=None)}; {FORCE_HINT}"
    if integration.conditions and not rule.policy.allow_erase_conditions:
        return f"{conditions_refusal(integration)}; {FORCE_HINT}"
    return None
