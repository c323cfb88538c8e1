"""The schema of state.json and of one audit.jsonl line, with the bounds every value keeps.

Decoding goes through these pydantic models, and so does encoding (what is written is
validated first), so a file this build writes is always a file it can read back. Every
number is finite and bounded, every string valid Unicode of bounded length, every list and
map bounded in size; a violation is reported with its JSON path
(`histories["production/email"].switches[0].at: must be a finite number (got nan)`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from daemon.model import AuditAction, AuditResult, Trigger

MIN_TIME = 946_684_800.0
"""2000-01-01T00:00:00Z: no time in a state file is earlier."""
MAX_TIME = 7_258_118_400.0
"""2200-01-01T00:00:00Z: no time in a state file is later."""
MAX_SECONDS = 100 * 365 * 86400.0
"""The longest duration recorded (an action's `duration`): a hundred years."""
MAX_ATTEMPTS = 10_000
MAX_NAME = 1024
"""Characters in an id, an environment, a channel key or an integration identifier."""
MAX_TEXT = 16_384
"""Characters in a reason, an evidence line, an error or an extra value."""
MAX_ITEMS = 10_000
"""Entries in any one list or map (switches of a channel, pauses, evidence lines, ...)."""
MAX_CONDITION_DEPTH = 20
"""Nesting inside one erased condition (a copy of what Novu had)."""


def kind(value: object) -> str:
    """`a string`, `a number`, ... for error messages; never the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "a value"


def unicode_problem(text: str) -> str | None:
    """Why `text` is not valid Unicode (a lone surrogate and where), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid Unicode (a lone surrogate at character {exc.start})"
    return None


def _string(limit: int) -> Any:
    def check(value: object) -> str:
        if not isinstance(value, str):
            msg = f"expected a string, got {kind(value)}"
            raise ValueError(msg)  # noqa: TRY004  (pydantic turns ValueError into a located error)
        problem = unicode_problem(value)
        if problem is not None:
            raise ValueError(problem)
        if len(value) > limit:
            msg = f"is {len(value)} characters long, over the {limit}-character bound"
            raise ValueError(msg)
        return value

    return BeforeValidator(check)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"expected a number, got {kind(value)}"
        raise ValueError(msg)  # noqa: TRY004
    try:
        number = float(value)
    except OverflowError:
        msg = "must be a finite number (got an integer too large for a double)"
        raise ValueError(msg) from None
    if not math.isfinite(number):
        msg = f"must be a finite number (got {number})"
        raise ValueError(msg)
    return number


def _time(value: object) -> float:
    number = _number(value)
    if not MIN_TIME <= number <= MAX_TIME:
        msg = (
            f"must be a time from 2000-01-01 to 2200-01-01 in Unix seconds "
            f"({MIN_TIME:.0f} to {MAX_TIME:.0f}), got {number:g}"
        )
        raise ValueError(msg)
    return number


def _seconds(value: object) -> float:
    number = _number(value)
    if not 0 <= number <= MAX_SECONDS:
        msg = f"must be a duration from 0 to {MAX_SECONDS:.0f} seconds, got {number:g}"
        raise ValueError(msg)
    return number


def _attempts(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"expected an integer, got {kind(value)}"
        raise ValueError(msg)  # noqa: TRY004
    if not 0 <= value <= MAX_ATTEMPTS:
        msg = f"must be an integer from 0 to {MAX_ATTEMPTS}"
        raise ValueError(msg)
    return value


def _json_object(value: object) -> dict[str, Any]:
    """A JSON object copied from Novu (an erased condition): any shape, but bounded."""
    if not isinstance(value, dict):
        msg = f"expected an object, got {kind(value)}"
        raise ValueError(msg)  # noqa: TRY004
    nodes = 0
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        nodes += 1
        if nodes > MAX_ITEMS:
            msg = f"has more than {MAX_ITEMS} values"
            raise ValueError(msg)
        if depth > MAX_CONDITION_DEPTH:
            msg = f"is nested more than {MAX_CONDITION_DEPTH} levels deep"
            raise ValueError(msg)
        if isinstance(item, float) and not math.isfinite(item):
            msg = f"the value at {where or 'the top'} must be a finite number (got {item})"
            raise ValueError(msg)
        if isinstance(item, str) and (problem := unicode_problem(item)):
            msg = f"the value at {where or 'the top'} {problem}"
            raise ValueError(msg)
        if isinstance(item, dict):
            for key, inner in item.items():
                if problem := unicode_problem(key):
                    msg = f"a key {problem}"
                    raise ValueError(msg)
                stack.append((inner, depth + 1, f"{where}.{key}"[:80]))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1, f"{where}[{i}]") for i, inner in enumerate(item))
    return value


