"""Prometheus metrics (prefix `novu_failover_`) on an injected CollectorRegistry.

Methods are named for what happened (`observe_signal`, `count_switch`). Label values come
only from bounded sets: identifiers from the rules (environment, channel, integration,
signal), Novu integration identifiers, enums and HTTP statuses; never a URL, a secret or
free text. As defense in depth every label value passes the log redactor (once per value).

The channels' state (health, primary, paused, blocked, last evaluation) is not pushed here:
`daemon.channel_metrics` renders it at scrape time from the daemon's state
(`watch_channels`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    disable_created_metrics,
)

from daemon import __version__
from daemon.channel_metrics import ChannelSource, ChannelStateCollector
from daemon.logs import redact, secrets_version
from daemon.model import AuditResult, DecisionKind, FailureClass, Trigger

PREFIX = "novu_failover_"

SignalResult = Literal["ok", "fail", "inconclusive", "error"]
"""ok: healthy evidence; fail: unhealthy evidence; inconclusive: no evidence either way
(e.g. too few messages); error: the check itself failed (timeout, bad response)."""

SIGNAL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ACTION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# No `_created` series: one more line per counter and histogram series (a third of the
# exposition at 1,000 channels) that no query here reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

RequestObserver = Callable[[str, int | str], None]
"""`(call, status)`: what the Novu client calls after every request (status: HTTP code,
or `timeout` / `error` when there was no response)."""

ALERT_OUTCOMES = ("accepted", "rejected", "unauthorized", "error")


class _Labels:
    """Label values pass the log redactor once each, not on every update: the answer is
    remembered until another secret is registered."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._version: object = None

    def __call__(self, value: object) -> str:
        text = str(value)
        version = secrets_version()
        if version is not self._version:
            self._seen.clear()
            self._version = version
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = redact(text)
        return found


_label = _Labels()


