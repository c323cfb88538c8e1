"""Read the active alerts of each configured Alertmanager (`GET /api/v2/alerts`).

Thin adapter: one request per Alertmanager and distinct matcher set of the alert signals
(`filter=` takes Alertmanager matchers, ANDed), asking only for alerts that notify:
`active=true&silenced=false&inhibited=false`. The answers of the Alertmanagers reached
are merged (an HA pair answers alike, up to gossip delay). An Alertmanager counts as
reached only when all its requests succeeded: a partial answer would end alerts that fire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from daemon.alerts import Alert, AlertPayloadError, parse_alertmanager_api
from daemon.rules.model import Alertmanagers, AlertmanagerServer
from daemon.signals.base import (
    Expander,
    FetchError,
    TemplateError,
    Timer,
    clip,
    default_timer,
    describe_url,
    fetch,
)

API_PATH = "/api/v2/alerts"
BASE_QUERY = (("active", "true"), ("silenced", "false"), ("inhibited", "false"))
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""Tens of thousands of alerts (about 1 KiB each) fit; a bigger answer is a failed read."""


@dataclass(frozen=True, slots=True)
class ServerAnswer:
    """One Alertmanager's answer: its alerts, or why it could not be read."""

    server: str
    """`host:port/path`, never credentials or a query."""
    alerts: tuple[Alert, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ActiveAlerts:
    """The merged answer of one read of every configured Alertmanager."""

    alerts: tuple[Alert, ...]
    answers: tuple[ServerAnswer, ...]

    @property
    def reached(self) -> bool:
        return any(answer.error is None for answer in self.answers)


def matcher_sets(rules_matchers: Iterable[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    """The distinct matcher sets to ask for, in a stable order."""
    return tuple(sorted({tuple(sorted(matchers)) for matchers in rules_matchers}))


async def read_active_alerts(
    http: httpx.AsyncClient,
    config: Alertmanagers,
    *,
    filters: Sequence[Sequence[str]],
    environ: Mapping[str, str],
    timer: Timer = default_timer,
) -> ActiveAlerts:
    """Ask every Alertmanager at once; merge the answers of those reached."""
    answers = await asyncio.gather(
        *(
            _read(http, server, config=config, filters=filters, environ=environ, timer=timer)
            for server in config.servers
        )
    )
    reached = [a.alerts for a in answers if a.error is None]
    return ActiveAlerts(alerts=merge(reached), answers=tuple(answers))


def merge(answers: Iterable[Iterable[Alert]]) -> tuple[Alert, ...]:
    """One alert per fingerprint: the latest instance (startsAt), then the latest end."""
    chosen: dict[str, Alert] = {}
    for alerts in answers:
        for alert in alerts:
            seen = chosen.get(alert.fingerprint)
            if seen is None or _later(alert, seen):
                chosen[alert.fingerprint] = alert
    return tuple(chosen[key] for key in sorted(chosen))


def _later(alert: Alert, seen: Alert) -> bool:
    if alert.starts_at != seen.starts_at:
        return alert.starts_at > seen.starts_at
    if seen.ends_at is None:
        return False
    return alert.ends_at is None or alert.ends_at > seen.ends_at


async def _read(
    http: httpx.AsyncClient,
    server: AlertmanagerServer,
    *,
    config: Alertmanagers,
    filters: Sequence[Sequence[str]],
    environ: Mapping[str, str],
    timer: Timer,
) -> ServerAnswer:
    name = describe_url(server.url.rstrip("/") + API_PATH)
    expand = Expander(environ)
    try:
        base = expand(server.url).rstrip("/") + API_PATH
        headers = {key: expand(value) for key, value in server.headers.items()}
    except TemplateError as exc:
        return ServerAnswer(name, error=str(exc))
    found: list[Alert] = []
    for matchers in filters:
        query = urlencode([*BASE_QUERY, *(("filter", m) for m in matchers)])
        try:
            response = await fetch(
                http,
                "GET",
                f"{base}?{query}",
                headers={"Accept": "application/json", **headers},
                deadline=config.timeout,
                timer=timer,
                max_body=MAX_ANSWER_BYTES,
            )
        except FetchError as exc:
            return ServerAnswer(name, error=expand.scrub(exc.reason))
        if response.status != 200:
            shown = clip(response.body.decode("utf-8", "replace"), 200)
            return ServerAnswer(name, error=expand.scrub(f"HTTP {response.status}: {shown}"))
        try:
            found.extend(parse_alertmanager_api(json.loads(response.body)))
        except (ValueError, RecursionError, AlertPayloadError) as exc:
            return ServerAnswer(name, error=expand.scrub(clip(f"bad answer: {exc}", 300)))
    return ServerAnswer(name, alerts=tuple(found))
