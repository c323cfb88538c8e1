"""Alerts into alert signals: the alert book, and the owners whose signals moved.

Two sources feed the book: webhooks (`receive`, the fast path) and reads of the Alertmanager
API (`reconcile`, the source of truth; see service/alert_sync.py). Alert state lives in
memory only: after a restart alert signals are unknown until one of them is heard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from daemon.alerts import (
    Alert,
    SignalUpdate,
    build_book,
    expire,
    first_contact,
    receive,
    reconcile,
    unmatched,
)
from daemon.clock import Clock
from daemon.control import JSON
from daemon.logs import log_event
from daemon.metrics import Metrics
from daemon.model import ChannelKey
from daemon.rules.model import Rules
from daemon.service.owner import ChannelOwner
from daemon.service.publish import probe_result

log = logging.getLogger("novu_failover.daemon")

MAX_UNMATCHED_SHOWN = 5


class AlertFeed:
    """Keeps the alert book and feeds its updates to the channel owners."""

    def __init__(
        self,
        rules: Rules,
        *,
        owners: Mapping[ChannelKey, ChannelOwner],
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._book = build_book(rules)
        self._owners = owners
        self._metrics = metrics
        self._clock = clock

    def adopt(self, rules: Rules) -> None:
        """Firing alerts of unchanged alert signals survive a reload, like their health."""
        self._book = build_book(rules, self._book)

    def receive(self, alerts: Sequence[Alert]) -> JSON:
        """Apply one webhook's alerts; evaluate the channels they moved, each in its own task.
        The first source heard since start also moves every alert signal out of `unknown`."""
        now = self._clock.now()
        self._book, first = first_contact(self._book, now=now, via="webhook")
        self._book, updates = receive(self._book, alerts, now=now)
        for key in self._apply([*first, *updates]):
            self._owners[key].kick()
        lost = unmatched(self._book, alerts)
        if lost:
            self._report_unmatched(lost)
        return {
            "accepted": len(alerts),
            "matched": [
                {
                    "channel": update.key[0],
                    "integration": update.key[1],
                    "signal": update.key[2],
                    "firing": len(update.firing),
                }
                for update in updates
            ],
        }

    def reconcile(self, active: Sequence[Alert], as_of: float) -> None:
        """Make the book agree with Alertmanager's active alerts (read by a request sent at
        `as_of`); evaluate the channels whose signals moved."""
        self._book, updates = reconcile(self._book, active, as_of=as_of, now=self._clock.now())
        for key in self._apply(updates):
            self._owners[key].kick()

    def expire(self) -> None:
        """Drop firing alerts whose `endsAt` passed (a resolve that never came)."""
        self._book, updates = expire(self._book, now=self._clock.now())
        for key in self._apply(updates):
            self._owners[key].kick()

    def _report_unmatched(self, alerts: Sequence[Alert]) -> None:
        """Count them and say so at DEBUG: an alert for no signal is often a label typo."""
        for alert in alerts:
            self._metrics.alert_unmatched(alert.source)
        if log.isEnabledFor(logging.DEBUG):
            names = sorted({alert.name for alert in alerts})
            shown = ", ".join(names[:MAX_UNMATCHED_SHOWN])
            extra = len(names) - MAX_UNMATCHED_SHOWN
            more = f" and {extra} more" if extra > 0 else ""
            log_event(
                log,
                logging.DEBUG,
                "alert",
                f"{len(alerts)} alert(s) matched no alert signal: {shown}{more}",
                unmatched=len(alerts),
                alertnames=names[:MAX_UNMATCHED_SHOWN],
            )

    def _apply(self, updates: Sequence[SignalUpdate]) -> list[ChannelKey]:
        """Feed each update's observation to its signal; the channels whose signals moved."""
        channels: list[ChannelKey] = []
        for update in updates:
            key, integration, signal_id = update.key
            owner = self._owners.get(key)
            before = owner.runtime.signals.get((integration, signal_id)) if owner else None
            if owner is None or before is None:
                continue
            owner.observe((integration, signal_id), update.observation)
            after = owner.runtime.signals[(integration, signal_id)]
            rule = owner.runtime.rule
            self._metrics.observe_signal(
                rule.environment,
                rule.channel,
                integration,
                signal_id,
                result=probe_result(update.observation.ok),
                seconds=None,  # pushed, not checked: no duration to record
            )
            if after.state is not before.state:
                log_event(
                    log,
                    logging.WARNING,
                    "alert",
                    f"{key}: {integration} signal {signal_id} {after.state.value}: "
                    f"{update.observation.detail}",
                    channel=key,
                    integration=integration,
                    signal=signal_id,
                    state=after.state.value,
                )
            if key not in channels:
                channels.append(key)
        return channels
