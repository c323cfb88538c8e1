"""Who may use the control endpoints, and who they say they are."""

from __future__ import annotations

import hashlib
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


GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
"""Where Grafana's webhook contact point puts its HMAC: the name its settings suggest."""
GRAFANA_FALLBACK_SIGNATURE_HEADER = "X-Grafana-Alert-Signature"
"""The name Grafana's sender (grafana/alerting http/hmac.go) uses when the contact point's
Header field is left empty."""


def grafana_signature_header(request: Request, configured: str) -> str | None:
    """The header that carries Grafana's signature on `request`, or None (not signed).
    With the default name configured, Grafana's empty-field fallback name counts too."""
    names = [configured]
    if configured.lower() == GRAFANA_SIGNATURE_HEADER.lower():
        names.append(GRAFANA_FALLBACK_SIGNATURE_HEADER)
    return next((name for name in names if name.lower() in request.headers), None)


def verify_grafana_signature(
    request: Request,
    body: bytes,
    secret: SecretStr,
    *,
    header: str = GRAFANA_SIGNATURE_HEADER,
    timestamp_header: str | None,
    max_age: float,
    now: float,
) -> None:
    """Pass a body signed by Grafana's webhook HMAC: lowercase hex HMAC-SHA256 of the body,
    or of `<timestamp>:<body>` when a timestamp header is configured (Unix seconds, within
    `max_age` of `now`, so a captured request cannot be replayed later). 401 otherwise."""
    given = request.headers.get(header, "").strip().lower()
    signed = body
    if timestamp_header:
        stamp = request.headers.get(timestamp_header, "").strip()
        if not stamp.isdigit():
            msg = f"missing or malformed {timestamp_header} (Unix seconds) on a signed webhook"
            raise ApiError(401, msg)
        age = now - int(stamp)
        if abs(age) > max_age:
            msg = (
                f"signature timestamp is {abs(age):.0f}s {'old' if age > 0 else 'ahead'}; "
                f"at most {max_age:g}s is accepted (replayed or clock skew)"
            )
            raise ApiError(401, msg)
        signed = stamp.encode() + b":" + body
    key = secret.get_secret_value().encode()
    expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode("ascii", "replace"), expected.encode()):
        raise ApiError(401, f"wrong {header} signature")
