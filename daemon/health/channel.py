"""Per-channel health: every candidate's health from its signals' states, in one call.

What the service evaluates each time it decides for a channel, before the policy runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.health.candidate import judge_candidate
from daemon.health.signal_state import SignalState, signal_health
from daemon.model import CandidateHealth
from daemon.rules.model import ChannelRule

SignalRef = tuple[str, str]
"""(integration identifier, signal id) within one channel."""


def channel_health(
    rule: ChannelRule,
    signals: Mapping[SignalRef, SignalState],
    *,
    previous: Mapping[str, CandidateHealth],
    now: float,
) -> dict[str, CandidateHealth]:
    """Each candidate's health (by integration) from `signals`; `previous` keeps `since`.

    `previous` must come from the same `rule.policy.down_when`. A candidate whose signals
    are the same as in `previous` keeps its previous health object (the common case on a
    timer tick: nothing to re-judge or re-word).
    """
    health: dict[str, CandidateHealth] = {}
    down_when = rule.policy.down_when
    for integration, refs in rule.signal_refs:
        given = tuple([signal_health(signals[ref]) for ref in refs])
        before = previous.get(integration)
        if before is not None and before.signals == given:
            health[integration] = before
            continue
        health[integration] = judge_candidate(
            integration, given, down_when=down_when, previous=before, now=now
        )
    return health
