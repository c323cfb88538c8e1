"""Check httpx requests and responses against Novu's published OpenAPI document.

Shared by every test that talks Novu (the client, the actuator, the simulator):

    from openapi_contract import validate_request, validate_response  # tests/ is on sys.path

    response = await client.post(...)
    validate_request(response.request)
    validate_response(response.request, response)

Both raise AssertionError with a readable message. The document is loaded once per process
(`NOVU_OPENAPI` overrides its location; by default `../shared/novu/openapi.json` beside the
repository). Call `validate_response` once the body has been read (after `await
client.get(...)`, or after `await response.aread()` inside an event hook).

What is checked, and the few places the live API is knowingly allowed to differ from the
document (each named in `LIVE_DEVIATIONS`):
- requests: a documented path and method, path/query/header parameters, the JSON body
  schema, and an `Authorization` header being present (its value's format is not checked);
- responses: a documented status for the operation, required headers, and the body schema,
  after the live `{"data": ...}` envelope is removed from success bodies (the document
  describes bare bodies; paginated bodies such as `/v1/messages` are not wrapped live).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

DEFAULT_DOCUMENT = Path(__file__).resolve().parents[2] / "shared" / "novu" / "openapi.json"
SERVER_URL = "https://api.novu.co"
"""Requests are matched against the document's first server, whatever host they went to."""

LIVE_DEVIATIONS: dict[str, str] = {
    "ErrorDto.message": (
        "the live API (NestJS class-validator) sends a list of strings in `message` for "
        "validation errors, e.g. ['integrationId must be a mongodb id']; the document says "
        "string only, so a list of strings is accepted too"
    ),
}


def document_path() -> Path:
    override = os.environ.get("NOVU_OPENAPI")
    return Path(override) if override else DEFAULT_DOCUMENT


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    path = document_path()
    if not path.is_file():
        msg = f"Novu OpenAPI document not found at {path} (set NOVU_OPENAPI to its path)"
        raise AssertionError(msg)
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return _apply_live_deviations(raw)


def _apply_live_deviations(raw: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(raw)
    schemas = document["components"]["schemas"]
    for name in ("ErrorDto", "ValidationErrorDto"):
        message = schemas[name]["properties"]["message"]
        schemas[name]["properties"]["message"] = {
            "description": message.get("description", ""),
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        }
    return document


@lru_cache(maxsize=1)
def openapi() -> OpenAPI:
    """The parsed document, built once (the 1 MB spec is not re-validated on every run)."""
    return OpenAPI.from_dict(_document(), config=Config(spec_validator_cls=None))


def document() -> Mapping[str, Any]:
    """The raw document (with `LIVE_DEVIATIONS` applied), for tests that look things up."""
    return _document()


# --- adapters: httpx objects seen through openapi-core's Request/Response protocols ---


@dataclass
class _OpenAPIRequest:
    method: str
    path: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters
    host_url: str = SERVER_URL


@dataclass
class _OpenAPIResponse:
    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers


def _request_body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead as exc:
        msg = f"{_describe(request)}: the request body is a stream that was not read"
        raise AssertionError(msg) from exc


def _adapt_request(request: httpx.Request) -> _OpenAPIRequest:
    body = _request_body(request)
    query = parse_qs(request.url.query.decode("ascii"), keep_blank_values=True)
    return _OpenAPIRequest(
        method=request.method.lower(),
        path=request.url.path,
        body=body or None,
        content_type=request.headers.get("content-type", "application/json"),
        parameters=RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        ),
    )


def unwrap_envelope(body: Any) -> Any:
    """`{"data": X}` -> X; anything else (bare bodies, paginated bodies) as it is."""
    if isinstance(body, dict) and set(body) == {"data"}:
        return body["data"]
    return body


def _adapt_response(request: httpx.Request, response: httpx.Response) -> _OpenAPIResponse:
    try:
        content = response.content
    except httpx.ResponseNotRead as exc:
        msg = f"{_describe(request)}: read the response before validating it (aread())"
        raise AssertionError(msg) from exc
    content_type = response.headers.get("content-type", "")
    if content and 200 <= response.status_code < 300 and "json" in content_type:
        content = json.dumps(unwrap_envelope(_json(request, response, content))).encode()
    return _OpenAPIResponse(
        status_code=response.status_code,
        data=content or None,
        content_type=content_type,
        headers=Headers(list(response.headers.items())),
    )


def _json(request: httpx.Request, response: httpx.Response, content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:
        msg = f"{_describe(request)} -> {response.status_code}: body is not JSON: {content[:256]!r}"
        raise AssertionError(msg) from exc


# --- the public checks ---


def validate_request(request: httpx.Request) -> None:
    """Assert that `request` is one Novu's document allows (path, params, body, auth)."""
    if not request.headers.get("authorization", "").strip():
        msg = f"{_describe(request)}: no Authorization header (Novu wants 'ApiKey <key>')"
        raise AssertionError(msg)
    try:
        openapi().validate_request(_adapt_request(request))
    except Exception as exc:
        msg = f"{_describe(request)}: request breaks the Novu contract: {_explain(exc)}"
        raise AssertionError(msg) from exc


def validate_response(request: httpx.Request, response: httpx.Response) -> None:
    """Assert that `response` (envelope removed) is what the document says `request` gets."""
    adapted = _adapt_response(request, response)
    try:
        openapi().validate_response(_adapt_request(request), adapted)
    except Exception as exc:
        body = (adapted.data or b"")[:256]
        msg = (
            f"{_describe(request)} -> {response.status_code}: response breaks the Novu "
            f"contract: {_explain(exc)}; body: {body!r}"
        )
        raise AssertionError(msg) from exc


def validate_exchange(response: httpx.Response) -> None:
    """Both checks for a response whose `.request` is the request that produced it."""
    validate_request(response.request)
    validate_response(response.request, response)


def _describe(request: httpx.Request) -> str:
    return f"{request.method} {request.url.path}"


def _explain(exc: BaseException) -> str:
    """One line per schema error (`field.path: problem`), else the exception's own text."""
    parts = [str(exc)]
    schema_errors = list(_schema_errors(exc))
    if schema_errors:
        parts = [f"{type(exc).__name__}:"]
        name, location = getattr(exc, "name", None), getattr(exc, "location", None)
        if name is not None:
            parts.append(f"{location} parameter {name!r}:")
        for error in schema_errors:
            where = ".".join(str(p) for p in error.absolute_path) or "<value>"
            parts.append(f"{where}: {error.message}")
    return " ".join(parts)


def _schema_errors(exc: BaseException) -> Iterable[Any]:
    seen: BaseException | None = exc
    while seen is not None:
        errors: Iterable[Any] | None = getattr(seen, "schema_errors", None)
        if errors:
            return errors
        seen = seen.__cause__
    return ()
