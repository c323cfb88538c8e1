"""The Novu simulator over HTTP: a Starlette app speaking Novu's API on top of NovuSimulator.

Every `/v1` request goes through the same pipeline, in this order:
faults (before) -> auth (401) -> rate limit (429) -> idempotency (400/409/422/replay) ->
latency -> Novu's logic -> faults (after) -> RateLimit-* headers.
Success bodies get the `{"data": ...}` envelope unless `sim.envelope` is off; errors are
Novu's ErrorDto. The control API for tests and demos lives under `/_sim/` (see
`daemon.sim.control`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from daemon.sim.control import control_routes
from daemon.sim.dto import RATE_LIMITED_BODY, UNAVAILABLE_BODY, error_body
from daemon.sim.faults import Fault
from daemon.sim.limits import MAX_IDEMPOTENCY_KEY, CachedResponse, Claim
from daemon.sim.state import CallRecord, NovuSimulator, SimEnvironment, SimError

__all__ = ["NovuSimulator", "create_novu_app"]

MAX_BODY = 1_000_000
ANONYMOUS = "anonymous"
_MUTATION = re.compile(r"^/v1/integrations/(?P<id>[^/]+)(?P<set_primary>/set-primary)?$")

Operation = Callable[[SimEnvironment, Request, bytes], Awaitable[tuple[int, Any]]]


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    fault: str | None = None
    executed: bool = False
    replay: bool = False
    result: int | None = None
    """The status Novu's logic produced, even when a fault then replaced the answer."""

    def response(self) -> Response:
        return Response(
            self.body, status_code=self.status, headers=self.headers, media_type="application/json"
        )


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Pipeline:
    def __init__(self, sim: NovuSimulator) -> None:
        self.sim = sim

    def error(self, request: Request, exc: SimError) -> _Answer:
        body = error_body(
            exc.status,
            path=request.url.path,
            message=exc.message,
            at=self.sim.clock.now(),
            extra=exc.extra,
        )
        return _Answer(exc.status, _json_bytes(body), dict(exc.headers))

    def _success(self, status: int, payload: Any) -> _Answer:
        paginated = isinstance(payload, dict) and "data" in payload
        if self.sim.envelope and not paginated:
            payload = {"data": payload}
        return _Answer(status, _json_bytes(payload), {})

    async def _fault(self, request: Request, fault: Fault) -> _Answer:
        if fault.kind == "timeout":
            await self.sim.hang(fault.delay)
            return _Answer(503, _json_bytes(UNAVAILABLE_BODY), {}, fault="timeout")
        if fault.kind == "rate_limit":
            retry = str(max(1, math.ceil(fault.delay)))
            return _Answer(
                429, _json_bytes(RATE_LIMITED_BODY), {"Retry-After": retry}, fault="rate_limit"
            )
        headers = {"Retry-After": str(math.ceil(fault.seconds))} if fault.seconds else {}
        if fault.status == 503:
            return _Answer(503, _json_bytes(UNAVAILABLE_BODY), headers, fault="error")
        error = SimError(
            500,
            "Internal server error (simulated)",
            extra={"errorId": f"sim-{self.sim.clock.now():.0f}"},
            headers=headers,
        )
        answer = self.error(request, error)
        answer.fault = "error"
        return answer

    async def run(self, request: Request, operation: Operation) -> Response:
        sim = self.sim
        arrived = sim.clock.now()
        method, path = request.method, request.url.path
        env = sim.authenticate(request.headers.get("authorization"))
        key = request.headers.get("idempotency-key")
        keyed = sim.idempotency and key is not None and method in ("POST", "PATCH")
        body = await request.body()
        answer = await self._answer(request, operation, env, body, key if keyed else None)
        if answer.executed or answer.replay:
            after = sim.faults.fire(method, path, phase="after")
            if after.terminal is not None:
                executed, result = answer.executed, answer.result
                answer = await self._fault(request, after.terminal)
                answer.executed, answer.result = executed, result
        bucket = env.id if env is not None else ANONYMOUS
        answer.headers.update(sim.limiter.headers(bucket, sim.clock.now()))
        if keyed and key is not None:
            answer.headers["Idempotency-Key"] = key
        self._record(request, env, key, body, answer, arrived=arrived)
        return answer.response()

    async def _answer(
        self,
        request: Request,
        operation: Operation,
        env: SimEnvironment | None,
        body: bytes,
        key: str | None,
    ) -> _Answer:
        sim = self.sim
        before = sim.faults.fire(request.method, request.url.path, phase="before")
        if before.terminal is not None:
            await sim.sleep(before.latency)
            return await self._fault(request, before.terminal)
        if env is None:
            return self.error(request, SimError(401, "API Key not found"))
        now = sim.clock.now()
        if not sim.limiter.take(env.id, now):
            retry = str(sim.limiter.retry_after(env.id, now))
            return _Answer(429, _json_bytes(RATE_LIMITED_BODY), {"Retry-After": retry})
        if len(body) > MAX_BODY:
            return self.error(request, SimError(413, "Request body too large"))
        if key is None:
            await sim.sleep(before.latency)
            return await self._execute(request, operation, env, body)
        return await self._execute_once(
            request, operation=operation, env=env, body=body, key=key, latency=before.latency
        )

    async def _execute_once(
        self,
        request: Request,
        *,
        operation: Operation,
        env: SimEnvironment,
        body: bytes,
        key: str,
        latency: float,
    ) -> _Answer:
        """Novu's idempotency interceptor: per organization + key, the path is not in it."""
        sim = self.sim
        if len(key) > MAX_IDEMPOTENCY_KEY:
            message = (
                f'idempotencyKey "{key[:32]}..." has exceeded the maximum allowed length '
                f"of {MAX_IDEMPOTENCY_KEY} characters"
            )
            return self.error(request, SimError(400, message))
        claim = sim.idempotency_store.claim(env.organization_id, key, body, now=sim.clock.now())
        if claim.claim is Claim.IN_PROGRESS:
            message = (
                f'Request with key "{key}" is currently being processed. '
                "Please retry after 1 second"
            )
            return self.error(request, SimError(409, message, headers={"Retry-After": "1"}))
        if claim.claim is Claim.MISMATCH:
            message = f'Request with key "{key}" is being reused for a different body'
            errors = {"idempotency-key": {"messages": [message], "value": key}}
            return self.error(request, SimError(422, message, extra={"errors": errors}))
        if claim.claim is Claim.REPLAY and claim.cached is not None:
            cached = claim.cached
            headers = dict(cached.headers) | {"Idempotency-Replay": "true"}
            return _Answer(cached.status, cached.body, headers, replay=True)
        try:
            await sim.sleep(latency)
            answer = await self._execute(request, operation, env, body)
        except BaseException:
            sim.idempotency_store.abandon(env.organization_id, key)
            raise
        cached = CachedResponse(answer.status, answer.body, tuple(answer.headers.items()))
        sim.idempotency_store.finish(env.organization_id, key, cached)
        return answer

    async def _execute(
        self, request: Request, operation: Operation, env: SimEnvironment, body: bytes
    ) -> _Answer:
        try:
            status, payload = await operation(env, request, body)
        except SimError as exc:
            answer = self.error(request, exc)
        else:
            answer = self._success(status, payload)
        answer.executed = True
        answer.result = answer.status
        return answer

    def _record(
        self,
        request: Request,
        env: SimEnvironment | None,
        key: str | None,
        body: bytes,
        answer: _Answer,
        *,
        arrived: float,
    ) -> None:
        match = _MUTATION.match(request.url.path)
        if match is None or request.method not in ("POST", "PUT"):
            return
        integration_id = match.group("id")
        known = next((i for i in self.sim.integrations() if i.id == integration_id.lower()), None)
        self.sim.record_call(
            CallRecord(
                at=self.sim.clock.now(),
                method=request.method,
                path=request.url.path,
                integration_id=integration_id,
                status=answer.status,
                environment=env.name if env is not None else None,
                identifier=known.identifier if known is not None else None,
                idempotency_key=key,
                replay=answer.replay,
                fault=answer.fault,
                executed=answer.executed,
                result=answer.result,
                body=_redacted_body(body),
                arrived_at=arrived,
            )
        )


