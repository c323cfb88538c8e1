"""The per-channel metrics as prometheus_client would keep them: the oracle the daemon's own
rendering (`daemon.channel_counters`, `daemon.channel_metrics`) is compared with.

This is how `daemon.metrics` exposed them before it rendered them itself: one labelled
child per series, label values redacted before use, zero series created on load, and the
channel state built into GaugeMetricFamily objects at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram, Summary, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from daemon.channel_metrics import ChannelSample
from daemon.channel_series import ACTION_BUCKETS, SIGNAL_BUCKETS
from daemon.logs import redact
from daemon.model import AuditResult, DecisionKind, Health, Trigger

P = "novu_failover_"
CHANNEL = ("environment", "channel")
SIGNAL = (*CHANNEL, "integration", "signal")


class Reference:
    """Replays the calls `Metrics` got (`Metrics`' method names and arguments)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.checks = Counter(
            P + "signal_checks_total", "Signal checks by result.", [*SIGNAL, "result"], registry=r
        )
        self.duration = Histogram(
            P + "signal_check_duration_seconds",
            "How long the channel's signal checks took.",
            CHANNEL,
            buckets=SIGNAL_BUCKETS,
            registry=r,
        )
        self.time = Summary(
            P + "signal_check_seconds",
            "Time spent in one signal's checks (_sum) and checks timed (_count).",
            SIGNAL,
            registry=r,
        )
        self.failures = Counter(
            P + "signal_failures_total",
            "Failed signal checks by failure class (recipient, credentials, quota, outage, "
            "unknown); recipient failures do not count toward down by default.",
            [*SIGNAL, "failure_class"],
            registry=r,
        )
        self.switches = Counter(
            P + "switches_total",
            "Primary switches made, by trigger (failover, failback, manual).",
            [*CHANNEL, "from_integration", "to_integration", "trigger"],
            registry=r,
        )
        self.decisions = Counter(
            P + "decisions_total",
            "Policy decisions by kind (keep, switch, hold, blocked, ...).",
            [*CHANNEL, "kind"],
            registry=r,
        )
        self.actions = Counter(
            P + "actions_total",
            "Actions (switch attempts) by result.",
            [*CHANNEL, "result"],
            registry=r,
        )
        self.action_duration = Histogram(
            P + "action_duration_seconds",
            "How long actions took, retries and verification included.",
            CHANNEL,
            buckets=ACTION_BUCKETS,
            registry=r,
        )
        self.samples: list[ChannelSample] = []
        r.register(_States(self))

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    # --- the calls, as `Metrics` gets them ------------------------------------------------

    def observe_signal(
        self,
        env: str,
        chan: str,
        integration: str,
        signal: str,
        *,
        result: str,
        seconds: float | None,
        failure_class: str | None = None,
    ) -> None:
        labels = [redact(v) for v in (env, chan, integration, signal)]
        self.checks.labels(*labels, result).inc()
        if result == "fail" and failure_class is not None:
            self.failures.labels(*labels, failure_class).inc()
        if seconds is not None:
            self.duration.labels(*labels[:2]).observe(seconds)
            self.time.labels(*labels).observe(seconds)

    def count_decision(self, env: str, chan: str, kind: DecisionKind) -> None:
        self.decisions.labels(redact(env), redact(chan), kind.value).inc()

    def count_switch(
        self,
        env: str,
        chan: str,
        *,
        from_integration: str | None,
        to_integration: str,
        trigger: str,
    ) -> None:
        from_ = "" if from_integration is None else redact(from_integration)
        self.switches.labels(
            redact(env), redact(chan), from_, redact(to_integration), trigger
        ).inc()

    def count_action(self, env: str, chan: str, *, result: str, seconds: float) -> None:
        self.actions.labels(redact(env), redact(chan), result).inc()
        self.action_duration.labels(redact(env), redact(chan)).observe(seconds)

    def channel_loaded(self, env: str, chan: str, candidates: Sequence[str]) -> None:
        e, c = redact(env), redact(chan)
        for result in get_args(AuditResult):
            if result != "started":
                self.actions.labels(e, c, result)
        for kind in DecisionKind:
            self.decisions.labels(e, c, kind.value)
        names = [redact(n) for n in candidates]
        for from_ in names:
            for to in names:
                if from_ != to:
                    for trigger in get_args(Trigger):
                        self.switches.labels(e, c, from_, to, trigger)


def replay(calls: Iterable[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> Reference:
    reference = Reference()
    for name, args, kwargs in calls:
        getattr(reference, name)(*args, **kwargs)
    return reference


class _States:
    """The channel state gauges as the old collector built them."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    def collect(self) -> Iterable[Metric]:
        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(P + name, doc, labels=labels)

        channel = ["environment", "channel"]
        candidate = [*channel, "integration"]
        state_set = "1 for its current state (up, down, unknown), 0 otherwise."
        signal = gauge(
            "signal_health", f"Health of a signal: {state_set}", [*candidate, "signal", "state"]
        )
        health = gauge(
            "candidate_health", f"Health of a candidate: {state_set}", [*candidate, "state"]
        )
        ready = gauge(
            "candidate_ready",
            "1 if the candidate may become the primary (exists, right channel, no "
            "conditions to erase, recent canary success where configured), else 0.",
            candidate,
        )
        primary = gauge(
            "primary",
            "1 for the channel's current primary integration in Novu, 0 for other candidates.",
            candidate,
        )
        blocked = gauge("channel_blocked", "1 while the channel's brake is tripped.", channel)
        paused = gauge(
            "paused", "1 while automation is paused for the channel (own or global pause).", channel
        )
        evaluated = gauge(
            "last_evaluation_timestamp_seconds",
            "When the channel was last evaluated (Unix time).",
            channel,
        )
        for s in self.reference.samples:
            ch = [s.environment, s.channel]
            for integration, signal_id, state in s.signals:
                for each in Health:
                    signal.add_metric(
                        [*ch, integration, signal_id, each.value], 1 if each is state else 0
                    )
            for integration, h in s.candidates:
                if h is not None:
                    for each in Health:
                        health.add_metric([*ch, integration, each.value], 1 if each is h else 0)
            for integration, is_ready in s.ready:
                ready.add_metric([*ch, integration], 1 if is_ready else 0)
            if s.primary_known:
                names = [name for name, _ in s.candidates]
                if s.primary is not None and s.primary not in names:
                    names.append(s.primary)
                for name in names:
                    primary.add_metric([*ch, name], 1 if name == s.primary else 0)
            blocked.add_metric(ch, 1 if s.blocked else 0)
            paused.add_metric(ch, 1 if s.paused else 0)
            if s.evaluated_at is not None:
                evaluated.add_metric(ch, s.evaluated_at)
        return [signal, health, ready, primary, blocked, paused, evaluated]
