"""Channel state as Prometheus gauges, rendered at scrape time from the daemon's own state.

Health, readiness, primary, pause, brake and last evaluation describe *state*: a custom collector
(client_python's `Collector.collect()`) reads them from the channels when Prometheus
scrapes, instead of gauges set series by series on every evaluation and forgotten by hand
when a reload removes a channel. A removed channel simply is not in the next scrape.

Health uses the state-set idiom (kube-state-metrics style): one series per state, 1 for the
current one and 0 for the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.model import Health

PREFIX = "novu_failover_"
_STATES = tuple(Health)


@dataclass(frozen=True, slots=True)
class ChannelSample:
    """One channel's state at scrape time (label values already redacted)."""

    environment: str
    channel: str
    candidates: Sequence[tuple[str, Health | None]]
    """(integration, health) per candidate in rule order; None before its first evaluation."""
    signals: Sequence[tuple[str, str, Health]]
    """(integration, signal id, health) per signal."""
    primary: str | None
    """Novu's primary (None: none, or Novu not read yet)."""
    primary_known: bool
    paused: bool
    blocked: bool
    evaluated_at: float | None
    ready: Sequence[tuple[str, bool]] = ()
    """(integration, may become the primary) per candidate judged at the last evaluation."""


ChannelSource = Callable[[], Iterable[ChannelSample]]


class ChannelStateCollector(Collector):
    """Yields the channel state gauges from `source()` at each scrape."""

    def __init__(self) -> None:
        self._source: ChannelSource | None = None

    def watch(self, source: ChannelSource) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        signal, candidate, ready, primary, blocked, paused, evaluated = families
        for sample in self._source() if self._source is not None else ():
            channel = [sample.environment, sample.channel]
            for integration, signal_id, state in sample.signals:
                labels = [*channel, integration, signal_id]
                for each in _STATES:
                    signal.add_metric([*labels, each.value], 1 if each is state else 0)
            for integration, health in sample.candidates:
                if health is None:
                    continue
                for each in _STATES:
                    value = 1 if each is health else 0
                    candidate.add_metric([*channel, integration, each.value], value)
            for integration, is_ready in sample.ready:
                ready.add_metric([*channel, integration], 1 if is_ready else 0)
            if sample.primary_known:
                names = [name for name, _ in sample.candidates]
                if sample.primary is not None and sample.primary not in names:
                    names.append(sample.primary)  # not managed: shown, never touched
                for name in names:
                    primary.add_metric([*channel, name], 1 if name == sample.primary else 0)
            blocked.add_metric(channel, 1 if sample.blocked else 0)
            paused.add_metric(channel, 1 if sample.paused else 0)
            if sample.evaluated_at is not None:
                evaluated.add_metric(channel, sample.evaluated_at)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        channel = ["environment", "channel"]
        candidate = [*channel, "integration"]

        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(PREFIX + name, doc, labels=labels)

        return [
            gauge(
                "signal_health",
                "Health of a signal: 1 for its current state (up, down, unknown), 0 otherwise.",
                [*candidate, "signal", "state"],
            ),
            gauge(
                "candidate_health",
                "Health of a candidate: 1 for its current state (up, down, unknown), 0 otherwise.",
                [*candidate, "state"],
            ),
            gauge(
                "candidate_ready",
                "1 if the candidate may become the primary (exists, right channel, no "
                "conditions to erase, recent canary success where configured), else 0.",
                candidate,
            ),
            gauge(
                "primary",
                "1 for the channel's current primary integration in Novu, 0 for other candidates.",
                candidate,
            ),
            gauge("channel_blocked", "1 while the channel's brake is tripped.", channel),
            gauge(
                "paused",
                "1 while automation is paused for the channel (own or global pause).",
                channel,
            ),
            gauge(
                "last_evaluation_timestamp_seconds",
                "When the channel was last evaluated (Unix time).",
                channel,
            ),
        ]

