"""The Alertmanager sync job: `AlertSync` reads every configured Alertmanager (at start-up,
before any decision, then every `interval`) and hands the merged active alerts to a
callback (the AlertFeed's `reconcile`), which makes the alert book agree with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import httpx

from daemon.alertmanager_api import ActiveAlerts, matcher_sets, read_active_alerts
from daemon.alerts import Alert
from daemon.clock import Clock
from daemon.logs import get_logger, log_event
from daemon.metrics import Metrics
from daemon.rules.model import Alertmanagers, Rules

log = get_logger(__name__)

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
