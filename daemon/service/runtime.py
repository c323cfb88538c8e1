"""Per-channel runtime state: the rule, signal states, candidate health, Novu's view.

Rebuilt from the rules on start and on reload; signal state survives a reload when the
signal itself did not change, so a reload never throws away evidence it still trusts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from daemon.health import SignalState, candidate_health, new_signal_state, signal_health
from daemon.model import CandidateHealth, ChannelView, Decision
from daemon.rules.model import ChannelRule, Rules, SignalEntry

SignalRef = tuple[str, str]
"""(integration identifier, signal id) within one channel."""


@dataclass
class ChannelRuntime:
    rule: ChannelRule
    signals: dict[SignalRef, SignalState] = field(default_factory=dict)
    entries: dict[SignalRef, SignalEntry] = field(default_factory=dict)
    health: dict[str, CandidateHealth] = field(default_factory=dict)
    view: ChannelView | None = None
    view_error: str | None = None
    last_decision: Decision | None = None
    missing: list[str] = field(default_factory=list)
    """Candidates Novu does not know (reported once per change)."""
    dry_run_target: str | None = None
    """The target of the last dry-run switch recorded, so it is audited once, not per tick."""

    @property
    def key(self) -> str:
        return self.rule.key

    def refresh_health(self, *, now: float) -> dict[str, CandidateHealth]:
        """Recompute every candidate's health from its signals (pure, cheap)."""
        for candidate in self.rule.candidates:
            states = [
                signal_health(self.signals[(candidate.integration, signal_id)])
                for signal_id in candidate.signal_ids()
            ]
            self.health[candidate.integration] = candidate_health(
                candidate.integration,
                states,
                down_when=self.rule.policy.down_when,
                previous=self.health.get(candidate.integration),
                now=now,
            )
        return self.health


def build_runtimes(
    rules: Rules, previous: dict[str, ChannelRuntime] | None = None
) -> dict[str, ChannelRuntime]:
    """Runtimes for every channel of `rules`, keeping what `previous` knew where still valid."""
    previous = previous or {}
    runtimes: dict[str, ChannelRuntime] = {}
    for rule in rules.channels:
        old = previous.get(rule.key)
        runtime = ChannelRuntime(rule=rule)
        for candidate in rule.candidates:
            for signal_id, entry in zip(candidate.signal_ids(), candidate.signals, strict=True):
                ref = (candidate.integration, signal_id)
                runtime.entries[ref] = entry
                if old is not None and old.entries.get(ref) == entry:
                    runtime.signals[ref] = old.signals[ref]
                else:
                    runtime.signals[ref] = new_signal_state(signal_id, entry)
            if old is not None and candidate.integration in old.health:
                runtime.health[candidate.integration] = old.health[candidate.integration]
        if old is not None:
            runtime.view = old.view
            runtime.last_decision = old.last_decision
        runtimes[rule.key] = runtime
    return runtimes
