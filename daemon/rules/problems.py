"""Located rules problems, and pydantic's validation errors said the way an SRE reads them.

Pydantic reports `('channels', 0, 'policy', 'down_when', "literal['any','all']")` with
"Input should be 'any' or 'all'"; this module turns that into the YAML path
`channels[0].policy.down_when` and "must be 'any', 'all' or {quorum: ...}; got 'most'".
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from daemon.durations import format_duration
from daemon.redaction import hide_url_credentials
from daemon.rules.model import ChannelRule, Rules, to_seconds
from daemon.rules.source import Finding, Part, Parts

SHORTER_THAN_INTERVAL = "must be shorter than interval"
"""The schema's own timeout check; the loader reports it itself, located at the key."""

_MISSING = object()


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One problem in a rules file: `rules.yaml:14 channels[0].policy.cooldown: ...`."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class RulesError(Exception):
    """The rules are invalid; `errors` holds every problem found, in file order."""

    def __init__(self, errors: list[RuleProblem]) -> None:
        self.errors = errors
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{count} {noun} in rules:\n" + "\n".join(map(str, errors)))


@dataclass(frozen=True, slots=True)
class _Where:
    """Where one pydantic error points, in YAML terms and in schema terms."""

    parts: Parts
    model: type[BaseModel] | None
    field: FieldInfo | None
    union_parts: Parts | None
    union_type: Any
    union_tag: str | None
    is_key: bool


def findings_from_errors(errors: Iterable[Mapping[str, Any]], data: Any) -> list[Finding]:
    """One Finding per pydantic error (one per field for a union that matched no branch)."""
    findings: list[Finding] = []
    unions_done: set[Parts] = set()
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "value_error" and SHORTER_THAN_INTERVAL in str(error["msg"]):
            continue
        where = _walk(loc)
        if where.union_parts is not None:
            value = _value_at(data, where.union_parts)
            if isinstance(value, dict):
                if not _is_model(_member(where)):
                    continue  # a mapping was meant for the model branch; its errors say why
            else:
                if where.union_parts not in unions_done:
                    unions_done.add(where.union_parts)
                    findings.append(_union_mismatch(where, value))
                continue
        findings.append(_finding(error, where))
    return findings


def _finding(error: Mapping[str, Any], where: _Where) -> Finding:
    kind = str(error["type"])
    value = error.get("input", _MISSING)
    name = where.parts[-1] if where.parts else ""
    if kind == "missing":
        return Finding(where.parts[:-1], f"missing required key {name!r}")
    if kind == "extra_forbidden":
        return Finding(where.parts, _unknown_key(str(name), where.model))
    if where.is_key:
        return Finding(where.parts, f"keys here must be text; got {_show(value)}")
    if kind == "invalid_key":
        return Finding(where.parts[:-1], f"keys here must be text; got {_show(value)}")
    message = _message(kind, str(error["msg"]), where, value, error.get("ctx"))
    hide = "headers" in where.parts  # header values may carry credentials
    if not hide and value is not _MISSING and kind not in _SELF_DESCRIBED:
        message = f"{message}; got {_show(value)}"
    return Finding(where.parts, message)


# Error types whose message already quotes the input (or where the input is meaningless).
_SELF_DESCRIBED = frozenset({"value_error", "assertion_error", "too_short", "string_too_short"})


_BOUNDS = {
    "greater_than": "must be more than",
    "greater_than_equal": "must be at least",
    "less_than": "must be less than",
    "less_than_equal": "must be at most",
}


def _message(kind: str, raw: str, where: _Where, value: Any, ctx: Mapping[str, Any] | None) -> str:
    name = where.parts[-1] if where.parts else ""
    if kind == "literal_error" and where.model is ChannelRule and name == "channel":
        return "only email and sms have a primary in Novu"
    if kind == "string_pattern_mismatch":
        return _PATTERN_MESSAGES.get(str(name), raw.replace("String should", "must"))
    if kind in ("too_short", "string_too_short"):
        return _EMPTY_MESSAGES.get(str(name), "must not be empty")
    if kind in ("float_type", "float_parsing") and _is_duration(where.field):
        return "must be a duration like 30s, 5m or 1h"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "too_long":
        bound = (ctx or {}).get("max_length", "?")
        return f"must have at most {bound} items"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return "must be a whole number"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be text (quote it)"
    if kind == "list_type":
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if where.field is None and _is_signal_entry_list(where):
            return "each signal is a mapping with one kind key, like `- http: {url: ...}`"
        return "must be a mapping (key: value)"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()), "?") if ctx else "?"
        if _is_duration(where.field) and isinstance(bound, int | float):
            bound = format_duration(bound)
        return f"{_BOUNDS[kind]} {bound}"
    if kind == "value_error":
        text = raw.removeprefix("Value error, ")
        if "exactly one of" in text:
            return _signal_kind_message(text, value)
        return text
    return raw.replace("Input should be", "must be")