def _redacted_body(raw: bytes) -> dict[str, Any] | None:
    """A PUT body for the call log, credentials replaced."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if "credentials" in body:
        body["credentials"] = "(redacted)"
    return body


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise SimError(400, [f"body is not valid JSON: {exc.msg}"]) from exc
    except UnicodeDecodeError as exc:
        raise SimError(400, ["body is not valid UTF-8"]) from exc


def _int_query(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SimError(
            400, [f"{name} must be a number conforming to the specified constraints"]
        ) from exc
    if not value.is_integer():
        raise SimError(400, [f"{name} must be an integer number"])
    return int(value)


def create_novu_app(sim: NovuSimulator) -> Starlette:
    """Novu's API (the calls a failover daemon makes) plus `/_sim/` control endpoints."""
    pipeline = _Pipeline(sim)

    async def list_all(env: SimEnvironment, request: Request, body: bytes) -> tuple[int, Any]:
        del request, body
        return 200, sim.list_integrations(env, active_only=False)

    async def list_active(env: SimEnvironment, request: Request, body: bytes) -> tuple[int, Any]:
        del request, body
        return 200, sim.list_integrations(env, active_only=True)

    async def set_primary(env: SimEnvironment, request: Request, body: bytes) -> tuple[int, Any]:
        del body
        return 200, sim.set_primary(env, request.path_params["integration_id"])

    async def update(env: SimEnvironment, request: Request, body: bytes) -> tuple[int, Any]:
        integration_id = request.path_params["integration_id"]
        return 200, sim.update_integration(env, integration_id, _json_body(body))

    async def messages(env: SimEnvironment, request: Request, body: bytes) -> tuple[int, Any]:
        del body
        return 200, sim.list_messages(
            env,
            channel=request.query_params.get("channel") or None,
            page=_int_query(request, "page", 0),
            limit=_int_query(request, "limit", 10),
            transaction_ids=tuple(request.query_params.getlist("transactionId")),
        )

    async def trigger(env: SimEnvironment, request: Request, body: bytes) -> tuple[int, Any]:
        del request
        return 201, sim.trigger(env, _json_body(body))

    def endpoint(operation: Operation) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await pipeline.run(request, operation)

        return handle

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = (
            "Method Not Allowed" if status == 405 else f"Cannot {request.method} {request.url.path}"
        )
        answer = pipeline.error(request, SimError(status, message))
        answer.headers.update(sim.limiter.headers(ANONYMOUS, sim.clock.now()))
        return answer.response()

    routes = [
        Route("/v1/integrations", endpoint(list_all), methods=["GET"]),
        Route("/v1/integrations/active", endpoint(list_active), methods=["GET"]),
        Route(
            "/v1/integrations/{integration_id}/set-primary", endpoint(set_primary), methods=["POST"]
        ),
        Route("/v1/integrations/{integration_id}", endpoint(update), methods=["PUT"]),
        Route("/v1/messages", endpoint(messages), methods=["GET"]),
        Route("/v1/events/trigger", endpoint(trigger), methods=["POST"]),
        Mount("/_sim", routes=control_routes(sim)),
    ]
    return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})
