"""Reading JSON text from a file we do not trust: bounded in size and depth, strictly UTF-8.

`json.loads` alone recurses once per nesting level (a file of 20,000 `[` raises
RecursionError) and reads any size. These checks run first, in time linear in the input, so
a damaged file is a clear error and never a traceback. Non-finite numbers (NaN, Infinity,
1e400) are let through here as floats and refused by the schema, which knows their path.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects read from state.json or an audit line."""

# A string (escapes included; its closing quote may be missing in a damaged file) or a bracket.
# Possessive quantifiers keep this linear: an unterminated string is scanned once, to the end.
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]', re.DOTALL)


class JsonTextError(ValueError):
    """The bytes are not bounded, UTF-8 JSON text; the message says why and where."""


def nesting_depth(raw: bytes, *, limit: int = MAX_DEPTH) -> int:
    """The deepest nesting of `raw`, counting no further than `limit + 1`."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return 0  # cannot be deeper than the limit: skip the scan (the common case)
    depth = deepest = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def load_json(raw: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `raw` as JSON after checking its size, encoding and nesting depth."""
    if len(raw) > max_bytes:
        msg = f"is {len(raw)} bytes, over the {max_bytes}-byte bound"
        raise JsonTextError(msg)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise JsonTextError(msg) from None
    if nesting_depth(raw, limit=max_depth) > max_depth:
        msg = f"is nested more than {max_depth} levels deep"
        raise JsonTextError(msg)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        raise JsonTextError(msg) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        msg = f"is not valid JSON ({str(exc)[:120]})"
        raise JsonTextError(msg) from None
