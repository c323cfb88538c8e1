"""Alertmanager (webhook v4) and Grafana unified alerting (webhook v1) payloads -> Alerts.

Both send `{"version": ..., "status": ..., "alerts": [...]}` where each alert carries
`status` (firing | resolved), `labels`, `startsAt`, `endsAt` and `fingerprint` (Grafana adds
`orgId`, `title`, `state`, `message` at the top). Only what the daemon uses is checked; every
problem is reported at once with where it is. A firing alert's `endsAt` is the zero time
`0001-01-01T00:00:00Z` in both (Alertmanager hides a future end), which reads as None.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

AlertSource = Literal["alertmanager", "grafana"]
AlertStatus = Literal["firing", "resolved"]

EXPECTED_VERSION: dict[AlertSource, str] = {"alertmanager": "4", "grafana": "1"}
ROUTE: dict[AlertSource, str] = {
    "alertmanager": "/v1/alerts/alertmanager",
    "grafana": "/v1/alerts/grafana",
}
_SHOWN = 40
"""Longest piece of a payload value quoted back in an error."""


class AlertPayloadError(ValueError):
    """A webhook body that is not a payload of its source; `problems` are (field, message)."""

    def __init__(
        self, source: AlertSource, problems: list[tuple[str, str]], *, what: str = ""
    ) -> None:
        self.source = source
        self.problems = problems
        shown = "; ".join(message for _, message in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"not a valid {what or source + ' webhook payload'}: {shown}{more}")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of one notification. Times are epoch seconds; `ends_at` None = no end set."""

    source: AlertSource
    status: AlertStatus
    labels: Mapping[str, str]
    starts_at: float
    ends_at: float | None
    fingerprint: str

    @property
    def key(self) -> tuple[AlertSource, str]:
        """Identity of the alert across notifications (fingerprints are per source)."""
        return (self.source, self.fingerprint)

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or "(no alertname)"

    def firing_at(self, now: float) -> bool:
        """Firing and not past its `endsAt` (a lost resolve must not hold a signal down)."""
        return self.status == "firing" and (self.ends_at is None or self.ends_at > now)


def parse_alertmanager(payload: Any) -> tuple[Alert, ...]:
    """The alerts of an Alertmanager webhook (version 4); AlertPayloadError otherwise."""
    return _parse("alertmanager", payload)


def parse_grafana(payload: Any) -> tuple[Alert, ...]:
    """The alerts of a Grafana unified alerting webhook (version 1); AlertPayloadError else."""
    return _parse("grafana", payload)


def parse_alertmanager_api(payload: Any) -> tuple[Alert, ...]:
    """The alerts of an Alertmanager `GET /api/v2/alerts` answer (a list of gettableAlert)
    that are active or not yet processed; suppressed ones (silenced, inhibited) are left
    out. AlertPayloadError names every malformed item."""
    problems: list[tuple[str, str]] = []
    if not isinstance(payload, list):
        problems.append(("body", f"the answer must be a JSON list, not {_kind(payload)}"))
        raise AlertPayloadError("alertmanager", problems)
    alerts: list[Alert] = []
    for index, item in enumerate(payload):
        where = f"[{index}]"
        if not isinstance(item, dict):
            problems.append((where, f"{where} must be an object, not {_kind(item)}"))
            continue
        status = item.get("status")
        state = status.get("state") if isinstance(status, dict) else None
        if state not in ("active", "unprocessed", "suppressed"):
            got = "missing" if state is None else f"got {_show(state)}"
            msg = f"{where}.status.state must be active, unprocessed or suppressed ({got})"
            problems.append((f"{where}.status.state", msg))
            continue
        alert = _alert("alertmanager", {**item, "status": "firing"}, where, problems)
        if alert is not None and state != "suppressed":
            alerts.append(alert)
    if problems:
        raise AlertPayloadError("alertmanager", problems, what="Alertmanager API answer")
    return tuple(alerts)


def _parse(source: AlertSource, payload: Any) -> tuple[Alert, ...]:
    problems: list[tuple[str, str]] = []
    if not isinstance(payload, dict):
        problems.append(("body", f"body must be a JSON object, not {_kind(payload)}"))
        raise AlertPayloadError(source, problems)
    legacy = _check_version(source, payload, problems)
    raw_alerts = payload.get("alerts")
    if not isinstance(raw_alerts, list):
        if raw_alerts is None and not legacy:
            problems.append(("alerts", "alerts is required (a list of alerts)"))
        elif raw_alerts is not None:
            problems.append(("alerts", f"alerts must be a list, not {_kind(raw_alerts)}"))
        raise AlertPayloadError(source, problems)
    if problems:
        raise AlertPayloadError(source, problems)
    alerts = [_alert(source, item, f"alerts[{i}]", problems) for i, item in enumerate(raw_alerts)]
    if problems:
        raise AlertPayloadError(source, problems)
    return tuple(alert for alert in alerts if alert is not None)


