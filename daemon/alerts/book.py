"""The alert book: per alert signal, the matching alerts that fire right now.

A signal is down while any matching alert fires and up when all resolved or passed their
`endsAt`. Every step returns a new book and, per signal it touched, an Observation for the
signal's health (firing = failure, none firing = success) whose detail names the alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from daemon.alerts.matchers import Matcher, compile_matchers, matches
from daemon.alerts.payload import Alert, AlertSource
from daemon.health.text import iso_utc
from daemon.model import Observation
from daemon.rules.model import AlertSignal, Rules

SignalKey = tuple[str, str, str]
"""(channel key, integration identifier, signal id), e.g. ("production/email",
"sendgrid-main", "alert")."""
AlertKey = tuple[AlertSource, str]
Firing = Mapping[AlertKey, Alert]


@dataclass(frozen=True, slots=True)
class Watch:
    """One alert signal of the rules and its compiled matchers."""

    spec: AlertSignal
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True, slots=True)
class AlertBook:
    watches: Mapping[SignalKey, Watch] = field(default_factory=dict)
    firing: Mapping[SignalKey, Firing] = field(default_factory=dict)
    """Per signal, its matching alerts that fire (an absent key: none)."""

    def firing_for(self, key: SignalKey) -> tuple[Alert, ...]:
        return _ordered(self.firing.get(key, {}).values())


@dataclass(frozen=True, slots=True)
class SignalUpdate:
    """What one signal learns from a notification or an expiry."""

    key: SignalKey
    firing: tuple[Alert, ...]
    """The matching alerts still firing, oldest first; empty = the signal is up."""
    observation: Observation


def build_book(rules: Rules, previous: AlertBook | None = None) -> AlertBook:
    """The book for `rules`' alert signals; a signal whose spec did not change keeps its
    firing alerts (like its health across a reload); a new or changed one starts quiet."""
    previous = previous or AlertBook()
    watches: dict[SignalKey, Watch] = {}
    firing: dict[SignalKey, Firing] = {}
    for rule in rules.channels:
        for candidate in rule.candidates:
            for signal_id, entry in zip(candidate.signal_ids(), candidate.signals, strict=True):
                if entry.alert is None:
                    continue
                key = (rule.key, candidate.integration, signal_id)
                old = previous.watches.get(key)
                if old is not None and old.spec == entry.alert:
                    watches[key] = old
                    if key in previous.firing:
                        firing[key] = previous.firing[key]
                else:
                    watches[key] = Watch(entry.alert, compile_matchers(entry.alert.matchers))
    return AlertBook(watches=watches, firing=firing)


def receive(
    book: AlertBook, alerts: Iterable[Alert], *, now: float
) -> tuple[AlertBook, tuple[SignalUpdate, ...]]:
    """Apply one notification's alerts, in order. Every signal a matching alert touched gets
    an update, also when its state does not change (the detail stays current)."""
    firing = {key: dict(alerts_) for key, alerts_ in book.firing.items()}
    touched: dict[SignalKey, Alert] = {}
    for alert in alerts:
        for key, watch in book.watches.items():
            if not matches(watch.matchers, alert.labels):
                continue
            touched[key] = alert
            current = firing.setdefault(key, {})
            if alert.firing_at(now):
                current[alert.key] = alert
            else:
                current.pop(alert.key, None)
    updates = tuple(
        _update(key, firing.get(key, {}), last=alert, now=now, why=_ended(alert, now=now))
        for key, alert in touched.items()
    )
    return _book(book, firing), updates


def expire(book: AlertBook, *, now: float) -> tuple[AlertBook, tuple[SignalUpdate, ...]]:
    """Drop firing alerts whose `endsAt` passed (a resolve that never came)."""
    firing: dict[SignalKey, dict[AlertKey, Alert]] = {}
    updates: list[SignalUpdate] = []
    for key, current in book.firing.items():
        kept = {k: a for k, a in current.items() if a.firing_at(now)}
        firing[key] = kept
        gone = [a for a in current.values() if not a.firing_at(now)]
        if gone:
            last = _ordered(gone)[-1]
            updates.append(_update(key, kept, last=last, now=now, why=_ended(last, now=now)))
    return _book(book, firing), tuple(updates)


def _book(book: AlertBook, firing: Mapping[SignalKey, Mapping[AlertKey, Alert]]) -> AlertBook:
    kept = {key: dict(alerts) for key, alerts in firing.items() if alerts}
    return AlertBook(watches=book.watches, firing=kept)


def _update(
    key: SignalKey, firing: Mapping[AlertKey, Alert], *, last: Alert, now: float, why: str
) -> SignalUpdate:
    ordered = _ordered(firing.values())
    ended = f"alert {last.name} {why} ({_origin(last)})"
    detail = _firing_text(ordered) if ordered else ended
    return SignalUpdate(
        key=key,
        firing=ordered,
        observation=Observation(key[2], ok=not ordered, at=now, detail=detail),
    )


def _firing_text(alerts: tuple[Alert, ...]) -> str:
    def one(alert: Alert) -> str:
        return f"{alert.name} firing since {iso_utc(alert.starts_at)} ({_origin(alert)})"

    if len(alerts) == 1:
        return f"alert {one(alerts[0])}"
    return f"{len(alerts)} alerts firing: " + "; ".join(one(a) for a in alerts)


def _ended(alert: Alert, *, now: float) -> str:
    if alert.firing_at(now):
        return "firing"
    if alert.status == "resolved":
        return "resolved"
    assert alert.ends_at is not None
    return f"ended: endsAt {iso_utc(alert.ends_at)} passed"


def _origin(alert: Alert) -> str:
    return f"{alert.source}, fingerprint {alert.fingerprint}"


def _ordered(alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    return tuple(sorted(alerts, key=lambda a: (a.starts_at, a.source, a.fingerprint)))
