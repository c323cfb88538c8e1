"""Prometheus metrics (prefix `novu_failover_`) on an injected CollectorRegistry.

Methods are named for what happened (`observe_signal`, `count_switch`, `evaluated`). Label
values come only from bounded sets: identifiers from the rules (environment, channel,
integration, signal), Novu integration identifiers, enums and HTTP statuses; never a URL,
a secret or free text. As defense in depth every label value passes the log redactor.

Health uses the state-set idiom (kube-state-metrics style): one series per state, 1 for the
current one and 0 for the others, so `...{state="up"} == 1` selects what is up and no
sentinel numbers (-1 for unknown) leak into arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from daemon import __version__
from daemon.logs import redact
from daemon.model import AuditResult, DecisionKind, Health, Trigger

PREFIX = "novu_failover_"

SignalResult = Literal["ok", "fail", "inconclusive", "error"]
"""ok: healthy evidence; fail: unhealthy evidence; inconclusive: no evidence either way
(e.g. too few messages); error: the check itself failed (timeout, bad response)."""

SIGNAL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ACTION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

RequestObserver = Callable[[str, int | str], None]
"""`(call, status)`: what the Novu client calls after every request (status: HTTP code,
or `timeout` / `error` when there was no response)."""

_ChannelId = tuple[str, str]


def _label(value: object) -> str:
    return redact(str(value))


class _ChannelGauge:
    """A gauge whose first two labels are (environment, channel), with its live series
    remembered per channel so stale ones can be removed."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self._series: defaultdict[_ChannelId, set[tuple[str, ...]]] = defaultdict(set)

    def set(self, labels: tuple[str, ...], value: float) -> None:
        self.gauge.labels(*labels).set(value)
        self._series[(labels[0], labels[1])].add(labels)

    def retain(self, channel: _ChannelId, keep: Callable[[tuple[str, ...]], bool]) -> None:
        """Remove the channel's series for which `keep` is false."""
        series = self._series.get(channel, set())
        for labels in [s for s in series if not keep(s)]:
            self.gauge.remove(*labels)
            series.discard(labels)
        if not series:
            self._series.pop(channel, None)


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
        self.signal_check_duration = Histogram(
            PREFIX + "signal_check_duration_seconds",
            "How long signal checks took.",
            list(signal),
            buckets=SIGNAL_BUCKETS,
            registry=registry,
        )
        self._signal_health = _ChannelGauge(
            gauge(
                "signal_health",
                "Health of a signal: 1 for its current state (up, down, unknown), 0 otherwise.",
                (*signal, "state"),
            )
        )
        self._candidate_health = _ChannelGauge(
            gauge(
                "candidate_health",
                "Health of a candidate: 1 for its current state (up, down, unknown), 0 otherwise.",
                (*candidate, "state"),
            )
        )
        self._primary = _ChannelGauge(
            gauge(
                "primary",
                "1 for the channel's current primary integration in Novu, 0 for other candidates.",
                candidate,
            )
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
        self._blocked = _ChannelGauge(
            gauge("channel_blocked", "1 while the channel's brake is tripped.", channel)
        )
        self._paused = _ChannelGauge(
            gauge(
                "paused",
                "1 while automation is paused for the channel (own or global pause).",
                channel,
            )
        )
        self.global_paused = gauge("global_paused", "1 while a global pause is in force.")
        self._last_evaluation = _ChannelGauge(
            gauge(
                "last_evaluation_timestamp_seconds",
                "When the channel was last evaluated (Unix time).",
                channel,
            )
        )
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
        for result in ("ok", "error"):
            self.config_reloads.labels(result)  # exported as 0 before the first reload

    # --- signals and candidates -----------------------------------------------------------

    def observe_signal(
        self,
        environment: str,
        channel: str,
        integration: str,
        signal: str,
        *,
        result: SignalResult,
        seconds: float | None,
    ) -> None:
        """One check of one signal finished; `seconds=None` when it never ran (e.g. skipped)."""
        labels = tuple(_label(v) for v in (environment, channel, integration, signal))
        self.signal_checks.labels(*labels, result).inc()
        if seconds is not None:
            self.signal_check_duration.labels(*labels).observe(seconds)

    def set_signal_health(
        self, environment: str, channel: str, integration: str, signal: str, state: Health
    ) -> None:
        labels = tuple(_label(v) for v in (environment, channel, integration, signal))
        for each in Health:
            self._signal_health.set((*labels, each.value), 1 if each is state else 0)

    def set_candidate_health(
        self, environment: str, channel: str, integration: str, state: Health
    ) -> None:
        labels = tuple(_label(v) for v in (environment, channel, integration))
        for each in Health:
            self._candidate_health.set((*labels, each.value), 1 if each is state else 0)

    def set_primary(
        self, environment: str, channel: str, integration: str | None, *, candidates: Iterable[str]
    ) -> None:
        """Novu's current primary for the channel (None: none), 0 for every other candidate.

        A primary outside `candidates` (not managed) is shown too; series for integrations
        that are neither the primary nor a candidate any more are removed.
        """
        env, chan = _label(environment), _label(channel)
        current = None if integration is None else _label(integration)
        wanted = {_label(c): 0 for c in candidates}
        if current is not None:
            wanted[current] = 1
        self._primary.retain((env, chan), lambda labels: labels[2] in wanted)
        for name, value in wanted.items():
            self._primary.set((env, chan, name), value)

    # --- decisions and actions ------------------------------------------------------------

    def count_decision(self, environment: str, channel: str, kind: DecisionKind) -> None:
        self.decisions.labels(_label(environment), _label(channel), kind.value).inc()

    def evaluated(self, environment: str, channel: str, *, now: float) -> None:
        """The channel was evaluated at `now` (a decision was reached)."""
        self._last_evaluation.set((_label(environment), _label(channel)), now)

    def set_blocked(self, environment: str, channel: str, *, blocked: bool) -> None:
        self._blocked.set((_label(environment), _label(channel)), 1 if blocked else 0)

    def set_paused(self, environment: str, channel: str, *, paused: bool) -> None:
        """Whether automation is paused for this channel, by its own pause or the global one."""
        self._paused.set((_label(environment), _label(channel)), 1 if paused else 0)

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

    def forget_channel(self, environment: str, channel: str) -> None:
        """Drop the channel's gauges (health, primary, blocked, paused, last evaluation):
        call when a rules reload removes or reshapes the channel. Counters are kept."""
        key = (_label(environment), _label(channel))
        for tracked in (
            self._signal_health,
            self._candidate_health,
            self._primary,
            self._blocked,
            self._paused,
            self._last_evaluation,
        ):
            tracked.retain(key, lambda _labels: False)

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