def _check_version(
    source: AlertSource, payload: dict[str, Any], problems: list[tuple[str, str]]
) -> bool:
    """Record a wrong or missing version; True for a legacy Grafana notification."""
    expected = EXPECTED_VERSION[source]
    version = payload.get("version")
    if version == expected:
        return False
    if source == "grafana" and "alerts" not in payload and ("evalMatches" in payload):
        msg = (
            "this is a legacy Grafana alerting notification (evalMatches, no alerts); "
            "use Grafana unified alerting with a webhook contact point"
        )
        problems.append(("body", msg))
        return True
    other = next((s for s, v in EXPECTED_VERSION.items() if s != source and v == version), None)
    if other is not None:
        msg = f"version {version!r} is the {other} webhook format: send it to {ROUTE[other]}"
    elif version is None:
        msg = f"version is required ({source} webhooks send {expected!r})"
    else:
        msg = f"unknown version {_show(version)}; {source} webhooks send {expected!r}"
    problems.append(("version", msg))
    return False


def _alert(
    source: AlertSource, item: Any, where: str, problems: list[tuple[str, str]]
) -> Alert | None:
    if not isinstance(item, dict):
        problems.append((where, f"{where} must be an object, not {_kind(item)}"))
        return None
    before = len(problems)
    status = item.get("status")
    if status not in ("firing", "resolved"):
        got = "missing" if status is None else f"got {_show(status)}"
        problems.append((f"{where}.status", f"{where}.status must be firing or resolved ({got})"))
    labels = _labels(item.get("labels"), f"{where}.labels", problems)
    starts_at = _time(item.get("startsAt"), f"{where}.startsAt", problems, required=True)
    ends_at = _time(item.get("endsAt"), f"{where}.endsAt", problems, required=False)
    fingerprint = item.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        msg = f"{where}.fingerprint must be a string, not {_kind(fingerprint)}"
        problems.append((f"{where}.fingerprint", msg))
    if len(problems) > before or labels is None or starts_at is None:
        return None
    assert status in ("firing", "resolved")
    return Alert(
        source=source,
        status=status,
        labels=MappingProxyType(labels),
        starts_at=starts_at,
        ends_at=ends_at,
        fingerprint=fingerprint or label_fingerprint(labels),
    )


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for an alert sent without a fingerprint: a hash of its labels."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return "labels:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _labels(value: Any, where: str, problems: list[tuple[str, str]]) -> dict[str, str] | None:
    if value is None:
        problems.append((where, f"{where} is required (an object of label names to strings)"))
        return None
    if not isinstance(value, dict):
        problems.append((where, f"{where} must be an object, not {_kind(value)}"))
        return None
    bad = [name for name, text in value.items() if not isinstance(text, str)]
    for name in bad[:3]:
        msg = f"{where}.{name} must be a string, not {_kind(value[name])}"
        problems.append((f"{where}.{name}", msg))
    return None if bad else dict(value)


def _time(
    value: Any, where: str, problems: list[tuple[str, str]], *, required: bool
) -> float | None:
    """RFC 3339 with a zone -> epoch seconds; the zero time (year 1) -> None."""
    if value is None:
        if required:
            problems.append((where, f"{where} is required (an RFC 3339 time)"))
        return None
    if not isinstance(value, str):
        problems.append((where, f"{where} must be an RFC 3339 time string, not {_kind(value)}"))
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        msg = f"{where} is not an RFC 3339 time with a zone: {_show(value)}"
        problems.append((where, msg))
        return None
    if parsed.year <= 1:
        if required:
            problems.append((where, f"{where} must be a real time, not the zero time"))
        return None
    return parsed.timestamp()


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


DATASOURCE_ALERTNAMES = frozenset({"DatasourceNoData", "DatasourceError"})
"""The `alertname` Grafana gives the alert of a rule whose query returned no data or
failed (with the rule's own labels): it says the rule could not be judged."""


def is_datasource_alert(alert: Alert) -> bool:
    return alert.labels.get("alertname") in DATASOURCE_ALERTNAMES
