"""The `http` signal: request a URL; healthy on an expected status, in time, with the text."""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx

from daemon.health.classes import classify_status
from daemon.logs import get_logger
from daemon.model import FailureClass, Observation
from daemon.rules.model import HttpSignal
from daemon.signals.base import (
    Expander,
    FetchError,
    TemplateError,
    Timer,
    WebProbe,
    default_timer,
    describe_url,
    fetch,
    seconds,
)

log = get_logger(__name__)

MAX_BODY_SEARCH = 1024 * 1024
"""How much of the body `body_contains` looks through; a larger body is a failed check."""

_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _header(name: str, value: str) -> str:
    """`value` if HTTP can carry it; checked here because the HTTP stack's own complaint
    (and its debug log) would quote the value, which may be a secret."""
    if _HEADER_VALUE.fullmatch(value) is None:
        msg = f"header {name}: its value has characters a header cannot carry (CR, LF, non-ASCII)"
        raise TemplateError(msg)
    return value


class HttpProbe(WebProbe):
    """Checks one URL. `${NAME}` in the URL and header values is filled at each call."""

    def __init__(
        self,
        signal: str,
        spec: HttpSignal,
        *,
        http: httpx.AsyncClient,
        environ: Mapping[str, str],
        timer: Timer = default_timer,
    ) -> None:
        super().__init__(signal, http=http, environ=environ, timer=timer)
        self._spec = spec
        self._target = f"{spec.method} {describe_url(spec.url)}"

    async def __call__(self, *, now: float) -> Observation:
        spec = self._spec
        expand = Expander(self._environ)
        try:
            url = expand(spec.url)
            headers = {name: _header(name, expand(value)) for name, value in spec.headers.items()}
        except TemplateError as exc:
            return Observation(self._signal, None, now, f"{self._target}: {exc}")
        try:
            response = await fetch(
                self._http,
                spec.method,
                url,
                headers=headers,
                deadline=spec.timeout,
                timer=self._timer,
                read_body=spec.body_contains is not None,
                max_body=MAX_BODY_SEARCH,
            )
        except FetchError as exc:
            detail = expand.scrub(f"{self._target}: {exc.reason}")
            log.debug("signal %s: %s", self._signal, detail)
            return Observation(
                self._signal, False, now, detail, exc.latency, failure_class="outage"
            )
        problem = self._problem(response.status, response.latency, response.body)
        detail = f"{self._target} -> {response.status} in {seconds(response.latency)}"
        if problem is not None:
            detail = f"{detail} ({problem})"
        failure_class: FailureClass | None = None
        if problem is not None:
            failure_class = (
                "outage" if response.status in spec.expect else classify_status(response.status)
            )
        return Observation(
            self._signal,
            problem is None,
            now,
            expand.scrub(detail),
            response.latency,
            failure_class=failure_class,
        )

    def _problem(self, status: int, latency: float, body: bytes) -> str | None:
        """Why the answer is unhealthy, or None when it is healthy."""
        spec = self._spec
        if status not in spec.expect:
            expected = ", ".join(str(code) for code in spec.expect)
            return f"expected {expected}"
        if spec.max_latency is not None and latency > spec.max_latency:
            return f"over max latency {seconds(spec.max_latency)}"
        if spec.body_contains is not None and spec.body_contains.encode() not in body:
            return "body lacks the expected text"
        return None
