"""Who may use the control endpoints, and who they say they are."""

from __future__ import annotations

import hmac
import re

from pydantic import SecretStr
from starlette.requests import Request

from daemon.api.requests import ApiError

DISABLED = "control endpoints are disabled: set NOVU_FAILOVER_API_TOKEN"
DEFAULT_ACTOR = "api"
MAX_ACTOR = 64
_NOT_ACTOR = re.compile(r"[^A-Za-z0-9 ._@:+/=-]")


def require_token(request: Request, api_token: SecretStr | None) -> None:
    """Pass a request whose `Authorization: Bearer` matches the token; 401/403 otherwise."""
    if api_token is None:
        raise ApiError(403, DISABLED)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        msg = "missing bearer token: send Authorization: Bearer <NOVU_FAILOVER_API_TOKEN>"
        raise ApiError(401, msg)
    expected = api_token.get_secret_value().encode()
    # Always compare, in constant time, so timing says nothing about the token.
    if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
        raise ApiError(401, "wrong bearer token")


def actor(request: Request) -> str:
    """`X-Actor` reduced to a safe, short name for pauses and audit records; else "api"."""
    raw = request.headers.get("x-actor", "")
    cleaned = _NOT_ACTOR.sub("", raw).strip()[:MAX_ACTOR].strip()
    return cleaned or DEFAULT_ACTOR
