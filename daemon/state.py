"""Durable state: pauses, channel histories (brake, cooldown) and the audit trail.

Two files under one directory (NOVU_FAILOVER_STATE_DIR):
- `state.json`: pauses and channel histories, versioned, replaced atomically on every change
  (temp file in the same directory, fsync, rename, fsync of the directory). A state.json
  that cannot be read as this version is an error at start-up and is never overwritten.
- `audit.jsonl`: one JSON object per action, appended and fsynced before `record` returns.
  A line that does not parse (a crash mid-write) is skipped and counted, never rewritten.

Every string written is passed through the secret redactor first (defense in depth).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, get_args

from daemon.logs import get_logger, log_event, redact
from daemon.model import (
    AuditAction,
    AuditRecord,
    AuditResult,
    ChannelHistory,
    ChannelKey,
    Pause,
    Switch,
    Trigger,
)

STATE_VERSION = 1
STATE_FILE = "state.json"
AUDIT_FILE = "audit.jsonl"

_log = get_logger(__name__)
_TRIGGERS: tuple[str, ...] = get_args(Trigger)
_RESULTS: tuple[str, ...] = get_args(AuditResult)
_ACTIONS: tuple[str, ...] = get_args(AuditAction)

Scrub = Callable[[str], str]


class StateError(Exception):
    """The state directory or one of its files cannot be used; says which and why."""


class _DecodeError(Exception):
    """A decoding problem at a JSON path (`histories["prod/email"].switches[0].at`)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


# --- encoding: dataclasses -> JSON-ready dicts -------------------------------------------


def encode_pause(pause: Pause, scrub: Scrub = redact) -> dict[str, Any]:
    return {
        "reason": scrub(pause.reason),
        "since": pause.since,
        "until": pause.until,
        "by": scrub(pause.by),
    }


def encode_history(history: ChannelHistory, scrub: Scrub = redact) -> dict[str, Any]:
    return {
        "switches": [
            {
                "at": s.at,
                "from": _opt(scrub, s.from_),
                "to": scrub(s.to),
                "trigger": s.trigger,
            }
            for s in history.switches
        ],
        "brake_acked_at": history.brake_acked_at,
        "last_known_primary": _opt(scrub, history.last_known_primary),
    }


def encode_audit(record: AuditRecord, scrub: Scrub = redact) -> dict[str, Any]:
    return {
        "id": scrub(record.id),
        "at": record.at,
        "environment": scrub(record.environment),
        "channel": scrub(record.channel),
        "from": _opt(scrub, record.from_),
        "to": _opt(scrub, record.to),
        "trigger": record.trigger,
        "reason": scrub(record.reason),
        "result": record.result,
        "dry_run": record.dry_run,
        "attempts": record.attempts,
        "evidence": [scrub(e) for e in record.evidence],
        "error": _opt(scrub, record.error),
        "erased_conditions": [_scrub_json(c, scrub) for c in record.erased_conditions],
        "duration": record.duration,
        "extra": {k: scrub(v) for k, v in record.extra.items()},
        "action": record.action,
    }


def _opt(scrub: Scrub, value: str | None) -> str | None:
    return None if value is None else scrub(value)


def _scrub_json(value: Any, scrub: Scrub) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: _scrub_json(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_json(v, scrub) for v in value]
    return value


def _dumps(obj: Any) -> str:
    # allow_nan=False: a NaN time would make the file unreadable for jq and every other
    # JSON reader; refuse it here, loudly, instead.
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# --- decoding: JSON -> dataclasses, strictly, naming the path of the first problem ---------


