"""The alert webhooks: `POST /v1/alerts/alertmanager` and `POST /v1/alerts/grafana`.

Guarded like the control endpoints (the same bearer token, content type, size and JSON
checks); a refused webhook never reaches the daemon, so it changes nothing. Every webhook
is counted by source and outcome: accepted, rejected (4xx on the body), unauthorized, error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from daemon.alerts import Alert, AlertPayloadError, AlertSource, parse_alertmanager, parse_grafana
from daemon.api.app import error_response, json_response
from daemon.api.auth import require_token
from daemon.api.requests import ApiError, parse_json_object, read_body
from daemon.control import JSON

log = logging.getLogger(__name__)

AlertReceiver = Callable[[Sequence[Alert]], Awaitable[JSON]]
"""Takes a notification's alerts, returns the answer's body (the daemon's receive_alerts)."""
AlertCounter = Callable[[str, str], None]
"""(source, outcome) -> None; the daemon's `Metrics.alert_received`."""

ALERT_MAX_BODY_BYTES = 1_048_576
"""An Alertmanager group can carry hundreds of alerts (about 1 KiB each); 1 MiB bounds it."""

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
) -> list[Route]:
    """The two webhook routes, for `create_app(alert_routes=...)`."""
    return [
        Route(
            f"/v1/alerts/{source}",
            _endpoint(source, receive, api_token=api_token, count=count, max_bytes=max_body_bytes),
            methods=["POST"],
        )
        for source in _PARSERS
    ]


def _endpoint(
    source: AlertSource,
    receive: AlertReceiver,
    *,
    api_token: SecretStr | None,
    count: AlertCounter,
    max_bytes: int,
) -> Callable[[Request], Awaitable[Response]]:
    parse = _PARSERS[source]

    async def webhook(request: Request) -> Response:
        try:
            require_token(request, api_token)
        except ApiError as exc:
            count(source, "unauthorized")
            client = request.client.host if request.client else "unknown"
            log.warning(
                "refused %s webhook from %s: %s %s", source, client, exc.status, exc.message
            )
            return error_response(exc.status, exc.message)
        try:
            alerts = parse(parse_json_object(await read_body(request, max_bytes=max_bytes)))
        except ApiError as exc:
            count(source, "rejected")
            return error_response(exc.status, exc.message, details=exc.details)
        except AlertPayloadError as exc:
            count(source, "rejected")
            details = [{"field": field, "message": message} for field, message in exc.problems]
            return error_response(422, str(exc), details=details)
        try:
            answer = await receive(alerts)
        except Exception:
            count(source, "error")
            log.exception("internal error receiving a %s webhook", source)
            return error_response(500, "internal error")
        count(source, "accepted")
        return json_response(answer)

    return webhook