class Metrics:
    """Every metric the daemon exposes, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry, *, version: str = __version__) -> None:
        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(PREFIX + name, doc, list(labels), registry=registry)

        def gauge(name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
            return Gauge(PREFIX + name, doc, list(labels), registry=registry)

        channel = ("environment", "channel")
        candidate = (*channel, "integration")
        signal = (*candidate, "signal")

        self.signal_checks = counter(
            "signal_checks_total", "Signal checks by result.", (*signal, "result")
        )
        # Buckets per channel, time per signal: 13 lines per signal were two thirds of the
        # exposition at 1,000 channels (docs/metrics.md).
        self.signal_check_duration = Histogram(
            PREFIX + "signal_check_duration_seconds",
            "How long the channel's signal checks took.",
            list(channel),
            buckets=SIGNAL_BUCKETS,
            registry=registry,
        )
        self.signal_check_time = Summary(
            PREFIX + "signal_check_seconds",
            "Time spent in one signal's checks (_sum) and checks timed (_count).",
            list(signal),
            registry=registry,
        )
        self.signal_failures = counter(
            "signal_failures_total",
            "Failed signal checks by failure class (recipient, credentials, quota, outage, "
            "unknown); recipient failures do not count toward down by default.",
            (*signal, "failure_class"),
        )
        self.switches = counter(
            "switches_total",
            "Primary switches made, by trigger (failover, failback, manual).",
            (*channel, "from_integration", "to_integration", "trigger"),
        )
        self.decisions = counter(
            "decisions_total",
            "Policy decisions by kind (keep, switch, hold, blocked, ...).",
            (*channel, "kind"),
        )
        self.global_paused = gauge("global_paused", "1 while a global pause is in force.")
        self.actions = counter(
            "actions_total", "Actions (switch attempts) by result.", (*channel, "result")
        )
        self.action_duration = Histogram(
            PREFIX + "action_duration_seconds",
            "How long actions took, retries and verification included.",
            list(channel),
            buckets=ACTION_BUCKETS,
            registry=registry,
        )
        self.novu_requests = counter(
            "novu_requests_total",
            "Requests to Novu's API by call and HTTP status (or timeout, error).",
            ("environment", "call", "status"),
        )
        self.alerts_received = counter(
            "alerts_received_total",
            "Alert webhooks received by source and outcome.",
            ("source", "status"),
        )
        self.alerts_unmatched = counter(
            "alerts_unmatched_total",
            "Alerts received (webhook) that matched no alert signal, by source.",
            ("source",),
        )
        self.alertmanager_syncs = counter(
            "alertmanager_syncs_total",
            "Reads of the Alertmanager API by result (ok: at least one answered, error).",
            ("result",),
        )
        self.alertmanager_last_sync = gauge(
            "alertmanager_last_sync_success_timestamp_seconds",
            "When the Alertmanager API was last read successfully (Unix time).",
        )
        self.config_reloads = counter(
            "config_reloads_total", "Rules (re)loads by result (ok, error).", ("result",)
        )
        self.config_last_reload_success = gauge(
            "config_last_reload_success_timestamp_seconds",
            "When the rules were last loaded successfully (Unix time).",
        )
        self.config_valid = gauge("config_valid", "1 if the last rules (re)load succeeded.")
        self.build_info = gauge("build_info", "Build information; always 1.", ("version",))
        self.state_write_errors = counter(
            "state_write_errors_total",
            "Failed writes to the state directory (state.json, audit trail); see /readyz.",
        )

        self.channels = ChannelStateCollector()
        registry.register(self.channels)

        self.build_info.labels(_label(version)).set(1)
        # Series whose first increment matters to an alert exist at 0 from the start:
        # increase() cannot see a series born at 1.
        for result in ("ok", "error"):
            self.config_reloads.labels(result)
            self.alertmanager_syncs.labels(result)
        for source in ("alertmanager", "grafana"):
            self.alerts_unmatched.labels(source)
            for outcome in ALERT_OUTCOMES:
                self.alerts_received.labels(source, outcome)

    # --- channel state (rendered at scrape time) -----------------------------------------

    def watch_channels(self, source: ChannelSource) -> None:
        """Where the channel state gauges (health, primary, paused, blocked, last
        evaluation) come from at each scrape; label values must be redacted already
        (`Metrics.label`)."""
        self.channels.watch(source)

    @staticmethod
    def label(value: object) -> str:
        """`value` as a label value may show it (secrets redacted; remembered)."""
        return _label(value)

    # --- signals --------------------------------------------------------------------------

    def observe_signal(
        self,
        environment: str,
        channel: str,
        integration: str,
        signal: str,
        *,
        result: SignalResult,
        seconds: float | None,
        failure_class: FailureClass | None = None,
    ) -> None:
        """One check of one signal finished; `seconds=None` when it never ran (e.g. skipped).
        A failure with a class is also counted by class."""
        labels = tuple(_label(v) for v in (environment, channel, integration, signal))
        self.signal_checks.labels(*labels, result).inc()
        if result == "fail" and failure_class is not None:
            self.signal_failures.labels(*labels, failure_class).inc()
        if seconds is not None:
            self.signal_check_duration.labels(*labels[:2]).observe(seconds)
            self.signal_check_time.labels(*labels).observe(seconds)

    # --- decisions and actions ------------------------------------------------------------

    def count_decision(self, environment: str, channel: str, kind: DecisionKind) -> None:
        self.decisions.labels(_label(environment), _label(channel), kind.value).inc()

    def set_global_paused(self, *, paused: bool) -> None:
        self.global_paused.set(1 if paused else 0)

    def count_switch(
        self,
        environment: str,
        channel: str,
        *,
        from_integration: str | None,
        to_integration: str,
        trigger: Trigger,
    ) -> None:
        """A switch was made; `from_integration=None` (no primary before) is exported as ""."""
        self.switches.labels(
            _label(environment),
            _label(channel),
            "" if from_integration is None else _label(from_integration),
            _label(to_integration),
            trigger,
        ).inc()

    def count_action(
        self, environment: str, channel: str, *, result: AuditResult, seconds: float
    ) -> None:
        env, chan = _label(environment), _label(channel)
        self.actions.labels(env, chan, result).inc()
        self.action_duration.labels(env, chan).observe(seconds)

    # --- Novu, alerts, configuration ------------------------------------------------------

    def novu_request(self, environment: str) -> RequestObserver:
        """The `on_request(call, status)` callback for one environment's Novu client.

        `call` must be an operation name (`list_integrations`, `set_primary`), never a path
        with ids in it.
        """
        env = _label(environment)

        def on_request(call: str, status: int | str) -> None:
            self.novu_requests.labels(env, _label(call), _label(status)).inc()

        return on_request

    def alert_received(self, source: str, status: str) -> None:
        """A webhook arrived: source `alertmanager` / `grafana`; status e.g. `accepted`,
        `rejected`, `unauthorized`."""
        self.alerts_received.labels(_label(source), _label(status)).inc()

    def alert_unmatched(self, source: str) -> None:
        """An alert of a webhook matched no alert signal."""
        self.alerts_unmatched.labels(_label(source)).inc()

    def alertmanager_sync(self, *, ok: bool, now: float) -> None:
        self.alertmanager_syncs.labels("ok" if ok else "error").inc()
        if ok:
            self.alertmanager_last_sync.set(now)

    def channel_loaded(self, environment: str, channel: str, candidates: Sequence[str]) -> None:
        """A channel's rules loaded: its counters exist at 0 for every label set they will
        have (actions by result, switches between candidates by trigger, decisions by
        kind), so an alert on `increase()` sees the very first one."""
        env, chan = _label(environment), _label(channel)
        for result in get_args(AuditResult):
            if result != "started":  # written to the audit trail, never counted
                self.actions.labels(env, chan, result)
        for kind in DecisionKind:
            self.decisions.labels(env, chan, kind.value)
        names = [_label(c) for c in candidates]
        for from_ in names:
            for to in names:
                if from_ != to:
                    for trigger in get_args(Trigger):
                        self.switches.labels(env, chan, from_, to, trigger)

    def state_write_failed(self) -> None:
        """A write to STATE_DIR (state.json or the audit trail) failed."""
        self.state_write_errors.inc()

    def rules_loaded(self, *, now: float) -> None:
        """The rules the process started with are valid (it does not start otherwise);
        reloads are counted by `config_reload`."""
        self.config_valid.set(1)
        self.config_last_reload_success.set(now)

    def config_reload(self, ok: bool, *, now: float) -> None:
        self.config_reloads.labels("ok" if ok else "error").inc()
        self.config_valid.set(1 if ok else 0)
        if ok:
            self.config_last_reload_success.set(now)
