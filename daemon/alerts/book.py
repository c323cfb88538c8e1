"""The alert book: per alert signal, the matching alerts that fire right now.

A signal is down while any matching alert fires and up when all resolved or passed their
`endsAt`. Two sources feed it: webhooks (`receive`, the fast path) and the Alertmanager
API (`reconcile`, the source of truth, read at start-up and on a schedule). Every step
returns a new book and, per signal it touched, an Observation for the signal's health
(firing = failure, none firing = success) whose detail names the alerts.

A resolve is final: once an alert (sender, fingerprint, startsAt) was resolved, a firing
notice of that same alert that arrives later (normal with an HA Alertmanager pair, or a
retried delivery) does not reopen it. The book remembers resolves for `RESOLVE_MEMORY`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from daemon.alerts.index import MatcherIndex
from daemon.alerts.matchers import Matcher, compile_matchers, matches
from daemon.alerts.payload import Alert, AlertSource, is_datasource_alert
from daemon.health.text import iso_utc
from daemon.model import Observation
from daemon.rules.model import AlertSignal, Rules

SignalKey = tuple[str, str, str]
"""(channel key, integration identifier, signal id), e.g. ("production/email",
"sendgrid-main", "alert")."""
AlertKey = tuple[AlertSource, str]
Firing = Mapping[AlertKey, Alert]
API = "the Alertmanager API"

RESOLVE_MEMORY = 900.0
"""Seconds a resolve is remembered to refuse a late firing notice of the same alert."""
MAX_RESOLVES = 10_000
"""Bound on remembered resolves (the oldest are forgotten first)."""


@dataclass(frozen=True, slots=True)
class Watch:
    """One alert signal of the rules and its compiled matchers."""

    spec: AlertSignal
    matchers: tuple[Matcher, ...]

    def wants(self, alert: Alert) -> bool:
        """The alert matches, and is not a datasource alert the signal ignores."""
        if not matches(self.matchers, alert.labels):
            return False
        return self.spec.datasource_alerts != "ignore" or not is_datasource_alert(alert)


@dataclass(frozen=True, slots=True)
class Resolve:
    """A resolve seen: the alert instance's `startsAt` and when the book learned it."""

    starts_at: float
    at: float


@dataclass(frozen=True, slots=True)
class AlertBook:
    watches: Mapping[SignalKey, Watch] = field(default_factory=dict)
    firing: Mapping[SignalKey, Firing] = field(default_factory=dict)
    """Per signal, its matching alerts that fire (an absent key: none)."""
    resolved: Mapping[AlertKey, Resolve] = field(default_factory=dict)
    heard: Mapping[AlertKey, float] = field(default_factory=dict)
    """When a webhook last spoke of each alert (a sync older than that does not undo it)."""
    reached: bool = False
    """Some source (a webhook or an Alertmanager sync) was heard since start; before that
    the alert signals are `unknown`."""
    index: MatcherIndex[SignalKey] = field(default_factory=MatcherIndex)
    """The watches by label (daemon.alerts.index), built with them by `build_book`."""

    def wanting(self, alert: Alert) -> list[SignalKey]:
        """The signals whose watch wants `alert`, in the rules' order."""
        watches = self.watches
        return [k for k in self.index.candidates(alert.labels) if watches[k].wants(alert)]

    def firing_for(self, key: SignalKey) -> tuple[Alert, ...]:
        return _ordered(self.firing.get(key, {}).values())


@dataclass(frozen=True, slots=True)
class SignalUpdate:
    """What one signal learns from a notification, a sync or an expiry."""

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
    index = MatcherIndex.build((key, watch.matchers) for key, watch in watches.items())
    return replace(previous, watches=watches, firing=firing, index=index)


def first_contact(
    book: AlertBook, *, now: float, via: str
) -> tuple[AlertBook, tuple[SignalUpdate, ...]]:
    """The first source heard since start (`via`: e.g. "webhook"): every alert signal
    leaves `unknown` for what the book holds. Nothing after the first time."""
    if book.reached:
        return book, ()
    reached = replace(book, reached=True)
    updates = tuple(
        _update(reached, key, reached.firing.get(key, {}), last=None, now=now, why=via)
        for key in reached.watches
    )
    return reached, updates


def receive(
    book: AlertBook, alerts: Iterable[Alert], *, now: float
) -> tuple[AlertBook, tuple[SignalUpdate, ...]]:
    """Apply one notification's alerts, in order. Every signal a matching alert touched gets
    an update, also when its state does not change (the detail stays current). A firing
    notice of an alert already resolved (same sender, fingerprint and startsAt) is stale
    and changes nothing."""
    firing = {key: dict(alerts_) for key, alerts_ in book.firing.items()}
    resolved = dict(book.resolved)
    heard = dict(book.heard)
    touched: dict[SignalKey, Alert] = {}
    for alert in alerts:
        keys = book.wanting(alert)
        if not keys or _stale(resolved, alert):
            continue
        heard[alert.key] = now
        if alert.status == "resolved":
            resolved[alert.key] = Resolve(alert.starts_at, now)
        for key in keys:
            touched[key] = alert
            current = firing.setdefault(key, {})
            if alert.firing_at(now):
                current[alert.key] = alert
            else:
                current.pop(alert.key, None)
    after = _book(book, firing, resolved=_forget(resolved, now=now), heard=heard, now=now)
    updates = tuple(
        _update(after, key, firing.get(key, {}), last=alert, now=now, why=_ended(alert, now=now))
        for key, alert in touched.items()
    )
    return after, updates