def _object(
    value: Any,
    path: str,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    strict: bool = True,
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _DecodeError(path, f"expected an object, got {_kind(value)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise _DecodeError(path, f"missing {', '.join(missing)}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if strict and unknown:
        raise _DecodeError(path, f"unknown key(s) {', '.join(unknown)}")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _DecodeError(path, f"expected a string, got {_kind(value)}")
    return value


def _opt_str(value: Any, path: str) -> str | None:
    return None if value is None else _str(value, path)


def _num(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _DecodeError(path, f"expected a number, got {_kind(value)}")
    return float(value)


def _opt_num(value: Any, path: str) -> float | None:
    return None if value is None else _num(value, path)


def _choice(value: Any, path: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise _DecodeError(path, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _DecodeError(path, f"expected a list, got {_kind(value)}")
    return value


def decode_pause(value: Any, path: str = "pause") -> Pause:
    obj = _object(value, path, required=("reason", "since", "until", "by"))
    return Pause(
        reason=_str(obj["reason"], f"{path}.reason"),
        since=_num(obj["since"], f"{path}.since"),
        until=_opt_num(obj["until"], f"{path}.until"),
        by=_str(obj["by"], f"{path}.by"),
    )


def decode_history(value: Any, path: str = "history") -> ChannelHistory:
    obj = _object(value, path, required=("switches", "brake_acked_at", "last_known_primary"))
    switches = []
    for i, item in enumerate(_list(obj["switches"], f"{path}.switches")):
        at = f"{path}.switches[{i}]"
        s = _object(item, at, required=("at", "from", "to", "trigger"))
        switches.append(
            Switch(
                at=_num(s["at"], f"{at}.at"),
                from_=_opt_str(s["from"], f"{at}.from"),
                to=_str(s["to"], f"{at}.to"),
                trigger=_choice(s["trigger"], f"{at}.trigger", _TRIGGERS),
            )
        )
    return ChannelHistory(
        switches=tuple(switches),
        brake_acked_at=_opt_num(obj["brake_acked_at"], f"{path}.brake_acked_at"),
        last_known_primary=_opt_str(obj["last_known_primary"], f"{path}.last_known_primary"),
    )


_AUDIT_REQUIRED: tuple[str, ...] = (
    "id",
    "at",
    "environment",
    "channel",
    "from",
    "to",
    "trigger",
    "reason",
    "result",
)
_AUDIT_OPTIONAL: tuple[str, ...] = (
    "dry_run",
    "attempts",
    "evidence",
    "error",
    "erased_conditions",
    "duration",
    "extra",
    "action",
)


def decode_audit(value: Any, path: str = "record") -> AuditRecord:
    """Unknown keys are ignored (a line written by a newer version still shows); a missing
    optional key takes the model's default (`action` defaults to `switch`)."""
    obj = _object(value, path, required=_AUDIT_REQUIRED, optional=_AUDIT_OPTIONAL, strict=False)
    dry_run = obj.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise _DecodeError(f"{path}.dry_run", f"expected a boolean, got {_kind(dry_run)}")
    attempts = obj.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise _DecodeError(f"{path}.attempts", f"expected an integer, got {_kind(attempts)}")
    conditions = _list(obj.get("erased_conditions", []), f"{path}.erased_conditions")
    for i, condition in enumerate(conditions):
        _object(condition, f"{path}.erased_conditions[{i}]", required=(), strict=False)
    extra = _object(obj.get("extra", {}), f"{path}.extra", required=(), strict=False)
    return AuditRecord(
        id=_str(obj["id"], f"{path}.id"),
        at=_num(obj["at"], f"{path}.at"),
        environment=_str(obj["environment"], f"{path}.environment"),
        channel=_str(obj["channel"], f"{path}.channel"),
        from_=_opt_str(obj["from"], f"{path}.from"),
        to=_opt_str(obj["to"], f"{path}.to"),
        trigger=_choice(obj["trigger"], f"{path}.trigger", _TRIGGERS),
        reason=_str(obj["reason"], f"{path}.reason"),
        result=_choice(obj["result"], f"{path}.result", _RESULTS),
        dry_run=dry_run,
        attempts=attempts,
        evidence=tuple(
            _str(e, f"{path}.evidence[{i}]")
            for i, e in enumerate(_list(obj.get("evidence", []), f"{path}.evidence"))
        ),
        error=_opt_str(obj.get("error"), f"{path}.error"),
        erased_conditions=tuple(conditions),
        duration=_num(obj.get("duration", 0.0), f"{path}.duration"),
        extra={k: _str(v, f"{path}.extra.{k}") for k, v in extra.items()},
        action=_choice(obj.get("action", "switch"), f"{path}.action", _ACTIONS),
    )


def _parse_audit_line(line: bytes) -> AuditRecord | None:
    """The record on one line of audit.jsonl, or None if the line is damaged."""
    try:
        return decode_audit(json.loads(line.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, _DecodeError, RecursionError):
        return None


# --- files ---------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new file whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _refuse(path: Path, problem: str) -> StateError:
    return StateError(
        f"{path}: {problem}; the file was left untouched "
        "(fix it, or move it aside to start with empty state)"
    )


class StateStore:
    """Pauses, channel histories and the audit trail, kept durably under one directory.

    Changes are applied in memory first, then written. If a write fails, `StateError` is
    raised, the change still holds for this process, and `flush()` retries the write.
    Thread-safe; writes block for one fsync (a few ms), which the event loop can afford
    for events as rare as pauses and switches.
    """

    def __init__(self, directory: Path, *, scrub: Scrub = redact) -> None:
        """Use `StateStore.open`; this builds an empty store without touching the disk."""
        self.directory = directory
        self.state_path = directory / STATE_FILE
        self.audit_path = directory / AUDIT_FILE
        self._scrub = scrub
        self._lock = threading.RLock()
        self._global_pause: Pause | None = None
        self._pauses: dict[ChannelKey, Pause] = {}
        self._histories: dict[ChannelKey, ChannelHistory] = {}
        self._dirty = False
        self._audit: io.BufferedWriter | None = None  # audit.jsonl, open for appending
        self._audit_count = 0
        self._audit_needs_newline = False
        self._skipped_audit_lines = 0

    @classmethod
    def open(cls, directory: Path, *, scrub: Scrub = redact) -> StateStore:
        """Load (or start) the state under `directory`, creating it with mode 0700.

        Raises StateError, leaving every file as it was, when state.json is unreadable,
        not JSON, of another version or of the wrong shape.
        """
        store = cls(directory, scrub=scrub)
        try:
            if not directory.exists():
                directory.mkdir(mode=0o700, parents=True)
                directory.chmod(0o700)  # mkdir's mode is cut by the umask
            if not directory.is_dir():
                raise StateError(f"{directory}: the state directory is not a directory")
            store._load_state()
            store._open_audit()
        except OSError as exc:
            msg = f"{directory}: cannot use the state directory: {exc.strerror or exc}"
            raise StateError(msg) from exc
        return store

    def _load_state(self) -> None:
        for leftover in self.directory.glob(f".{STATE_FILE}.*.tmp"):
            # A temp file from a crash before the rename: never the state of record.
            leftover.unlink(missing_ok=True)
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _refuse(self.state_path, f"cannot be read: {exc.strerror or exc}") from exc
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _refuse(self.state_path, f"is not UTF-8 text ({exc.reason})") from exc
        except json.JSONDecodeError as exc:
            problem = f"is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
            raise _refuse(self.state_path, problem) from exc
        try:
            self._decode_state(data)
        except _DecodeError as exc:
            raise _refuse(self.state_path, f"unexpected content at {exc}") from exc

    def _decode_state(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("version") != STATE_VERSION:
            raise _DecodeError(
                "version",
                f"unsupported version {data.get('version')!r} (this build reads {STATE_VERSION})",
            )
        obj = _object(data, "(top)", required=("version", "global_pause", "pauses", "histories"))
        global_pause = obj["global_pause"]
        if global_pause is not None:
            self._global_pause = decode_pause(global_pause, "global_pause")
        pauses = _object(obj["pauses"], "pauses", required=(), strict=False)
        self._pauses = {k: decode_pause(v, f"pauses[{k!r}]") for k, v in pauses.items()}
        histories = _object(obj["histories"], "histories", required=(), strict=False)
        self._histories = {k: decode_history(v, f"histories[{k!r}]") for k, v in histories.items()}

    def _open_audit(self) -> None:
        existed = self.audit_path.exists()
        if existed:
            raw = self.audit_path.read_bytes()
            for line in raw.split(b"\n"):
                if not line.strip():
                    continue
                if _parse_audit_line(line) is None:
                    self._skipped_audit_lines += 1
                else:
                    self._audit_count += 1
            self._audit_needs_newline = bool(raw) and not raw.endswith(b"\n")
        fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._audit = os.fdopen(fd, "ab")
        if not existed:
            _fsync_dir(self.directory)
        if self._skipped_audit_lines:
            log_event(
                _log,
                logging.WARNING,
                "state.audit_damaged",
                f"{self.audit_path}: skipped {self._skipped_audit_lines} damaged line(s) "
                "(left in the file untouched); new records are appended after them",
                path=str(self.audit_path),
                skipped=self._skipped_audit_lines,
            )

    # --- pauses and histories -------------------------------------------------------------

    @property
    def global_pause(self) -> Pause | None:
        return self._global_pause

    def channel_pause(self, channel: ChannelKey) -> Pause | None:
        return self._pauses.get(channel)

    def pauses(self) -> dict[ChannelKey, Pause]:
        """Per-channel pauses (the global one is `global_pause`), expired ones included."""
        with self._lock:
            return dict(self._pauses)

    def set_pause(self, channel: ChannelKey | None, pause: Pause | None) -> None:
        """Pause (or, with `pause=None`, resume) one channel, or all with `channel=None`."""
        with self._lock:
            if channel is None:
                self._global_pause = pause
            elif pause is None:
                self._pauses.pop(channel, None)
            else:
                self._pauses[channel] = pause
            self._persist()

    def history(self, channel: ChannelKey) -> ChannelHistory:
        return self._histories.get(channel, ChannelHistory())

    def set_history(self, channel: ChannelKey, history: ChannelHistory) -> None:
        with self._lock:
            if history == ChannelHistory():
                self._histories.pop(channel, None)
            else:
                self._histories[channel] = history
            self._persist()

    def _encode_state(self) -> bytes:
        scrub = self._scrub
        data = {
            "version": STATE_VERSION,
            "global_pause": None
            if self._global_pause is None
            else encode_pause(self._global_pause, scrub),
            "pauses": {k: encode_pause(p, scrub) for k, p in sorted(self._pauses.items())},
            "histories": {k: encode_history(h, scrub) for k, h in sorted(self._histories.items())},
        }
        return (json.dumps(data, ensure_ascii=False, allow_nan=False, indent=2) + "\n").encode()

    def _persist(self) -> None:
        self._dirty = True
        try:
            _write_atomically(self.state_path, self._encode_state())
        except (OSError, ValueError) as exc:
            msg = f"{self.state_path}: cannot write state (kept in memory; will retry): {exc}"
            raise StateError(msg) from exc
        self._dirty = False

    # --- audit trail ----------------------------------------------------------------------

    @property
    def skipped_audit_lines(self) -> int:
        """Lines of audit.jsonl that did not parse when the store was opened."""
        return self._skipped_audit_lines

    @property
    def audit_count(self) -> int:
        return self._audit_count

    def record(self, entry: AuditRecord) -> None:
        """Append one audit record; it is on disk (flushed and fsynced) when this returns."""
        try:
            line = _dumps(encode_audit(entry, self._scrub)).encode() + b"\n"
        except ValueError as exc:
            msg = f"{self.audit_path}: cannot record audit entry {entry.id}: {exc}"
            raise StateError(msg) from exc
        with self._lock:
            if self._audit is None:
                msg = f"{self.audit_path}: the state store is closed"
                raise StateError(msg)
            if self._audit_needs_newline:
                line = b"\n" + line
            try:
                self._audit.write(line)
                self._audit.flush()
                os.fsync(self._audit.fileno())
            except OSError as exc:
                # Part of the line may be on disk: start the next one on a fresh line.
                self._audit_needs_newline = True
                msg = f"{self.audit_path}: cannot record audit entry {entry.id}: {exc}"
                raise StateError(msg) from exc
            self._audit_needs_newline = False
            self._audit_count += 1

    def events(self, *, limit: int, offset: int = 0) -> tuple[list[AuditRecord], int]:
        """Audit records newest first, `offset` records skipped, at most `limit`; and the total."""
        if limit < 0 or offset < 0:
            msg = f"limit and offset must not be negative (got limit={limit}, offset={offset})"
            raise ValueError(msg)
        with self._lock:
            try:
                raw = self.audit_path.read_bytes()
            except OSError as exc:
                msg = f"{self.audit_path}: cannot read the audit trail: {exc.strerror or exc}"
                raise StateError(msg) from exc
            total = self._audit_count
        found: list[AuditRecord] = []
        seen = 0
        for line in reversed(raw.split(b"\n")):
            if len(found) >= limit:
                break
            if not line.strip():
                continue
            record = _parse_audit_line(line)
            if record is None:
                continue
            if seen >= offset:
                found.append(record)
            seen += 1
        return found, total

    # --- lifecycle ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write anything a failed write left only in memory, and fsync the audit trail."""
        with self._lock:
            if self._dirty:
                self._persist()
            if self._audit is not None:
                try:
                    self._audit.flush()
                    os.fsync(self._audit.fileno())
                except OSError as exc:
                    msg = f"{self.audit_path}: cannot flush the audit trail: {exc}"
                    raise StateError(msg) from exc

    def close(self) -> None:
        with self._lock:
            if self._audit is None:
                return
            try:
                self.flush()
            finally:
                self._audit.close()
                self._audit = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
