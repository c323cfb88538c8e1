"""Shapes of Novu's wire format that the simulator builds or checks: times, errors, filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

MONGO_ID = re.compile(r"^[0-9a-fA-F]{24}$")
CHANNELS = ("in_app", "email", "sms", "chat", "push")
PRIMARY_CHANNELS = frozenset({"email", "sms"})
FILTER_TYPES = ("BOOLEAN", "TEXT", "DATE", "NUMBER", "STATEMENT", "LIST", "MULTI_LIST", "GROUP")
FILTER_OPERATORS = (
    "LARGER",
    "SMALLER",
    "LARGER_EQUAL",
    "SMALLER_EQUAL",
    "EQUAL",
    "NOT_EQUAL",
    "ALL_IN",
    "ANY_IN",
    "NOT_IN",
    "BETWEEN",
    "NOT_BETWEEN",
    "LIKE",
    "NOT_LIKE",
    "IN",
)
HTTP_ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
RATE_LIMITED_BODY = "API rate limit exceeded"
UNAVAILABLE_BODY = "Please wait some time, then try again."


def iso(ts: float) -> str:
    """Epoch seconds as Novu writes times: `2024-05-14T16:12:44.512Z`."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def object_id(prefix: int, n: int) -> str:
    """A deterministic 24-hex-digit id: a 6-hex `prefix` and a counter."""
    return f"{prefix:06x}{n:018x}"


def error_body(
    status: int,
    *,
    path: str,
    message: str | list[str],
    at: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Novu's ErrorDto: statusCode, timestamp, path, message, and the HTTP reason."""
    body: dict[str, Any] = {
        "statusCode": status,
        "timestamp": iso(at),
        "path": path,
        "message": message,
        "error": HTTP_ERRORS.get(status, "Error"),
    }
    if extra:
        body.update(extra)
    return body


def condition_problems(conditions: Any) -> list[str]:
    """What is wrong with a `conditions` value against StepFilterDto (empty when fine)."""
    if not isinstance(conditions, list):
        return ["conditions must be an array"]
    problems: list[str] = []
    for n, item in enumerate(conditions):
        where = f"conditions.{n}"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        if not isinstance(item.get("isNegated"), bool):
            problems.append(f"{where}.isNegated must be a boolean value")
        if item.get("type") not in FILTER_TYPES:
            problems.append(f"{where}.type must be one of the following values: {FILTER_TYPES}")
        if item.get("value") not in ("AND", "OR"):
            problems.append(f"{where}.value must be one of the following values: AND, OR")
        children = item.get("children")
        if not isinstance(children, list):
            problems.append(f"{where}.children must be an array")
            continue
        for m, child in enumerate(children):
            problems.extend(_child_problems(child, f"{where}.children.{m}"))
    return problems


def _child_problems(child: Any, where: str) -> list[str]:
    if not isinstance(child, dict):
        return [f"{where} must be an object"]
    problems = [
        f"{where}.{name} must be a string"
        for name in ("field", "value")
        if not isinstance(child.get(name), str)
    ]
    if child.get("operator") not in FILTER_OPERATORS:
        problems.append(f"{where}.operator must be a valid filter operator")
    if child.get("on") not in ("subscriber", "payload"):
        problems.append(f"{where}.on must be one of the following values: subscriber, payload")
    return problems
