"""Between the model's dataclasses and the JSON of state.json and audit.jsonl.

Encoding cleans before it writes: every string passes the secret redactor, a lone surrogate
becomes U+FFFD (a pause reason of `x\\ud800y` must not make every later write fail), a
string over its bound is cut; a non-finite number inside an erased condition (a copy of
Novu's JSON) becomes its text. What is left must then pass the same schema decoding uses,
so a non-finite or out-of-range time is refused before anything is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from daemon.logs import redact
from daemon.model import AuditRecord, ChannelHistory, Pause, Switch
from daemon.state.schema import (
    MAX_TEXT,
    AuditDoc,
    HistoryDoc,
    PauseDoc,
    SwitchDoc,
    describe,
)

Scrub = Callable[[str], str]


class StateDecodeError(ValueError):
    """A value does not fit the schema; the message names its JSON path and the problem."""


def clean_text(text: str, scrub: Scrub) -> str:
    """`text` redacted, as valid Unicode (lone surrogates -> U+FFFD), at most MAX_TEXT long."""
    text = scrub(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16 so that a surrogate *pair* written as two code points is joined.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return text


def _opt(value: str | None, scrub: Scrub) -> str | None:
    return None if value is None else clean_text(value, scrub)


def _clean_json(value: Any, scrub: Scrub) -> Any:
    if isinstance(value, str):
        return clean_text(value, scrub)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # Novu's JSON had NaN/Infinity: keep what it said, as text
    if isinstance(value, Mapping):
        return {clean_text(str(k), scrub): _clean_json(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v, scrub) for v in value]
    return value


def encode_pause(pause: Pause, scrub: Scrub = redact) -> dict[str, Any]:
    return {
        "reason": clean_text(pause.reason, scrub),
        "since": pause.since,
        "until": pause.until,
        "by": clean_text(pause.by, scrub),
    }


def encode_history(history: ChannelHistory, scrub: Scrub = redact) -> dict[str, Any]:
    return {
        "switches": [
            {
                "at": s.at,
                "from": _opt(s.from_, scrub),
                "to": clean_text(s.to, scrub),
                "trigger": s.trigger,
            }
            for s in history.switches
        ],
        "brake_acked_at": history.brake_acked_at,
        "last_known_primary": _opt(history.last_known_primary, scrub),
    }


def encode_audit(record: AuditRecord, scrub: Scrub = redact) -> dict[str, Any]:
    return {
        "id": clean_text(record.id, scrub),
        "at": record.at,
        "environment": clean_text(record.environment, scrub),
        "channel": clean_text(record.channel, scrub),
        "from": _opt(record.from_, scrub),
        "to": _opt(record.to, scrub),
        "trigger": record.trigger,
        "reason": clean_text(record.reason, scrub),
        "result": record.result,
        "dry_run": record.dry_run,
        "attempts": record.attempts,
        "evidence": [clean_text(e, scrub) for e in record.evidence],
        "error": _opt(record.error, scrub),
        "erased_conditions": [_clean_json(c, scrub) for c in record.erased_conditions],
        "duration": record.duration,
        "extra": {clean_text(k, scrub): clean_text(v, scrub) for k, v in record.extra.items()},
        "action": record.action,
    }


def dumps(obj: Any) -> str:
    """Compact JSON; NaN is refused (the schema has refused it already)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# --- decoding: validated documents -> dataclasses -----------------------------------------


def pause_of(doc: PauseDoc) -> Pause:
    return Pause(reason=doc.reason, since=doc.since, until=doc.until, by=doc.by)


def switch_of(doc: SwitchDoc) -> Switch:
    return Switch(at=doc.at, from_=doc.from_, to=doc.to, trigger=doc.trigger)


def history_of(doc: HistoryDoc) -> ChannelHistory:
    return ChannelHistory(
        switches=tuple(switch_of(s) for s in doc.switches),
        brake_acked_at=doc.brake_acked_at,
        last_known_primary=doc.last_known_primary,
    )


def audit_of(doc: AuditDoc) -> AuditRecord:
    return AuditRecord(
        id=doc.id,
        at=doc.at,
        environment=doc.environment,
        channel=doc.channel,
        from_=doc.from_,
        to=doc.to,
        trigger=doc.trigger,
        reason=doc.reason,
        result=doc.result,
        dry_run=doc.dry_run,
        attempts=doc.attempts,
        evidence=tuple(doc.evidence),
        error=doc.error,
        erased_conditions=tuple(doc.erased_conditions),
        duration=doc.duration,
        extra=dict(doc.extra),
        action=doc.action,
    )


_D = TypeVar("_D", bound=BaseModel)


def validate(model: type[_D], value: Any, path: str = "") -> _D:
    """`value` as `model`, or StateDecodeError naming the path of each problem."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise StateDecodeError(describe(exc, prefix=path)) from None


def decode_pause(value: Any, path: str = "") -> Pause:
    return pause_of(validate(PauseDoc, value, path))


def decode_history(value: Any, path: str = "") -> ChannelHistory:
    return history_of(validate(HistoryDoc, value, path))


def decode_audit(value: Any, path: str = "") -> AuditRecord:
    """Unknown keys are ignored; a missing optional key takes the model's default."""
    return audit_of(validate(AuditDoc, value, path))
