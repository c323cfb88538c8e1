"""The simulator's own JSON control API under `/_sim/` (tests, demos, curl). No auth: loopback.

GET  /_sim/state                         integrations (no credentials), options, faults
POST /_sim/faults                        add a fault, several (`{"faults": [...]}`), or clear
DELETE /_sim/faults                      clear every fault (and release hung requests)
POST /_sim/providers/{providerId}/failing  `{"failing": true, "rate": 1.0, "class": "outage"}`
                                         (class: outage, recipient, credentials, quota)
POST /_sim/triggers                      `{"outcomes": {"ses-backup": "credentials"},
                                         "workflows": {"canary": ["email"]},
                                         "message_delay": 0.5}`: what triggers do
GET  /_sim/calls[?kind=set-primary]      set-primary and PUT calls received, oldest first
POST /_sim/options                       envelope, idempotency, old_server, blank_credentials,
                                         rate_limit, burst
POST /_sim/send                          `{"channel": "email", "environment": "production",
                                         "count": 10}`: generate traffic now
POST /_sim/reset                         as started: seed, options; no faults/messages/calls
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from daemon.sim.faults import Fault, FaultError

if TYPE_CHECKING:
    from daemon.sim.state import NovuSimulator

MAX_CONTROL_BODY = 64_000
_BOOL_OPTIONS = ("envelope", "idempotency", "old_server", "blank_credentials")


class ControlError(ValueError):
    """A control request that cannot be applied; answered 400 with the reason."""


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_CONTROL_BODY:
        msg = f"body over {MAX_CONTROL_BODY} bytes"
        raise ControlError(msg)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        msg = f"body is not JSON: {exc}"
        raise ControlError(msg) from exc
    if not isinstance(data, dict):
        msg = "body must be a JSON object"
        raise ControlError(msg)
    return data


Handler = Callable[[Request], Awaitable[Any]]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def handle(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await handler(request))
        except (ControlError, FaultError, KeyError, ValueError) as exc:
            reason = exc.args[0] if exc.args else str(exc)
            return JSONResponse({"error": str(reason)}, status_code=400)

    return handle


def _options(sim: NovuSimulator, data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - {*_BOOL_OPTIONS, "rate_limit", "burst"})
    if unknown:
        msg = f"unknown option(s): {', '.join(unknown)}"
        raise ControlError(msg)
    for name in _BOOL_OPTIONS:
        if name in data:
            if not isinstance(data[name], bool):
                msg = f"{name} must be true or false"
                raise ControlError(msg)
            setattr(sim, name, data[name])
    if "rate_limit" in data or "burst" in data:
        limit = data.get("rate_limit", sim.limiter.limit)
        burst = data.get("burst", sim.limiter.burst)
        if limit is not None and (not isinstance(limit, int | float) or limit <= 0):
            msg = "rate_limit must be a positive number or null (off)"
            raise ControlError(msg)
        if burst is not None and (not isinstance(burst, int) or burst < 1):
            msg = "burst must be a positive integer or null"
            raise ControlError(msg)
        sim.limiter.configure(limit=limit, burst=burst)


def control_routes(sim: NovuSimulator) -> list[BaseRoute]:
    async def state(request: Request) -> Any:
        del request
        return sim.snapshot()

    async def add_faults(request: Request) -> Any:
        data = await _json(request)
        if data.get("clear"):
            sim.faults.clear()
            sim.release_hangs()
        items = data.get("faults", [] if "clear" in data else [data])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            msg = "faults must be a list of objects"
            raise ControlError(msg)
        for fault in [Fault.from_json(item) for item in items]:  # all valid, then add
            sim.faults.add(fault)
        return {"faults": sim.faults.describe()}

    async def clear_faults(request: Request) -> Any:
        del request
        sim.faults.clear()
        sim.release_hangs()
        return {"faults": []}

    async def failing(request: Request) -> Any:
        data = await _json(request)
        flag = data.get("failing", True)
        rate = data.get("rate", 1.0)
        failure_class = data.get("class", "outage")
        if not isinstance(flag, bool) or not isinstance(rate, int | float):
            msg = "failing must be true/false and rate a number in [0, 1]"
            raise ControlError(msg)
        if failure_class not in ("outage", "recipient", "credentials", "quota"):
            msg = "class must be one of outage, recipient, credentials, quota"
            raise ControlError(msg)
        sim.set_provider_failing(
            request.path_params["provider_id"], flag, rate=float(rate), failure_class=failure_class
        )
        return {"failingProviders": sim.failing_providers()}

    async def triggers(request: Request) -> Any:
        sim.triggers.configure(await _json(request))
        return {"triggers": sim.triggers.describe()}

    async def calls(request: Request) -> Any:
        kind = request.query_params.get("kind")
        return {"calls": [c.to_json() for c in sim.calls if kind is None or c.kind == kind]}

    async def options(request: Request) -> Any:
        _options(sim, await _json(request))
        return {"options": sim.options()}

    async def send(request: Request) -> Any:
        data = await _json(request)
        count = data.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 10_000:
            msg = "count must be an integer in [1, 10000]"
            raise ControlError(msg)
        channel = str(data.get("channel", "email"))
        environment = str(data.get("environment", "production"))
        statuses: dict[str, int] = {}
        for _ in range(count):
            message = sim.send(channel, environment)
            status = "dropped" if message is None else str(message["status"])
            statuses[status] = statuses.get(status, 0) + 1
        return {"sent": count, "statuses": statuses}

    async def reset(request: Request) -> Any:
        del request
        sim.reset()
        return {"reset": True}

    return [
        Route("/state", _endpoint(state), methods=["GET"]),
        Route("/faults", _endpoint(add_faults), methods=["POST"]),
        Route("/faults", _endpoint(clear_faults), methods=["DELETE"]),
        Route("/providers/{provider_id}/failing", _endpoint(failing), methods=["POST"]),
        Route("/calls", _endpoint(calls), methods=["GET"]),
        Route("/triggers", _endpoint(triggers), methods=["POST"]),
        Route("/options", _endpoint(options), methods=["POST"]),
        Route("/send", _endpoint(send), methods=["POST"]),
        Route("/reset", _endpoint(reset), methods=["POST"]),
    ]
