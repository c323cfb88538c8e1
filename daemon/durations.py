"""Durations as people write them in rules.yaml: `500ms`, `30s`, `5m`, `1h`, `1h30m`, `2d`."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
MAX_DURATION_TEXT = 32
"""Longer text is no duration anyone writes (and `9` x 400 + `d` would be infinite)."""


def parse_duration(text: str) -> float:
    """Seconds in `text` (always finite); raises ValueError with a readable message otherwise."""
    cleaned = text.strip()
    if len(cleaned) > MAX_DURATION_TEXT:
        msg = f"{_short(text)} is not a duration: longer than {MAX_DURATION_TEXT} characters"
        raise ValueError(msg)
    pos = 0
    total = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned) or not math.isfinite(total):
        msg = f"{_short(text)} is not a duration; write it like 500ms, 30s, 5m, 1h or 1h30m"
        raise ValueError(msg)
    return total


def format_duration(seconds: float) -> str:
    """The shortest readable form: 90 -> '1m30s', 0.25 -> '250ms'.

    Never raises: a value no rules file can hold (NaN, infinite, beyond a million days, as
    an absurd timestamp difference can be) is shown as it is, not rounded.
    """
    if not math.isfinite(seconds) or abs(seconds) >= 86400 * 1_000_000:
        return f"{seconds:g}s"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
