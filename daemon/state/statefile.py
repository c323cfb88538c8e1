"""state.json: read with its bounds checked, or encoded within them, whole.

The store keeps a `StateContents` in memory: exactly what the file holds (as read back),
never a value the file could not hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

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
from daemon.state.pieces import HistoryPieces, Prune
from daemon.state.schema import HistoryDoc, StateDoc

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


def contents_of(
    doc: StateDoc, *, histories: Mapping[ChannelKey, ChannelHistory] | None = None
) -> StateContents:
    """What `doc` holds; `histories`, when given, are its histories already read back."""
    return StateContents(
        global_pause=None if doc.global_pause is None else pause_of(doc.global_pause),
        pauses={k: pause_of(p) for k, p in doc.pauses.items()},
        histories={k: history_of(h) for k, h in doc.histories.items()}
        if histories is None
        else histories,
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
    prune: Prune,
    position: tuple[int, int],
    pieces: HistoryPieces | None = None,
    retention: Mapping[ChannelKey, float] | None = None,
) -> tuple[StateContents, bytes]:
    """`contents` as it will read back, and its bytes; StateError if it does not fit the
    schema's bounds. `position`: the audit trail's (generation, size). With `pieces`, each
    history is encoded and validated once and kept until it changes (`retention`: each
    channel's, as `prune` applies it); any problem is then worded by the whole document."""
    if pieces is not None:
        joined = _join(
            contents,
            scrub=scrub,
            prune=prune,
            position=position,
            pieces=pieces,
            retention=retention or {},
        )
        if joined is not None:
            return joined
    data = _encode(contents, scrub=scrub, position=position)
    data["histories"] = {
        k: encode_history(prune(k, h), scrub) for k, h in sorted(contents.histories.items())
    }
    # Channel keys and action ids are keys, not values: clean them the same way.
    for section in ("pauses", "histories", "open_actions"):
        data[section] = {clean_text(k, scrub): v for k, v in data[section].items()}
    try:
        doc = validate(StateDoc, data)
    except StateDecodeError as exc:
        msg = f"{path}: cannot write state, nothing was changed: {exc}"
        raise StateError(msg) from None
    return contents_of(doc), _bytes(data, path=path)


def _encode(contents: StateContents, *, scrub: Scrub, position: tuple[int, int]) -> dict[str, Any]:
    """The document but its histories, keys not cleaned yet."""
    return {
        "version": STATE_VERSION,
        "global_pause": None
        if contents.global_pause is None
        else encode_pause(contents.global_pause, scrub),
        "pauses": {k: encode_pause(p, scrub) for k, p in sorted(contents.pauses.items())},
        "histories": {},
        "open_actions": {k: encode_audit(a, scrub) for k, a in contents.open_actions.items()},
        "audit": {"generation": position[0], "offset": position[1]},
    }


def _join(
    contents: StateContents,
    *,
    scrub: Scrub,
    prune: Prune,
    position: tuple[int, int],
    pieces: HistoryPieces,
    retention: Mapping[ChannelKey, float],
) -> tuple[StateContents, bytes] | None:
    """The document from each history's kept piece; None if anything does not fit."""
    encoded: dict[str, Any] = {}
    docs: dict[str, HistoryDoc] = {}
    stored: dict[ChannelKey, ChannelHistory] = {}
    for channel, history in sorted(contents.histories.items()):
        piece = pieces.piece(channel, history, keep=retention.get(channel), prune=prune)
        if piece is None:
            return None
        encoded[piece.key], docs[piece.key], stored[piece.key] = (
            piece.encoded,
            piece.doc,
            piece.stored,
        )
    data = _encode(contents, scrub=scrub, position=position)
    for section in ("pauses", "open_actions"):
        data[section] = {clean_text(k, scrub): v for k, v in data[section].items()}
    try:  # a validated piece is taken as it is: only the keys and the rest are checked
        doc = StateDoc.model_validate({**data, "histories": docs})
    except ValidationError:
        return None
    data["histories"] = encoded
    raw = (json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n").encode()
    if len(raw) > MAX_STATE_BYTES:
        return None
    pieces.keep_only(contents.histories.keys())
    return contents_of(doc, histories=stored), raw


def _bytes(data: dict[str, Any], *, path: Path) -> bytes:
    # One line: json.dumps with `indent` runs the pure-Python encoder (half of a write at
    # 1,000 channels); without it, the C one.
    raw = (json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n").encode()
    if len(raw) > MAX_STATE_BYTES:
        msg = (
            f"{path}: cannot write state, nothing was changed: it would be "
            f"{len(raw)} bytes, over the {MAX_STATE_BYTES}-byte bound"
        )
        raise StateError(msg)
    return raw
