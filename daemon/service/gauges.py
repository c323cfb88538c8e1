"""The channels' state for the metrics collector, read when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from daemon.channel_metrics import ChannelSample
from daemon.clock import Clock
from daemon.metrics import Metrics
from daemon.model import DecisionKind, effective_pause
from daemon.service.owner import ChannelOwner
from daemon.state import StateStore


def channel_samples(
    owners: Callable[[], Iterable[ChannelOwner]], *, store: StateStore, clock: Clock
) -> Callable[[], Iterator[ChannelSample]]:
    """The source `Metrics.watch_channels` wants: every channel's state, now.

    Called from the scrape's worker thread while the event loop runs: it reads values that
    the loop replaces whole (a runtime's health, view, decision), and takes the list of
    owners again if a reload changed it mid-copy."""
    label = Metrics.label

    def snapshot() -> list[ChannelOwner]:
        for _ in range(5):
            try:
                return list(owners())
            except RuntimeError:  # "dictionary changed size during iteration": a reload
                continue
        return []

    def samples() -> Iterator[ChannelSample]:
        now = clock.now()
        global_pause = store.global_pause
        for owner in snapshot():
            runtime = owner.runtime
            rule = runtime.rule
            health = runtime.health
            view = runtime.view
            primary = view.primary if view is not None else None
            decision = runtime.last_decision
            pause = effective_pause(global_pause, store.channel_pause(runtime.key), now)
            yield ChannelSample(
                environment=label(rule.environment),
                channel=label(rule.channel),
                candidates=[
                    (label(c.integration), h.state if (h := health.get(c.integration)) else None)
                    for c in rule.candidates
                ],
                signals=[
                    (label(integration), label(signal), state.state)
                    for (integration, signal), state in list(runtime.signals.items())
                ],
                primary=None if primary is None else label(primary.identifier),
                primary_known=view is not None,
                paused=pause is not None,
                blocked=decision is not None and decision.kind is DecisionKind.BLOCKED,
                evaluated_at=runtime.evaluated_at,
                ready=[
                    (label(integration), readiness.ready)
                    for integration, readiness in list(runtime.readiness.items())
                ],
            )

    return samples