Name = Annotated[str, _string(MAX_NAME)]
Text = Annotated[str, _string(MAX_TEXT)]
Time = Annotated[float, BeforeValidator(_time)]
Seconds = Annotated[float, BeforeValidator(_seconds)]
Attempts = Annotated[int, BeforeValidator(_attempts)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_object)]


class _Doc(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


class PauseDoc(_Doc):
    reason: Text
    since: Time
    until: Time | None
    by: Text


class SwitchDoc(_Doc):
    at: Time
    from_: Name | None = Field(alias="from")
    to: Name
    trigger: Trigger


class HistoryDoc(_Doc):
    switches: list[SwitchDoc] = Field(max_length=MAX_ITEMS)
    brake_acked_at: Time | None
    last_known_primary: Name | None


class AuditDoc(_Doc):
    """One audit line. Unknown keys are ignored: a line from a newer version still shows."""

    model_config = ConfigDict(extra="ignore")

    id: Name
    at: Time
    environment: Name
    channel: Name
    from_: Name | None = Field(alias="from")
    to: Name | None
    trigger: Trigger
    reason: Text
    result: AuditResult
    dry_run: bool = False
    attempts: Attempts = 0
    evidence: list[Text] = Field(default=[], max_length=MAX_ITEMS)
    error: Text | None = None
    erased_conditions: list[JsonObject] = Field(default=[], max_length=MAX_ITEMS)
    duration: Seconds = 0.0
    extra: dict[Name, Text] = Field(default={}, max_length=MAX_ITEMS)
    action: AuditAction = "switch"


class CheckpointDoc(_Doc):
    """How far into the audit trail `open_actions` is exact: file generation, byte offset."""

    generation: int = Field(ge=1, le=10**12)
    offset: int = Field(ge=0, le=2**62)


class StateDoc(_Doc):
    version: Literal[1, 2]
    global_pause: PauseDoc | None
    pauses: dict[Name, PauseDoc] = Field(max_length=MAX_ITEMS)
    histories: dict[Name, HistoryDoc] = Field(max_length=MAX_ITEMS)
    open_actions: dict[Name, AuditDoc] = Field(default={}, max_length=MAX_ITEMS)
    """`started` records without a final record yet (version 2), by action id."""
    audit: CheckpointDoc | None = None


# Fields whose value is a map keyed by data (a channel key, an action id, an extra's name):
# the segment after them in an error location is a key, shown as `["key"]`.
_MAPS = frozenset({"pauses", "histories", "open_actions", "extra"})


def json_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """`('histories', 'p/email', 'switches', 0, 'at')` -> `histories["p/email"].switches[0].at`."""
    out = prefix
    keyed = False
    for part in loc:
        if part == "[key]":
            out += " (the key)"
        elif isinstance(part, int):
            out += f"[{part}]"
        elif keyed:
            out += f"[{json.dumps(part[:MAX_NAME])}]"  # ASCII-escaped: safe to print
        else:
            out += f".{part}" if out else part
        keyed = isinstance(part, str) and part in _MAPS and not keyed
    return out or "(top)"


def _problem(error: Mapping[str, Any]) -> str:
    kind_of_input = kind(error.get("input"))
    context = error.get("ctx") or {}
    match error["type"]:
        case "value_error":
            return str(context.get("error") or error["msg"]).removeprefix("Value error, ")
        case "missing":
            return "is missing"
        case "extra_forbidden":
            return "is not a known key"
        case "literal_error":
            expected = str(context.get("expected", "")).replace("'", "")
            got = json.dumps(error.get("input"))[:60] if kind_of_input != "a value" else "?"
            return f"expected one of {expected}, got {got}"
        case "string_type":
            return f"expected a string, got {kind_of_input}"
        case "bool_type":
            return f"expected true or false, got {kind_of_input}"
        case "model_type" | "dict_type" | "model_attributes_type":
            return f"expected an object, got {kind_of_input}"
        case "list_type":
            return f"expected a list, got {kind_of_input}"
        case "int_type":
            return f"expected an integer, got {kind_of_input}"
        case "too_long":
            return f"has more than {context.get('max_length')} entries"
        case _:
            return str(error["msg"]).replace("Input should be", "must be")


def describe(exc: ValidationError, *, prefix: str = "", at_most: int = 5) -> str:
    """The first `at_most` problems of `exc`, each as `path: problem`, joined by `; `."""
    errors = exc.errors(include_url=False)
    shown = [f"{json_path(e['loc'], prefix)}: {_problem(e)}" for e in errors[:at_most]]
    more = len(errors) - at_most
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