def reconcile(
    book: AlertBook, active: Sequence[Alert], *, as_of: float, now: float
) -> tuple[AlertBook, tuple[SignalUpdate, ...]]:
    """Make the book agree with Alertmanager's active alerts (`active`, read by a request
    sent at `as_of`; the merged answer of every Alertmanager reached).

    Alertmanager alerts in the book that are no longer active end; active ones that are
    missing (a lost or never-sent webhook, a restart) start firing. What a webhook said
    after `as_of` stands (the answer predates it), and a resolved alert stays resolved.
    Grafana's alerts are left as they are. Signals whose firing set changed get an update;
    on the first contact since start every signal does."""
    firing: dict[SignalKey, dict[AlertKey, Alert]] = {}
    wanted = [a for a in active if a.firing_at(now) and not _stale(book.resolved, a)]
    changed: dict[SignalKey, Alert | None] = {}
    wanted_by: dict[SignalKey, list[Alert]] = {}
    for alert in wanted:
        for key in book.wanting(alert):
            wanted_by.setdefault(key, []).append(alert)
    for key in book.watches:
        old = book.firing.get(key, {})
        kept = {
            k: a
            for k, a in old.items()
            if a.source != "alertmanager" or book.heard.get(k, float("-inf")) > as_of
        }
        for alert in wanted_by.get(key, ()):
            if alert.key not in kept:
                kept[alert.key] = alert
        firing[key] = kept
        if kept.keys() != old.keys():
            came = [a for k, a in kept.items() if k not in old]
            gone = [a for k, a in old.items() if k not in kept]
            changed[key] = _ordered(came or gone)[-1]
        elif not book.reached:
            changed[key] = None
    reached = replace(book, reached=True)
    after = _book(reached, firing, resolved=book.resolved, heard=book.heard, now=now)
    updates = []
    for key, last in changed.items():
        if last is None:
            why = API
        elif last.key in firing[key]:
            why = "firing"
        else:
            why = "no longer active in Alertmanager"
        updates.append(_update(after, key, firing[key], last=last, now=now, why=why))
    return after, tuple(updates)


def expire(book: AlertBook, *, now: float) -> tuple[AlertBook, tuple[SignalUpdate, ...]]:
    """Drop firing alerts whose `endsAt` passed (a resolve that never came)."""
    firing: dict[SignalKey, dict[AlertKey, Alert]] = {}
    updates: list[SignalUpdate] = []
    for key, current in book.firing.items():
        firing[key] = {k: a for k, a in current.items() if a.firing_at(now)}
    after = _book(book, firing, resolved=book.resolved, heard=book.heard, now=now)
    for key, current in book.firing.items():
        gone = [a for a in current.values() if not a.firing_at(now)]
        if gone:
            last = _ordered(gone)[-1]
            updates.append(
                _update(after, key, firing[key], last=last, now=now, why=_ended(last, now=now))
            )
    return after, tuple(updates)


def unmatched(book: AlertBook, alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    """The alerts that match no alert signal (counted and logged, never acted on)."""
    return tuple(a for a in alerts if not book.wanting(a))


def _stale(resolved: Mapping[AlertKey, Resolve], alert: Alert) -> bool:
    """A firing notice of an alert instance already resolved."""
    seen = resolved.get(alert.key)
    return alert.status == "firing" and seen is not None and alert.starts_at <= seen.starts_at


def _forget(resolved: Mapping[AlertKey, Resolve], *, now: float) -> dict[AlertKey, Resolve]:
    kept = {k: r for k, r in resolved.items() if now - r.at < RESOLVE_MEMORY}
    if len(kept) > MAX_RESOLVES:
        newest = sorted(kept.items(), key=lambda item: item[1].at)[-MAX_RESOLVES:]
        kept = dict(newest)
    return kept


def _book(
    book: AlertBook,
    firing: Mapping[SignalKey, Mapping[AlertKey, Alert]],
    *,
    resolved: Mapping[AlertKey, Resolve],
    heard: Mapping[AlertKey, float],
    now: float,
) -> AlertBook:
    kept = {key: dict(alerts) for key, alerts in firing.items() if alerts}
    live = {k for alerts in kept.values() for k in alerts}
    # Remember when a webhook spoke of an alert only while that can still matter.
    recent = {k: at for k, at in heard.items() if k in live or now - at < RESOLVE_MEMORY}
    return replace(book, firing=kept, resolved=resolved, heard=recent)


def _update(
    book: AlertBook,
    key: SignalKey,
    firing: Mapping[AlertKey, Alert],
    *,
    last: Alert | None,
    now: float,
    why: str,
) -> SignalUpdate:
    ordered = _ordered(firing.values())
    watch = book.watches[key]
    counted = [a for a in ordered if not _undecided(watch, a)]
    if ordered:
        ok: bool | None = False if counted else None
        detail = _firing_text(ordered)
        if not counted:
            detail += " (a datasource alert: the rule could not be evaluated)"
    else:
        ok = True
        ended = None if last is None else f"alert {last.name} {why} ({_origin(last)})"
        detail = ended or f"{why}: none firing"
    return SignalUpdate(
        key=key, firing=ordered, observation=Observation(key[2], ok=ok, at=now, detail=detail)
    )


def _undecided(watch: Watch, alert: Alert) -> bool:
    """A Grafana NoData/Error alert the signal reads as `unknown` rather than down."""
    return watch.spec.datasource_alerts == "unknown" and is_datasource_alert(alert)


def _firing_text(alerts: tuple[Alert, ...]) -> str:
    def one(alert: Alert) -> str:
        return f"{alert.name} firing since {iso_utc(alert.starts_at)} ({_origin(alert)})"

    if len(alerts) == 1:
        return f"alert {one(alerts[0])}"
    shown = "; ".join(one(a) for a in alerts[:5])
    more = f"; and {len(alerts) - 5} more" if len(alerts) > 5 else ""
    return f"{len(alerts)} alerts firing: {shown}{more}"


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
