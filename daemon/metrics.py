"""Prometheus metrics (prefix `novu_failover_`): what the daemon counts, and `/metrics`.

Methods are named for what happened (`observe_signal`, `count_switch`). Label values come
only from bounded sets: identifiers from the rules (environment, channel, integration,
signal), Novu integration identifiers, enums and HTTP statuses; never a URL, a secret or
free text. As defense in depth every label value passes the log redactor (once per value).

Per-channel series (tens of thousands at 1,000 channels) are not prometheus_client
metrics: the counters live in `daemon.channel_counters`, the channels' state (health,
primary, paused, blocked, last evaluation) is read at scrape time by
`daemon.channel_metrics` (`watch_channels`), and both render their own exposition text
(`families`). The few global series stay on prometheus_client, on the injected registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics

from daemon import __version__
from daemon.channel_counters import ChannelCounters
from daemon.channel_metrics import ChannelSource, ChannelStateCollector
from daemon.exposition import Format, TextFamilies, exposition, label_values, negotiate
from daemon.model import AuditResult, DecisionKind, FailureClass, Trigger

PREFIX = "novu_failover_"

SignalResult = Literal["ok", "fail", "inconclusive", "error"]
"""ok: healthy evidence; fail: unhealthy evidence; inconclusive: no evidence either way
(e.g. too few messages); error: the check itself failed (timeout, bad response)."""

# No `_created` series: one more line per counter series that no query here reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

RequestObserver = Callable[[str, int | str], None]
"""`(call, status)`: what the Novu client calls after every request (status: HTTP code,
or `timeout` / `error` when there was no response)."""

ALERT_OUTCOMES = ("accepted", "rejected", "unauthorized", "error")

_label = label_values.redacted


class Metrics:
    """Every metric the daemon exposes: the global ones on `registry`, the per-channel
    ones in `families`; `exposition` renders both."""

    def __init__(self, registry: CollectorRegistry, *, version: str = __version__) -> None:
        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(PREFIX + name, doc, list(labels), registry=registry)

        def gauge(name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
            return Gauge(PREFIX + name, doc, list(labels), registry=registry)

        self.registry = registry
        self.counters = ChannelCounters()
        self.channels = ChannelStateCollector()
        self.families: tuple[TextFamilies, ...] = (self.counters, self.channels)

        self.global_paused = gauge("global_paused", "1 while a global pause is in force.")
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

    # --- exposition -----------------------------------------------------------------------

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """`/metrics`: (body, content type) in the format `accept` asks for."""
        fmt = negotiate(accept)
        return exposition(self.registry, self.families, fmt), fmt.content_type

    def text(self, fmt: Format = Format.TEXT) -> str:
        """The whole exposition as text (tests, `promtool check metrics`)."""
        return exposition(self.registry, self.families, fmt).decode()

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
        self.counters.check(
            (environment, channel, integration, signal),
            result=result,
            seconds=seconds,
            failure_class=failure_class if result == "fail" else None,
        )

    # --- decisions and actions ------------------------------------------------------------

    def count_decision(self, environment: str, channel: str, kind: DecisionKind) -> None:
        self.counters.decision(environment, channel, kind.value)

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
        switch = ("" if from_integration is None else from_integration, to_integration, trigger)
        self.counters.switch(environment, channel, switch)

    def count_action(
        self, environment: str, channel: str, *, result: AuditResult, seconds: float
    ) -> None:
        self.counters.action(environment, channel, result=result, seconds=seconds)

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
        self.counters.load(environment, channel, candidates)

    def channels_loaded(self, channels: Iterable[tuple[str, str, Sequence[str]]]) -> None:
        """The rules' channels now, as (environment, channel, candidates): each is
        `channel_loaded`; a channel no longer among them leaves the next scrape."""
        keys = []
        for environment, channel, candidates in channels:
            self.channel_loaded(environment, channel, candidates)
            keys.append((environment, channel))
        self.counters.retain(keys)

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
