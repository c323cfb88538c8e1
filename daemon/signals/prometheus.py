"""The `prometheus` signal: a PromQL instant query compared with a threshold.

Down when the value is above (or below, per `unhealthy_when`) the threshold; equal is
healthy. An empty result means what `on_empty` says. NaN, an error answer or an unreachable
Prometheus is *unknown*: a monitoring outage is no evidence about the provider.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx

from daemon.logs import get_logger
from daemon.model import Observation
from daemon.rules.model import PrometheusSignal
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

QUERY_PATH = "/api/v1/query"
_ON_EMPTY: Mapping[str, bool | None] = {"up": True, "down": False, "unknown": None}


def query_url(url: str) -> str:
    """The instant-query endpoint under a Prometheus base URL (kept if already given);
    a query string on `url` stays (the `query` parameter is added to it)."""
    base, sep, query = url.partition("?")
    base = base.rstrip("/")
    if not base.endswith(QUERY_PATH):
        base += QUERY_PATH
    return base + sep + query


class PromQueryError(ValueError):
    """The answer is not a usable instant-query result; the message is safe to show."""


def first_sample(document: Any) -> tuple[float | None, int]:
    """(value of the first sample or None when empty, number of series) of a query answer."""
    if not isinstance(document, dict):
        msg = "answer is not a JSON object"
        raise PromQueryError(msg)
    if document.get("status") != "success":
        error = document.get("error") or document.get("errorType") or "no reason given"
        msg = f"query failed: {clip(str(error))}"
        raise PromQueryError(msg)
    data = document.get("data")
    if not isinstance(data, dict):
        msg = "answer has no data"
        raise PromQueryError(msg)
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _sample_value(result), 1
    if kind == "vector" and isinstance(result, list):
        if not result:
            return None, 0
        first = result[0]
        if not isinstance(first, dict):
            msg = "malformed vector sample"
            raise PromQueryError(msg)
        return _sample_value(first.get("value")), len(result)
    msg = f"expected an instant vector or scalar, got {clip(str(kind), 20)}"
    raise PromQueryError(msg)


def _sample_value(pair: Any) -> float:
    """The float of a `[timestamp, "value"]` pair (Prometheus sends values as strings)."""
    if not isinstance(pair, list) or len(pair) != 2:
        msg = "malformed sample"
        raise PromQueryError(msg)
    try:
        return float(pair[1])
    except (TypeError, ValueError) as exc:
        msg = f"sample value {clip(str(pair[1]), 20)!r} is not a number"
        raise PromQueryError(msg) from exc


class PrometheusProbe(WebProbe):
    """Runs one instant query against one Prometheus server."""

    def __init__(
        self,
        signal: str,
        spec: PrometheusSignal,
        *,
        http: httpx.AsyncClient,
        environ: Mapping[str, str],
        timer: Timer = default_timer,
    ) -> None:
        super().__init__(signal, http=http, environ=environ, timer=timer)
        self._spec = spec
        self._server = describe_url(query_url(spec.url))

    async def __call__(self, *, now: float) -> Observation:
        expand = Expander(self._environ)
        try:
            url = query_url(expand(self._spec.url))
        except TemplateError as exc:
            return Observation(self._signal, None, now, f"{exc} ({self._server})")
        try:
            response = await fetch(
                self._http,
                "GET",
                url,
                params={"query": self._spec.query},
                deadline=self._spec.timeout,
                timer=self._timer,
            )
        except FetchError as exc:
            detail = expand.scrub(f"prometheus unreachable: {exc.reason} ({self._server})")
            log.debug("signal %s: %s", self._signal, detail)
            return Observation(self._signal, None, now, detail, exc.latency)
        ok, verdict = self._judge(response.status, response.body)
        detail = expand.scrub(f"{verdict} ({self._server})")
        return Observation(self._signal, ok, now, detail, response.latency)

    def _judge(self, status: int, body: bytes) -> tuple[bool | None, str]:
        try:
            document = json.loads(body)
        except ValueError:
            return None, f"prometheus answered {status} without JSON"
        try:
            value, series = first_sample(document)
        except PromQueryError as exc:
            return None, f"prometheus answered {status}: {exc}" if status != 200 else str(exc)
        if status != 200:
            return None, f"prometheus answered {status}"
        return self._verdict(value, series)

    def _verdict(self, value: float | None, series: int) -> tuple[bool | None, str]:
        spec = self._spec
        if value is None:
            return _ON_EMPTY[spec.on_empty], f"empty result (on_empty: {spec.on_empty})"
        if math.isnan(value):
            return None, "value is NaN"
        if spec.unhealthy_when == "above":
            crossed, sign = value > spec.threshold, (">" if value > spec.threshold else "<=")
        else:
            crossed, sign = value < spec.threshold, ("<" if value < spec.threshold else ">=")
        which = f" (first of {series} series)" if series > 1 else ""
        return not crossed, f"value {value:g} {sign} threshold {spec.threshold:g}{which}"
