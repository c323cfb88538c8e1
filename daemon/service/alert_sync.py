"""The alert book's owner and the Alertmanager sync job.

`AlertDesk` owns the book: webhooks (`receive`), API reads (`reconcile`) and expiries go
through it and come out as SignalUpdates for the daemon to apply. `AlertSync` reads every
configured Alertmanager (at start-up, before any decision, then every `interval`) and hands
the merged active alerts to a callback, which reconciles the book with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from daemon.alertmanager_api import ActiveAlerts, matcher_sets, read_active_alerts
from daemon.alerts import (
    Alert,
    AlertBook,
    SignalUpdate,
    build_book,
    expire,
    first_contact,
    receive,
    reconcile,
    unmatched,
)
from daemon.clock import Clock
from daemon.logs import get_logger, log_event
from daemon.metrics import Metrics
from daemon.rules.model import Alertmanagers, Rules

log = get_logger(__name__)

MAX_UNMATCHED_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Received:
    """What one webhook did to the book."""

    updates: tuple[SignalUpdate, ...]
    """The signals its alerts touched (shown in the webhook's answer)."""
    first: tuple[SignalUpdate, ...]
    """Every signal, when this webhook was the first source heard since start."""
    unmatched: tuple[Alert, ...]


class AlertDesk:
    """Owns the alert book; every change to it goes through one of these methods."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._book = AlertBook()

    @property
    def book(self) -> AlertBook:
        return self._book

    def install(self, rules: Rules, *, keep: bool) -> None:
        """The book for new rules; `keep` carries over what unchanged signals know."""
        self._book = build_book(rules, self._book if keep else None)

    def receive(self, alerts: Sequence[Alert], *, now: float) -> Received:
        self._book, first = first_contact(self._book, now=now, via="webhook")
        self._book, updates = receive(self._book, alerts, now=now)
        lost = unmatched(self._book, alerts)
        if lost:
            self._report_unmatched(lost)
        return Received(updates=updates, first=first, unmatched=lost)

    def reconcile(
        self, active: Sequence[Alert], *, as_of: float, now: float
    ) -> tuple[SignalUpdate, ...]:
        self._book, updates = reconcile(self._book, active, as_of=as_of, now=now)
        return updates

    def expire(self, *, now: float) -> tuple[SignalUpdate, ...]:
        self._book, updates = expire(self._book, now=now)
        return updates

    def _report_unmatched(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self._metrics.alert_unmatched(alert.source)
        if log.isEnabledFor(logging.DEBUG):
            names = sorted({alert.name for alert in alerts})
            shown = ", ".join(names[:MAX_UNMATCHED_SHOWN])
            more = f" and {len(names) - MAX_UNMATCHED_SHOWN} more" if len(names) > 5 else ""
            log_event(
                log,
                logging.DEBUG,
                "alert",
                f"{len(alerts)} alert(s) matched no alert signal: {shown}{more}",
                unmatched=len(alerts),
                alertnames=names[:MAX_UNMATCHED_SHOWN],
            )


ApplyActive = Callable[[Sequence[Alert], float], None]
"""(merged active alerts, when the read began) -> None: reconcile the book with them."""


class AlertSync:
    """Reads the configured Alertmanagers and hands their active alerts to `apply`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        clock: Clock,
        apply: ApplyActive,
        metrics: Metrics,
        environ: Mapping[str, str],
    ) -> None:
        self._http = http
        self._clock = clock
        self._apply = apply
        self._metrics = metrics
        self._environ = environ
        self._config: Alertmanagers | None = None
        self._filters: tuple[tuple[str, ...], ...] = ()
        self._errors: dict[str, str] = {}

    def configure(self, rules: Rules) -> None:
        self._config = rules.alertmanagers
        self._filters = matcher_sets(
            entry.alert.matchers
            for rule in rules.channels
            for candidate in rule.candidates
            for entry in candidate.signals
            if entry.alert is not None
        )

    @property
    def interval(self) -> float | None:
        """Seconds between reads; None when no Alertmanager is configured."""
        return None if self._config is None else self._config.interval

    async def run(self) -> None:
        """The scheduled job."""
        await self.run_once()

    async def run_once(self) -> bool:
        """One read of every Alertmanager; True when at least one answered."""
        config = self._config
        if config is None or not self._filters:
            return False
        as_of = self._clock.now()
        answer = await read_active_alerts(
            self._http, config, filters=self._filters, environ=self._environ
        )
        self._report(answer)
        if not answer.reached:
            self._metrics.alertmanager_sync(ok=False, now=as_of)
            return False
        self._apply(answer.alerts, as_of)
        self._metrics.alertmanager_sync(ok=True, now=as_of)
        return True

    def _report(self, answer: ActiveAlerts) -> None:
        """Log each Alertmanager's failure and recovery once, not on every read."""
        for server in answer.answers:
            before = self._errors.get(server.server)
            if server.error is not None and server.error != before:
                self._errors[server.server] = server.error
                log_event(
                    log,
                    logging.WARNING,
                    "alertmanager",
                    f"cannot read active alerts from {server.server}: {server.error}",
                    server=server.server,
                )
            elif server.error is None and before is not None:
                del self._errors[server.server]
                log_event(
                    log,
                    logging.INFO,
                    "alertmanager",
                    f"reading active alerts from {server.server} again "
                    f"({len(server.alerts)} matching)",
                    server=server.server,
                )