_PATTERN_MESSAGES = {
    "url": "must be an http:// or https:// URL",
    "api_url": "must be an http:// or https:// URL, like https://api.novu.co",
    "api_key_env": "must be an environment variable name (letters, digits and _)",
    "name": "must be 1 to 64 letters, digits, '_', '.' or '-'",
    "environment_id": "must be Novu's 24-hex-digit environment id (_environmentId)",
}

_EMPTY_MESSAGES = {
    "environments": "define at least one environment",
    "channels": "define at least one channel",
    "candidates": "list at least one candidate integration",
    "signals": "give the candidate at least one signal",
}


def _signal_kind_message(text: str, value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        kind, spec = next(iter(value.items()))
        if spec is None:
            return f"{kind!r} has no settings; write e.g. `{kind}: {{...}}`"
    return text


def _unknown_key(name: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return f"unknown key {name!r}"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {name!r} ({hint}allowed: {', '.join(allowed)})"


def _union_mismatch(where: _Where, value: Any) -> Finding:
    choices = [_describe_member(member) for member in _union_members(where.union_type)]
    expected = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    assert where.union_parts is not None
    return Finding(where.union_parts, f"must be {expected}; got {_show(value)}")


def _describe_member(member: Any) -> str:
    if typing.get_origin(member) is typing.Literal:
        return ", ".join(repr(value) for value in typing.get_args(member))
    if _is_model(member):
        required = [name for name, info in member.model_fields.items() if info.is_required()]
        return "{" + ", ".join(f"{name}: ..." for name in required) + "}"
    return getattr(member, "__name__", str(member))


def _walk(loc: Sequence[Part]) -> _Where:
    """Follow a pydantic loc through the schema: YAML path parts, model and field at the end."""
    tp: Any = Rules
    parts: list[Part] = []
    model: type[BaseModel] | None = None
    field: FieldInfo | None = None
    union_parts: Parts | None = None
    union_type: Any = None
    union_tag: str | None = None
    is_key = False
    for part in loc:
        members = _union_members(tp)
        if len(members) > 1:  # pydantic names the union member it tried: not a YAML key
            union_parts, union_type, union_tag = tuple(parts), tp, str(part)
            tp = _member_by_tag(members, str(part))
            continue
        if len(members) == 1:
            tp = members[0]
        if part == "[key]":
            is_key = True
            continue
        parts.append(part)
        if _is_model(tp):
            model, field = tp, tp.model_fields.get(str(part))
            tp = field.annotation if field is not None else None
        elif typing.get_origin(tp) in (list, dict):
            model, field = None, None
            tp = typing.get_args(tp)[-1]
        else:
            model, field, tp = None, None, None
    return _Where(tuple(parts), model, field, union_parts, union_type, union_tag, is_key)


def _union_members(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(tp) if arg is not type(None)]
    if typing.get_origin(tp) is typing.Annotated:
        return [typing.get_args(tp)[0]]
    return [tp] if tp is not None else []


def _member_by_tag(members: list[Any], tag: str) -> Any:
    for member in members:
        if _is_model(member) and member.__name__ == tag:
            return member
        if typing.get_origin(member) is typing.Literal and tag.startswith("literal["):
            return member
    return None


def _member(where: _Where) -> Any:
    return _member_by_tag(_union_members(where.union_type), where.union_tag or "")


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _is_duration(field: FieldInfo | None) -> bool:
    if field is None:
        return False
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):  # Optional[Annotated[float, ...]]
        metadata.extend(getattr(arg, "__metadata__", ()))
    return any(isinstance(m, BeforeValidator) and m.func is to_seconds for m in metadata)


def _is_signal_entry_list(where: _Where) -> bool:
    return len(where.parts) >= 2 and where.parts[-2] == "signals" and where.model is None


def _value_at(data: Any, parts: Parts) -> Any:
    for part in parts:
        in_mapping = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_mapping or in_list):
            return _MISSING
        data = data[part]
    return data


def _show(value: Any) -> str:
    """A short, safe rendering of a YAML value for an error message."""
    if value is _MISSING:
        return "nothing"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = hide_url_credentials(value)
        return repr(shown if len(shown) <= 60 else shown[:57] + "...")
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
