"""The `statuspage` signal: named components of an Atlassian Statuspage.

Down when a named component is in one of the `unhealthy` statuses; up when every named
component is on the page with a known, healthy status. Anything less certain is *unknown*:
a component that is not on the page, a status value Statuspage does not document, or a page
we could not read. An unreachable status page says more about the status page than about
the provider, so it is no evidence either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from daemon.logs import get_logger
from daemon.model import FailureClass, Observation
from daemon.rules.model import STATUSPAGE_STATUSES, StatuspageSignal
from daemon.signals.base import (
    Expander,
    FetchError,
    TemplateError,
    Timer,
    WebProbe,
    clip,
    default_timer,
    describe_url,
    fetch,
)

log = get_logger(__name__)

SUMMARY_PATH = "/api/v2/summary.json"


def summary_url(url: str) -> str:
    """The page's summary document: `url` itself when it names a `.json`, else the root's."""
    if url.split("?", 1)[0].endswith(".json"):
        return url
    return url.rstrip("/") + SUMMARY_PATH


class SummaryShapeError(ValueError):
    """The document is JSON but not a Statuspage summary."""


def component_statuses(document: Any) -> dict[str, list[str]]:
    """Lower-cased component name -> the statuses of every component by that name.

    A group is a component too and can be named. Raises
    SummaryShapeError when the document does not have Statuspage's shape.
    """
    if not isinstance(document, dict) or not isinstance(document.get("components"), list):
        msg = "no components list"
        raise SummaryShapeError(msg)
    statuses: dict[str, list[str]] = {}
    for component in document["components"]:
        if not isinstance(component, dict):
            continue
        name, status = component.get("name"), component.get("status")
        if isinstance(name, str) and isinstance(status, str):
            statuses.setdefault(name.strip().casefold(), []).append(status)
    return statuses


class StatuspageProbe(WebProbe):
    """Reads `/api/v2/summary.json` and judges the named components."""

    def __init__(
        self,
        signal: str,
        spec: StatuspageSignal,
        *,
        http: httpx.AsyncClient,
        environ: Mapping[str, str],
        timer: Timer = default_timer,
    ) -> None:
        super().__init__(signal, http=http, environ=environ, timer=timer)
        self._spec = spec
        self._page = describe_url(summary_url(spec.url))

    async def __call__(self, *, now: float) -> Observation:
        expand = Expander(self._environ)
        try:
            url = summary_url(expand(self._spec.url))
        except TemplateError as exc:
            return Observation(self._signal, None, now, f"{exc} ({self._page})")
        try:
            response = await fetch(
                self._http, "GET", url, deadline=self._spec.timeout, timer=self._timer
            )
        except FetchError as exc:
            detail = expand.scrub(f"status page unreadable: {exc.reason} ({self._page})")
            log.debug("signal %s: %s", self._signal, detail)
            return Observation(self._signal, None, now, detail, exc.latency)
        ok, verdict = self._judge(response.status, response.body)
        detail = expand.scrub(f"{verdict} ({self._page})")
        # a component in an outage state
        failure_class: FailureClass | None = "outage" if ok is False else None
        return Observation(
            self._signal, ok, now, detail, response.latency, failure_class=failure_class
        )

    def _judge(self, status: int, body: bytes) -> tuple[bool | None, str]:
        if status != 200:
            return None, f"status page unreadable: answered {status}"
        try:
            document = json.loads(body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            return None, "status page unreadable: not JSON"
        try:
            statuses = component_statuses(document)
        except SummaryShapeError as exc:
            return None, f"status page unreadable: {exc}"
        return self._verdict(statuses)

    def _verdict(self, statuses: Mapping[str, list[str]]) -> tuple[bool | None, str]:
        unhealthy: list[str] = []
        missing: list[str] = []
        strange: list[str] = []
        seen: list[str] = []
        for name in self._spec.components:
            found = statuses.get(name.strip().casefold())
            if not found:
                missing.append(name)
                continue
            for status in found:
                if status in self._spec.unhealthy:
                    unhealthy.append(f"{name}: {status}")
                elif status not in STATUSPAGE_STATUSES:
                    strange.append(f"{name}: unknown status {clip(status, 40)!r}")
                else:
                    seen.append(f"{name}: {status}")
        if unhealthy:
            return False, "; ".join(unhealthy)
        if missing:
            names = ", ".join(repr(name) for name in missing)
            noun = "component" if len(missing) == 1 else "components"
            return None, f"{noun} {names} not on the page"
        if strange:
            return None, "; ".join(strange)
        return True, "; ".join(dict.fromkeys(seen))
