"""Alert-driven health: webhook payloads -> alerts -> the alert signals they move. Pure.

Alertmanager (webhook v4) and Grafana unified alerting (webhook v1) push notifications; the
daemon keeps, per alert signal, the matching alerts that fire, so the signal is down while
any of them fires and up again when all resolved (or passed their `endsAt`).
"""

from daemon.alerts.book import (
    AlertBook,
    SignalKey,
    SignalUpdate,
    build_book,
    expire,
    first_contact,
    receive,
    reconcile,
    unmatched,
)
from daemon.alerts.matchers import Matcher, compile_matchers, matches
from daemon.alerts.payload import (
    Alert,
    AlertPayloadError,
    AlertSource,
    is_datasource_alert,
    parse_alertmanager,
    parse_alertmanager_api,
    parse_grafana,
)

__all__ = [
    "Alert",
    "AlertBook",
    "AlertPayloadError",
    "AlertSource",
    "Matcher",
    "SignalKey",
    "SignalUpdate",
    "build_book",
    "compile_matchers",
    "expire",
    "first_contact",
    "is_datasource_alert",
    "matches",
    "parse_alertmanager",
    "parse_alertmanager_api",
    "parse_grafana",
    "receive",
    "reconcile",
    "unmatched",
]
