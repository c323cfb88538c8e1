"""The alert webhooks: `POST /v1/alerts/alertmanager` and `POST /v1/alerts/grafana`.

Guarded like the control endpoints (the same bearer token, content type, size and JSON
checks); Grafana may sign instead (its webhook HMAC, `X-Grafana-Alerting-Signature`). A
refused webhook never reaches the daemon, so it changes nothing; each refusal says why in
the answer and in the log (reason, remote address, route). Every webhook is counted by
source and outcome: accepted, rejected (4xx on the body), unauthorized, error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from daemon.alerts import Alert, AlertPayloadError, AlertSource, parse_alertmanager, parse_grafana
from daemon.api.app import error_response, json_response
from daemon.api.auth import (
    GRAFANA_SIGNATURE_HEADER,
    grafana_signature_header,
    require_token,
    verify_grafana_signature,
)
from daemon.api.requests import ApiError, parse_json_object, read_body
from daemon.control import JSON
from daemon.logs import get_logger, log_event

log = get_logger(__name__)

AlertReceiver = Callable[[Sequence[Alert]], Awaitable[JSON]]
"""Takes a notification's alerts, returns the answer's body (the daemon's receive_alerts)."""
AlertCounter = Callable[[str, str], None]
"""(source, outcome) -> None; the daemon's `Metrics.alert_received`."""

ALERT_MAX_BODY_BYTES = 32 * 1024 * 1024
"""An Alertmanager group with `max_alerts: 0` carries every alert of the group (1-2 KiB
each): 32 MiB holds well over 15,000. Memory stays bounded: at most `MAX_BODIES_AT_ONCE`
bodies are read and parsed at a time."""
MAX_BODIES_AT_ONCE = 2


@dataclass(frozen=True, slots=True)
class GrafanaSigning:
    """Grafana's webhook HMAC settings, as configured on its contact point."""

    secret: SecretStr
    timestamp_header: str | None = "X-Grafana-Alerting-Signature-Timestamp"
    max_age: float = 300.0
    header: str = GRAFANA_SIGNATURE_HEADER


_PARSERS: dict[AlertSource, Callable[[object], tuple[Alert, ...]]] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
}


def alert_routes(
    receive: AlertReceiver,
    *,
    api_token: SecretStr | None,
    count: AlertCounter,
    max_body_bytes: int = ALERT_MAX_BODY_BYTES,
    grafana_signing: GrafanaSigning | None = None,
    clock: Callable[[], float] = time.time,
) -> list[Route]:
    """The two webhook routes, for `create_app(alert_routes=...)`."""
    gate = asyncio.Semaphore(MAX_BODIES_AT_ONCE)
    return [
        Route(
            f"/v1/alerts/{source}",
            _Webhook(
                source,
                receive,
                api_token=api_token,
                count=count,
                max_bytes=max_body_bytes,
                signing=grafana_signing if source == "grafana" else None,
                clock=clock,
                gate=gate,
            ).handle,
            methods=["POST"],
        )
        for source in _PARSERS
    ]


class _Webhook:
    def __init__(
        self,
        source: AlertSource,
        receive: AlertReceiver,
        *,
        api_token: SecretStr | None,
        count: AlertCounter,
        max_bytes: int,
        signing: GrafanaSigning | None,
        clock: Callable[[], float],
        gate: asyncio.Semaphore,
    ) -> None:
        self._source = source
        self._parse = _PARSERS[source]
        self._receive = receive
        self._token = api_token
        self._count = count
        self._max_bytes = max_bytes
        self._signing = signing
        self._clock = clock
        self._gate = gate
        self._route = f"/v1/alerts/{source}"

    async def handle(self, request: Request) -> Response:
        source = self._source
        signing = self._signing
        header = None if signing is None else grafana_signature_header(request, signing.header)
        if header is None:
            try:
                require_token(request, self._token)
            except ApiError as exc:
                return self._refuse(request, exc, "unauthorized")
        async with self._gate:
            try:
                raw = await read_body(request, max_bytes=self._max_bytes)
                if signing is not None and header is not None:
                    try:
                        verify_grafana_signature(
                            request,
                            raw,
                            signing.secret,
                            header=header,
                            timestamp_header=signing.timestamp_header,
                            max_age=signing.max_age,
                            now=self._clock(),
                        )
                    except ApiError as exc:
                        return self._refuse(request, exc, "unauthorized")
                alerts = self._parse(parse_json_object(raw))
            except ApiError as exc:
                return self._refuse(request, exc, "rejected")
            except AlertPayloadError as exc:
                details = [{"field": f, "message": m} for f, m in exc.problems]
                return self._refuse(request, ApiError(422, str(exc), details=details), "rejected")
            del raw
        try:
            answer = await self._receive(alerts)
        except Exception:
            self._count(source, "error")
            log.exception("internal error receiving a %s webhook", source)
            return error_response(500, "internal error")
        self._count(source, "accepted")
        return json_response(answer)

    def _refuse(self, request: Request, exc: ApiError, outcome: str) -> Response:
        self._count(self._source, outcome)
        remote = request.client.host if request.client else "unknown"
        log_event(
            log,
            logging.WARNING,
            "webhook",
            f"refused {self._source} webhook from {remote} on {self._route}: "
            f"{exc.status} {exc.message}",
            source=self._source,
            remote=remote,
            route=self._route,
            status=exc.status,
            outcome=outcome,
        )
        return error_response(exc.status, exc.message, details=exc.details)
