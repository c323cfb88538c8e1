"""The daemon's HTTP API: metrics, probes, read-only status and the control endpoints.

It only translates HTTP to `ControlPlane` calls. Every request is checked here first (token,
content type, size, JSON shape); a refused request never reaches the plane. Plane methods
run on the event loop thread, where the service keeps its state, never in a thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from daemon.api.auth import actor, require_token
from daemon.api.page import StatusPage, TimelineSource
from daemon.api.requests import (
    CHANNEL_PATTERN,
    MAX_PAUSE_SECONDS,
    AckBody,
    ApiError,
    FailoverBody,
    PauseBody,
    ResumeBody,
    query_int,
    read_model,
)
from daemon.api.status_encoding import StatusEncoder, encode_json
from daemon.api.status_query import parse_status_query
from daemon.clock import Clock, SystemClock
from daemon.control import JSON, ControlError, ControlPlane
from daemon.durations import format_duration, parse_duration
from daemon.exposition import TextFamilies, chunks, exposition_parts, negotiate

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_EVENTS_PAGE = 500
MAX_EVENTS_OFFSET = 1_000_000
_NO_STORE = {"cache-control": "no-store"}
_CHANNEL_KEY = re.compile(CHANNEL_PATTERN)
_LONGEST = f"a pause ends at most {format_duration(MAX_PAUSE_SECONDS)} from now"


class _SafeJSONResponse(JSONResponse):
    """JSON that always renders: every registered secret and URL password redacted (views
    show what people typed, and a pasted key must not come back), non-finite numbers as
    text, and text that cannot be UTF-8 (a lone surrogate) replaced rather than a 500."""

    def render(self, content: Any) -> bytes:
        return encode_json(content)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _SafeJSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def error_response(status: int, message: str, *, details: Any = None) -> Response:
    body: JSON = {"error": message}
    if details:
        body["details"] = details
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return json_response(body, status, headers)


def _guarded(endpoint: Endpoint) -> Endpoint:
    """Answer refusals with their status and anything unexpected with a bare 500, logged."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiError as exc:
            if exc.status in (401, 403):
                client = request.client.host if request.client else "unknown"
                log.warning(
                    "refused %s %s from %s: %s %s",
                    request.method,
                    request.url.path,
                    client,
                    exc.status,
                    exc.message,
                )
            return error_response(exc.status, exc.message, details=exc.details)
        except ControlError as exc:
            return error_response(exc.status, exc.message)
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.url.path)
            return error_response(500, "internal error")

    return guarded


