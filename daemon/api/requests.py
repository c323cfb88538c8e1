"""Everything a control request carries, checked at the edge before the plane sees it.

Each failure is an `ApiError` with the status and a message that says what to fix; none of
them reaches the `ControlPlane`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import ClientDisconnect, Request

CHANNEL_PATTERN = r"^[A-Za-z0-9_.-]{1,64}/[A-Za-z0-9_.-]{1,32}$"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]{1,20}")
_INTEGER = re.compile(r"-?[0-9]{1,11}")
_IDENTIFIER = re.compile("[^\\s\x00-\x1f\x7f\ud800-\udfff]{1,200}")
MAX_REASON = 500
MAX_PAUSE_SECONDS = 366 * 86400.0
"""A pause ends at most a year (366 days) from now; longer is "until resumed" (no end)."""


class ApiError(Exception):
    """A request the API refuses itself: answered with `status` and `{"error": message}`."""

    def __init__(
        self, status: int, message: str, *, details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


ChannelKeyField = Annotated[str, Field(pattern=CHANNEL_PATTERN)]


def _clean_text(value: str, *, name: str, limit: int) -> str:
    text = value.strip()
    if not text:
        msg = f"{name} must not be empty"
        raise ValueError(msg)
    if len(text) > limit:
        msg = f"{name} is {len(text)} characters long; at most {limit} are allowed"
        raise ValueError(msg)
    if _CONTROL_CHARS.search(text):
        msg = f"{name} must be one line without control characters"
        raise ValueError(msg)
    if _SURROGATE.search(text):
        msg = f"{name} must be valid Unicode text (it holds a lone surrogate, like \\ud800)"
        raise ValueError(msg)
    return text


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PauseBody(_Body):
    channel: ChannelKeyField | None
    """Required; null pauses every channel (the global pause)."""
    for_: str | None = Field(default=None, alias="for", max_length=32)
    until: float | None = None
    reason: str

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _clean_text(value, name="reason", limit=MAX_REASON)


class ResumeBody(_Body):
    channel: ChannelKeyField | None
    """Required; null lifts the global pause (channel pauses stay)."""


class AckBody(_Body):
    channel: ChannelKeyField


class FailoverBody(_Body):
    channel: ChannelKeyField
    target: str
    force: bool = False
    reason: str

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if _IDENTIFIER.fullmatch(value) is None:
            msg = (
                "must be an integration identifier: 1 to 200 characters, "
                "no spaces or control characters"
            )
            raise ValueError(msg)
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _clean_text(value, name="reason", limit=MAX_REASON)


BodyT = TypeVar("BodyT", bound=_Body)


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The raw body, refusing a wrong content type (415) or more than `max_bytes` (413)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "none"
        msg = f"send the body as application/json (got content type {shown})"
        raise ApiError(415, msg)
    too_large = f"request body is larger than {max_bytes} bytes"
    declared = request.headers.get("content-length")
    if declared is not None:
        if not _DIGITS.fullmatch(declared):
            msg = f"Content-Length is not a number: {declared[:32]!r}"
            raise ApiError(400, msg)
        if int(declared) > max_bytes:
            raise ApiError(413, too_large)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(413, too_large)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        msg = "the client went away before sending the whole body"
        raise ApiError(400, msg) from exc
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            msg = f"key {key!r} appears twice"
            raise ValueError(msg)
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object: 400 when it is not JSON, 422 when it is not an object."""
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        detail = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        msg = f"body is not valid JSON: {detail[:200]}"
        raise ApiError(400, msg) from exc
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        msg = f"body must be a JSON object, not {kind}"
        raise ApiError(422, msg)
    where = _surrogate_at(value)
    if where is not None:
        msg = (
            f"body is not valid Unicode: {where[:100]} holds a lone surrogate (like \\ud800); "
            "send text as UTF-8"
        )
        raise ApiError(400, msg)
    return value


_JSON_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    type(None): "null",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


def _surrogate_at(value: Any) -> str | None:
    """The first place (`reason`, `key in body`) where JSON escapes made a lone surrogate,
    which no UTF-8 file, log or answer can hold; None when there is none."""
    stack: list[tuple[Any, str]] = [(value, "body")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str) and _SURROGATE.search(item):
            return where
        if isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    return f"a key in {where}"
                stack.append((child, key if where == "body" else f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return None


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _describe(error: Any) -> dict[str, str]:
    field = _field(tuple(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden":
        return {"field": field, "message": f"unknown key {field!r}"}
    if kind == "missing":
        hint = " (null means every channel)" if field == "channel" else ""
        return {"field": field, "message": f"{field} is required{hint}"}
    if kind == "string_pattern_mismatch" and field == "channel":
        message = "channel must look like environment/channel, e.g. production/email"
        return {"field": field, "message": message}
    message = _PLAIN.get(kind) or str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_too_long":
        message = f"must be at most {error.get('ctx', {}).get('max_length', '?')} characters"
    return {"field": field, "message": f"{field}: {message}"}


_PLAIN = {
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be text (a JSON string)",
    "bool_type": "must be true or false",
}


def validate_body(model: type[BodyT], data: dict[str, Any]) -> BodyT:
    """`data` as `model`, or a 422 that lists every problem at once."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [_describe(error) for error in exc.errors(include_url=False)]
        message = "; ".join(detail["message"] for detail in details)
        raise ApiError(422, message, details=details) from exc


async def read_model(request: Request, model: type[BodyT], *, max_bytes: int) -> BodyT:
    raw = await read_body(request, max_bytes=max_bytes)
    return validate_body(model, parse_json_object(raw))


def query_int(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high], else a 400 that says so."""
    text = request.query_params.get(name)
    if text is None:
        return default
    stripped = text.strip()
    value = int(stripped) if _INTEGER.fullmatch(stripped) else None
    if value is None or not low <= value <= high:
        msg = f"{name} must be an integer from {low} to {high} (got {text[:32]!r})"
        raise ApiError(400, msg)
    return value
