"""state.json: read with its bounds checked, or encoded within them, whole.

The store keeps a `StateContents` in memory: exactly what the file holds (as read back),
never a value the file could not hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.model import AuditRecord, ChannelHistory, ChannelKey, Pause
from daemon.state.codec import (
    Scrub,
    StateDecodeError,
    audit_of,
    clean_text,
    encode_audit,
    encode_history,
    encode_pause,
    history_of,
    pause_of,
    validate,
)
from daemon.state.jsontext import JsonTextError, load_json
from daemon.state.schema import StateDoc

STATE_VERSION = 2
STATE_FILE = "state.json"
MAX_STATE_BYTES = 16 * 1024 * 1024


class StateError(Exception):
    """The state directory or one of its files cannot be used; says which and why."""


@dataclass(frozen=True, slots=True)
class StateContents:
    """Everything state.json holds, as last written (or read) whole."""

    global_pause: Pause | None = None
    pauses: Mapping[ChannelKey, Pause] = field(default_factory=dict)
    histories: Mapping[ChannelKey, ChannelHistory] = field(default_factory=dict)
    open_actions: Mapping[str, AuditRecord] = field(default_factory=dict)


def refuse(path: Path, problem: str) -> StateError:
    return StateError(
        f"{path}: {problem}; the file was left untouched "
        "(fix it, or move it aside to start with empty state)"
    )


def contents_of(doc: StateDoc) -> StateContents:
    return StateContents(
        global_pause=None if doc.global_pause is None else pause_of(doc.global_pause),
        pauses={k: pause_of(p) for k, p in doc.pauses.items()},
        histories={k: history_of(h) for k, h in doc.histories.items()},
        open_actions={k: audit_of(a) for k, a in doc.open_actions.items()},
    )


def read_state(path: Path) -> StateDoc | None:
    """The document in `path`, None if there is none; StateError naming the file and the
    JSON path of the problem otherwise (the file is only read)."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        # A temp file from a crash before the rename: never the state of record.
        leftover.unlink(missing_ok=True)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise refuse(path, f"cannot be read: {exc.strerror or exc}") from exc
    try:
        data = load_json(raw, max_bytes=MAX_STATE_BYTES)
    except JsonTextError as exc:
        raise refuse(path, str(exc)) from None
    if isinstance(data, dict) and data.get("version") not in (1, STATE_VERSION):
        shown = json.dumps(data.get("version"))[:40]
        problem = f"version: unsupported version {shown} (this build reads 1 and 2)"
        raise refuse(path, problem)
    try:
        return validate(StateDoc, data)
    except StateDecodeError as exc:
        raise refuse(path, str(exc)) from None


def encode_state(
    contents: StateContents,
    *,
    path: Path,
    scrub: Scrub,
    prune: Callable[[ChannelKey, ChannelHistory], ChannelHistory],
    position: tuple[int, int],
) -> tuple[StateDoc, bytes]:
    """The document for `contents` (as it will read back) and its bytes; StateError if it
    does not fit the schema's bounds. `position`: the audit trail's (generation, size)."""
    data: dict[str, Any] = {
        "version": STATE_VERSION,
        "global_pause": None
        if contents.global_pause is None
        else encode_pause(contents.global_pause, scrub),
        "pauses": {k: encode_pause(p, scrub) for k, p in sorted(contents.pauses.items())},
        "histories": {
            k: encode_history(prune(k, h), scrub) for k, h in sorted(contents.histories.items())
        },
        "open_actions": {k: encode_audit(a, scrub) for k, a in contents.open_actions.items()},
        "audit": {"generation": position[0], "offset": position[1]},
    }
    # Channel keys and action ids are keys, not values: clean them the same way.
    for section in ("pauses", "histories", "open_actions"):
        data[section] = {clean_text(k, scrub): v for k, v in data[section].items()}
    try:
        doc = validate(StateDoc, data)
    except StateDecodeError as exc:
        msg = f"{path}: cannot write state, nothing was changed: {exc}"
        raise StateError(msg) from None
    # One line: json.dumps with `indent` runs the pure-Python encoder (half of a write at
    # 1,000 channels); without it, the C one.
    raw = (json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n").encode()
    if len(raw) > MAX_STATE_BYTES:
        msg = (
            f"{path}: cannot write state, nothing was changed: it would be "
            f"{len(raw)} bytes, over the {MAX_STATE_BYTES}-byte bound"
        )
        raise StateError(msg)
    return doc, raw
