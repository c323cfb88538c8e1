"""Turn Novu's JSON into the daemon's values. No I/O; credentials are never read.

Each parser raises `ValueError` with a short description of what is wrong (never the body);
the client wraps it into `NovuProtocolError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from daemon.model import Integration, Message
from daemon.novu.errors import MESSAGE_LIMIT

REDACTED = "[redacted]"


class ShapeError(ValueError):
    """A body that is JSON but not the shape the client expects; says what, never the body."""


# What a server (or a proxy) might echo back in an error text, beyond the key itself:
# Authorization values, `name: value` / `name=value` pairs whose name says secret, and whole
# JSON objects or dict reprs (a credentials object). A credential echoed in plain prose
# cannot be told from prose; Novu's error messages do not do that.
_AUTHORIZATION = re.compile(r"\b(ApiKey|Bearer|Basic)\s+[^\s,;\"']+")  # schemes as sent
_SECRET_PAIR = re.compile(
    r"""(?ix)
    (["']?\b(?:[a-z_]*(?:key|secret|token|password|passwd|sid|credentials?)|authorization)\b["']?)
    (\s*[:=]\s*)
    (["']?)[^\s,;"'{}]+(["']?)
    """
)
_OBJECT = re.compile(r"\{[^{}]*\}")


def unwrap(body: Any) -> Any:
    """Strip the live API's `{"data": ...}` envelope; bare bodies pass through.

    Paginated bodies (`{"data": [...], "hasMore": ...}`) are not enveloped again by Novu,
    so only a mapping whose single key is `data` counts as an envelope.
    """
    if isinstance(body, Mapping) and set(body) == {"data"}:
        return body["data"]
    return body


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        msg = f"integration field {key!r} is missing or not a string"
        raise ShapeError(msg)
    return value


def _flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        msg = f"integration field {key!r} is missing or not a boolean"
        raise ShapeError(msg)
    return value


def parse_integration(raw: Any) -> Integration:
    """One `IntegrationResponseDto` -> Integration. `credentials` is never looked at."""
    if not isinstance(raw, Mapping):
        msg = f"an integration is a JSON object, not {type(raw).__name__}"
        raise ShapeError(msg)
    identifier = _text(raw, "identifier")
    conditions = raw.get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, Mapping) for c in conditions):
        msg = f"integration {identifier!r}: conditions is not a list of objects"
        raise ShapeError(msg)
    name = raw.get("name")
    return Integration(
        id=_text(raw, "_id"),
        identifier=identifier,
        name=name if isinstance(name, str) and name else identifier,
        provider_id=_text(raw, "providerId"),
        channel=_text(raw, "channel"),
        environment_id=_text(raw, "_environmentId"),
        active=_flag(raw, "active"),
        primary=bool(raw.get("primary", False)),
        # plain dicts (JSON values only): the audit trail serialises them as they are
        conditions=tuple(json.loads(json.dumps(c)) for c in conditions),
    )


def parse_integration_list(body: Any) -> list[Integration]:
    """`GET /v1/integrations` -> integrations, soft-deleted ones left out."""
    items = unwrap(body)
    if not isinstance(items, list):
        msg = f"expected a list of integrations, got {type(items).__name__}"
        raise ShapeError(msg)
    return [
        parse_integration(item)
        for item in items
        if not (isinstance(item, Mapping) and item.get("deleted") is True)
    ]


def parse_time(text: Any) -> float:
    """An ISO 8601 time (`2024-05-01T10:00:00.000Z`) -> epoch seconds; naive means UTC."""
    if not isinstance(text, str):
        msg = f"a time is an ISO 8601 string, not {type(text).__name__}"
        raise ShapeError(msg)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_message(raw: Any) -> Message:
    """One message of `GET /v1/messages` -> Message (provider, status, time, error id)."""
    if not isinstance(raw, Mapping):
        msg = f"a message is a JSON object, not {type(raw).__name__}"
        raise ShapeError(msg)
    status = raw.get("status")
    provider = raw.get("providerId")
    error_id = raw.get("errorId")
    error_text = raw.get("errorText")
    transaction_id = raw.get("transactionId")
    return Message(
        provider_id=provider if isinstance(provider, str) and provider else None,
        status=status if isinstance(status, str) else "unknown",
        created_at=parse_time(raw.get("createdAt")),
        error_id=error_id if isinstance(error_id, str) and error_id else None,
        error_text=scrub(error_text) if isinstance(error_text, str) and error_text else None,
        transaction_id=transaction_id if isinstance(transaction_id, str) else None,
    )


def parse_message_page(body: Any) -> tuple[list[Any], bool]:
    """A page of `GET /v1/messages` -> (raw items, has_more)."""
    page = unwrap(body)
    if isinstance(page, list):  # a bare list: no paging information, so no more pages
        return page, False
    if not isinstance(page, Mapping) or not isinstance(page.get("data"), list):
        msg = "expected a page of messages ({data: [...], hasMore, page, pageSize})"
        raise ShapeError(msg)
    return list(page["data"]), page.get("hasMore") is True


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with the given secrets and Authorization-like values redacted, cut short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    while (unbraced := _OBJECT.sub("(object redacted)", text)) != text:  # innermost first
        text = unbraced
    text = _AUTHORIZATION.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = " ".join(text.split())
    return text[:MESSAGE_LIMIT]


def error_message(content: bytes, secrets: Sequence[str] = ()) -> str:
    """The ErrorDto `message` of an error body, scrubbed; nothing else of the body is kept.

    Validation errors carry a list of messages; a 429 body may be a bare JSON string.
    Non-JSON bodies (a proxy's HTML page) yield an empty message.
    """
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return ""
    message: Any = body.get("message") if isinstance(body, Mapping) else body
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message if isinstance(m, str | int | float))
    if not isinstance(message, str):
        return ""
    return scrub(message, secrets)


def retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class TriggerAnswer:
    """`TriggerEventResponseDto`: whether Novu took the trigger, and why not."""

    acknowledged: bool
    status: str
    transaction_id: str | None
    error: tuple[str, ...] = ()


def parse_trigger_answer(body: Any) -> TriggerAnswer:
    """The answer of `POST /v1/events/trigger` (enveloped or bare)."""
    answer = unwrap(body)
    if not isinstance(answer, Mapping) or not isinstance(answer.get("acknowledged"), bool):
        msg = "expected a trigger answer ({acknowledged, status, transactionId})"
        raise ShapeError(msg)
    status = answer.get("status")
    transaction_id = answer.get("transactionId")
    errors = answer.get("error")
    return TriggerAnswer(
        acknowledged=answer["acknowledged"],
        status=status if isinstance(status, str) else "unknown",
        transaction_id=transaction_id if isinstance(transaction_id, str) else None,
        error=tuple(scrub(e) for e in errors if isinstance(e, str))
        if isinstance(errors, list)
        else (),
    )
