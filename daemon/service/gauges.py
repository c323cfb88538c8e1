"""The channels' state for the metrics collector, read when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter

from daemon.channel_metrics import ChannelSample
from daemon.clock import Clock
from daemon.logs import secrets_version
from daemon.metrics import Metrics
from daemon.model import DecisionKind, effective_pause
from daemon.rules.model import ChannelRule
from daemon.service.owner import ChannelOwner
from daemon.state import StateStore

_STATE = attrgetter("state")


@dataclass(frozen=True, slots=True)
class _Labels:
    """One runtime's label values, redacted under the secrets of `version`; plain tuples,
    read at every scrape (a pydantic model's attributes are slow to read 3,000 times)."""

    rule: ChannelRule
    signals: tuple[tuple[str, str], ...]
    """The runtime's signal refs, in order, when these were built."""
    version: object
    key: str
    environment: str
    channel: str
    candidates: tuple[tuple[str, str], ...]
    """(integration, its label) per candidate, in rule order."""
    integrations: dict[str, str]
    """integration -> label, the candidates' and the signals' alike."""
    signal_integrations: tuple[str, ...]
    signal_names: tuple[str, ...]
    """Each signal ref's integration label and signal label, in order."""

    def integration(self, integration: str) -> str:
        found = self.integrations.get(integration)
        return found if found is not None else Metrics.label(integration)


def _labels(rule: ChannelRule, signals: tuple[tuple[str, str], ...], version: object) -> _Labels:
    label = Metrics.label
    candidates = tuple((c.integration, label(c.integration)) for c in rule.candidates)
    integrations = dict(candidates)
    for integration, _ in signals:
        integrations.setdefault(integration, label(integration))
    return _Labels(
        rule,
        signals,
        version,
        rule.key,
        label(rule.environment),
        label(rule.channel),
        candidates,
        integrations,
        tuple(integrations[integration] for integration, _ in signals),
        tuple(label(signal) for _, signal in signals),
    )


def channel_samples(
    owners: Callable[[], Iterable[ChannelOwner]], *, store: StateStore, clock: Clock
) -> Callable[[], Iterator[ChannelSample]]:
    """The source `Metrics.watch_channels` wants: every channel's state, now.

    Called from the scrape's worker thread while the event loop runs: it reads values that
    the loop replaces whole (a runtime's health, view, decision), and takes the list of
    owners again if a reload changed it mid-copy. Each rule's label values are redacted
    once (until its rule or the secrets change), not at every scrape."""
    known: dict[int, _Labels] = {}  # by id(rule), checked with `is`

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
        version = secrets_version()
        seen: dict[int, _Labels] = {}
        for owner in snapshot():
            runtime = owner.runtime
            rule = runtime.rule
            states = runtime.signals
            refs = tuple(states)
            labels = known.get(id(rule))
            if (
                labels is None
                or labels.rule is not rule
                or labels.version is not version
                or labels.signals != refs
            ):
                labels = _labels(rule, refs, version)
            seen[id(rule)] = labels
            health = runtime.health
            view = runtime.view
            primary = view.primary if view is not None else None
            decision = runtime.last_decision
            pause = effective_pause(global_pause, store.channel_pause(labels.key), now)
            yield ChannelSample(
                labels.environment,
                labels.channel,
                candidates=[
                    (name, h.state if (h := health.get(integration)) else None)
                    for integration, name in labels.candidates
                ],
                signals=list(  # zip and map run in C: nine signals a channel
                    zip(
                        labels.signal_integrations,
                        labels.signal_names,
                        map(_STATE, list(states.values())),
                        strict=True,
                    )
                ),
                primary=None if primary is None else labels.integration(primary.identifier),
                primary_known=view is not None,
                paused=pause is not None,
                blocked=decision is not None and decision.kind is DecisionKind.BLOCKED,
                evaluated_at=runtime.evaluated_at,
                ready=[
                    (labels.integration(integration), readiness.ready)
                    for integration, readiness in list(runtime.readiness.items())
                ],
            )
        known.clear()  # only the rules still there (a reload may have removed channels)
        known.update(seen)

    return samples