class _Api:
    def __init__(
        self,
        plane: ControlPlane,
        *,
        registry: CollectorRegistry,
        families: Sequence[TextFamilies],
        api_token: SecretStr | None,
        max_body_bytes: int,
        clock: Clock,
    ) -> None:
        self.plane = plane
        self.registry = registry
        self.families = families
        self.api_token = api_token
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.status_encoder = StatusEncoder()

    async def metrics(self, request: Request) -> Response:
        fmt = negotiate(request.headers.get("accept", ""))
        # Rendered in a worker thread: even with most channels' text kept between scrapes,
        # it would hold the event loop (and /healthz, probes, the API) for milliseconds.
        # Sent in ~1 MB pieces: no 13 MB copy of the whole exposition at 1,000 channels.
        parts = await asyncio.to_thread(exposition_parts, self.registry, self.families, fmt)

        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks(parts):
                yield chunk

        return StreamingResponse(body(), headers={"content-type": fmt.content_type})

    async def healthz(self, request: Request) -> Response:
        try:
            ok, detail = self.plane.alive()
        except Exception:
            log.exception("liveness check failed")
            ok, detail = False, "liveness check failed"
        return json_response({"ok": ok, "detail": detail}, 200 if ok else 503)

    async def readyz(self, request: Request) -> Response:
        try:
            ok, detail = self.plane.ready()
        except Exception:
            log.exception("readiness check failed")
            ok, detail = False, {"error": "readiness check failed"}
        return json_response({"ok": ok, "detail": detail}, 200 if ok else 503)

    async def status(self, request: Request) -> Response:
        query = parse_status_query(request.query_params)
        document = await self.plane.status(query)
        # Encoded in a worker thread (like /metrics): a thousand channels in full take long
        # enough to stall /healthz and the probes; unchanged channels' bytes are reused.
        body = await asyncio.to_thread(self.status_encoder.encode, document)
        return Response(body, media_type="application/json", headers=_NO_STORE)

    async def events(self, request: Request) -> Response:
        limit = query_int(request, "limit", default=50, low=1, high=MAX_EVENTS_PAGE)
        offset = query_int(request, "offset", default=0, low=0, high=MAX_EVENTS_OFFSET)
        return json_response(await self.plane.events(limit=limit, offset=offset))

    async def explain(self, request: Request) -> Response:
        key = f"{request.path_params['environment']}/{request.path_params['channel']}"
        if _CHANNEL_KEY.fullmatch(key) is None:
            msg = f"no channel {key[:100]!r}: channels look like environment/channel"
            raise ApiError(404, msg)
        return json_response(self.plane.explain(key))

    async def pause(self, request: Request) -> Response:
        require_token(request, self.api_token)
        body = await read_model(request, PauseBody, max_bytes=self.max_body_bytes)
        until = self._pause_until(body)
        result = await self.plane.pause(
            channel=body.channel, until=until, reason=body.reason, by=actor(request)
        )
        return json_response(result)

    async def resume(self, request: Request) -> Response:
        require_token(request, self.api_token)
        body = await read_model(request, ResumeBody, max_bytes=self.max_body_bytes)
        return json_response(await self.plane.resume(channel=body.channel, by=actor(request)))

    async def ack(self, request: Request) -> Response:
        require_token(request, self.api_token)
        body = await read_model(request, AckBody, max_bytes=self.max_body_bytes)
        return json_response(await self.plane.ack(channel=body.channel, by=actor(request)))

    async def failover(self, request: Request) -> Response:
        require_token(request, self.api_token)
        body = await read_model(request, FailoverBody, max_bytes=self.max_body_bytes)
        result = await self.plane.failover(
            channel=body.channel,
            target=body.target,
            force=body.force,
            reason=body.reason,
            by=actor(request),
        )
        return json_response(result)

    def _pause_until(self, body: PauseBody) -> float | None:
        """The pause's end as epoch seconds from `for` or `until`; None means until resumed."""
        now = self.clock.now()
        if body.for_ is not None and body.until is not None:
            raise ApiError(422, "give either for or until, not both")
        if body.for_ is not None:
            try:
                seconds = parse_duration(body.for_)
            except ValueError as exc:
                raise ApiError(422, f"for: {exc}") from exc
            if seconds <= 0:
                raise ApiError(422, "for: a pause lasts longer than 0s")
            if seconds > MAX_PAUSE_SECONDS:
                raise ApiError(
                    422, f"for: {_LONGEST}; leave out for and until to pause until resumed"
                )
            return now + seconds
        if body.until is not None:
            if not math.isfinite(body.until):
                raise ApiError(422, "until: must be a finite number of epoch seconds")
            if body.until <= now:
                ago = format_duration(now - body.until)
                raise ApiError(422, f"until: {body.until:.0f} is in the past ({ago} ago)")
            if body.until > now + MAX_PAUSE_SECONDS:
                shown = f"{body.until:.0f}" if body.until < 1e12 else f"{body.until:g}"
                msg = f"until: {shown} is too far ahead: {_LONGEST}"
                raise ApiError(422, msg)
            return body.until
        return None


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON, like every other answer."""
    assert isinstance(exc, HTTPException)
    message = "not found" if exc.status_code == 404 else str(exc.detail)
    response = error_response(exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal error")


def create_app(
    plane: ControlPlane,
    *,
    registry: CollectorRegistry,
    families: Sequence[TextFamilies] = (),
    api_token: SecretStr | None,
    max_body_bytes: int = 16_384,
    alert_routes: Sequence[BaseRoute] = (),
    clock: Clock | None = None,
    timeline: TimelineSource | None = None,
) -> Starlette:
    """The API app over `plane`. `/metrics` shows `registry` and `families` (the daemon's
    per-channel series, `Metrics.families`); `api_token` None disables the control
    endpoints (403); `alert_routes` (the alert webhooks) are mounted as they are; `clock`
    turns `for` into an end time (the system clock unless a test passes a fake one);
    `timeline` feeds the status page's picture (without it the page shows the status
    alone)."""
    api = _Api(
        plane,
        registry=registry,
        families=families,
        api_token=api_token,
        max_body_bytes=max_body_bytes,
        clock=clock or SystemClock(),
    )
    get, post = ["GET"], ["POST"]
    routes: list[BaseRoute] = [
        Route("/", _guarded(StatusPage(plane, timeline)), methods=get),
        Route("/metrics", _guarded(api.metrics), methods=get),
        Route("/healthz", _guarded(api.healthz), methods=get),
        Route("/readyz", _guarded(api.readyz), methods=get),
        Route("/v1/status", _guarded(api.status), methods=get),
        Route("/v1/events", _guarded(api.events), methods=get),
        Route("/v1/explain/{environment}/{channel}", _guarded(api.explain), methods=get),
        Route("/v1/pause", _guarded(api.pause), methods=post),
        Route("/v1/resume", _guarded(api.resume), methods=post),
        Route("/v1/ack", _guarded(api.ack), methods=post),
        Route("/v1/failover", _guarded(api.failover), methods=post),
        *alert_routes,
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
