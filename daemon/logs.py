"""Logging for the `novu_failover` logger tree: JSON or text lines, secrets redacted.

One handler on the `novu_failover` logger writes one line per record. Structured fields ride
on the record (`log_event(...)` or `extra={"fields": {...}}`). A filter on the handler
redacts, as defense in depth: every registered secret (`register_secret`) and every URL
password (`scheme://user:password@host`) anywhere in the message, fields or traceback
becomes `***`, and so does the value of any field whose key
names a credential (authorization, api_key, token, password, secret, credentials, cookie).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from daemon.redaction import hide_url_credentials

ROOT_LOGGER = "novu_failover"
REDACTED = "***"
MIN_SECRET_LENGTH = 6
"""Shorter values are not registered: replacing `abc` everywhere would mangle the logs."""

LogFormat = Literal["json", "text"]

PROCESS_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "apscheduler",
    "asyncio",
    "py.warnings",
    "",
)
"""Every other logger the running process writes through: the web server, the scheduler,
asyncio's own complaints, Python warnings, and (`""`, the root logger, at WARNING and
above) any library's. `run` and `demo` capture them, so a JSON log is only JSON lines."""
_WARNINGS_ONLY = frozenset({"apscheduler", ""})

_SENSITIVE_KEY = re.compile(
    r"(?:^|_)(?:authorization|api_?key|apikey|token|password|passwd|secret|credentials?"
    r"|cookie|set_cookie)$"
)
_RESERVED = frozenset({"ts", "level", "logger", "event", "msg", "exc"})
_PLAIN_VALUE = re.compile(r"[^\s\"=]+")

_secrets: set[str] = set()
_secrets_sorted: tuple[str, ...] = ()
_secrets_lock = threading.Lock()
_REDACT_CACHE_ENTRIES = 16384
_REDACT_CACHE_TEXT = 256
_redacted: dict[str, str] = {}
"""Short texts already redacted against the current secrets (replaced whole when one is
registered): the same names, ids and reasons are redacted over and over, and each costs a
scan per secret (500 environments are 500 API keys)."""


def register_secret(value: str) -> None:
    """Remember a secret (API key, header value from ${ENV}) so no log line ever shows it.

    Process-wide. Values shorter than MIN_SECRET_LENGTH characters are ignored.
    """
    global _secrets_sorted, _redacted  # noqa: PLW0603 -- one process-wide registry, replaced whole under a lock
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first, so a secret that contains another is replaced whole.
        _secrets_sorted = tuple(sorted(_secrets, key=len, reverse=True))
        _redacted = {}  # after the secrets: a reader that sees the new cache sees them too


def secrets_version() -> object:
    """A value that changes whenever a secret is registered: caches of redacted text key on
    it (the metrics redact each label value once, not on every update)."""
    return _secrets_sorted


def redact(text: str) -> str:
    """`text` with every registered secret, and the password of every URL that carries
    one (`scheme://user:password@host`), replaced by `***`."""
    cache = _redacted  # read before the secrets (see register_secret)
    known = cache.get(text)
    if known is not None:
        return known
    result = text
    for secret in _secrets_sorted:
        if secret in result:
            result = result.replace(secret, REDACTED)
    result = hide_url_credentials(result)
    if len(text) <= _REDACT_CACHE_TEXT:
        if len(cache) >= _REDACT_CACHE_ENTRIES:
            cache.clear()
        cache[text] = result
    return result


def is_sensitive_key(key: str) -> bool:
    """Whether a field or header named `key` holds a credential (its value is never shown)."""
    return _SENSITIVE_KEY.search(key.lower().replace("-", "_")) is not None


def scrub(value: Any) -> Any:
    """A JSON-ready copy of `value` with secrets redacted (by value and by key name).

    Mappings become dicts (keys as str), sequences lists, non-finite floats strings, and
    anything else its redacted `str()`.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if is_sensitive_key(str(k)) else scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    return redact(str(value))


def get_logger(module: str) -> logging.Logger:
    """The logger for a module in the `novu_failover` tree.

    `get_logger(__name__)` in `daemon.policy` gives `novu_failover.policy`.
    """
    name = module.removeprefix("daemon").lstrip(".")
    return logging.getLogger(f"{ROOT_LOGGER}.{name}" if name else ROOT_LOGGER)


def log_event(
    logger: logging.Logger,
    level: int | str,
    event: str,
    msg: str,
    /,
    *,
    exc_info: bool | BaseException | None = None,
    **fields: Any,
) -> None:
    """Log one event: a short machine name (`decision`, `action`), a human sentence, fields.

    `msg` is taken literally (no %-formatting), so it may contain any text.
    """
    levelno = level if isinstance(level, int) else parse_level(level)
    if logger.isEnabledFor(levelno):
        logger.log(
            levelno,
            "%s",
            msg,
            exc_info=exc_info,
            extra={"event": event, "fields": fields},
            stacklevel=2,
        )


def parse_level(level: str) -> int:
    """`info` / `WARNING` -> the logging level number; ValueError for an unknown name."""
    levels = logging.getLevelNamesMapping()
    name = level.strip().upper()
    if name not in levels or name == "NOTSET":
        msg = f"unknown log level {level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
        raise ValueError(msg)
    return levels[name]


class RedactionFilter(logging.Filter):
    """Rewrites a record so that no registered secret or credential-named field survives.

    Applied on the handler, so it sees records from every logger under it. It renders the
    message (`msg % args`) and the traceback first, then redacts the text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        record.fields = scrub(fields) if isinstance(fields, Mapping) else {}
        event = getattr(record, "event", None)
        if event is not None:
            record.event = redact(str(event))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _short_name(logger_name: str) -> str:
    return logger_name.removeprefix(ROOT_LOGGER).lstrip(".") or ROOT_LOGGER


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def _traceback(record: logging.LogRecord, formatter: logging.Formatter) -> str | None:
    parts = []
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return redact("\n".join(parts)) if parts else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, [event], msg, fields..., [exc]."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event is not None:
            line["event"] = str(event)
        line["msg"] = redact(record.getMessage())
        for key, value in scrub(_fields(record)).items():
            # A field never overwrites the envelope: `ts` arrives as `ts_`.
            line[f"{key}_" if key in _RESERVED else key] = value
        exc = _traceback(record, self)
        if exc is not None:
            line["exc"] = exc
        return redact(json.dumps(line, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """`2026-11-28T15:00:00Z INFO  decision production/email: no action: ...  key=value`."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = getattr(record, "event", None)
        head = str(event) if event is not None else _short_name(record.name)
        text = f"{ts} {record.levelname:<5} {head} {record.getMessage()}"
        pairs = [f"{key}={_text_value(value)}" for key, value in scrub(_fields(record)).items()]
        if pairs:
            text += "  " + " ".join(pairs)
        exc = _traceback(record, self)
        if exc is not None:
            text += "\n" + exc
        return redact(text)


def _text_value(value: Any) -> str:
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value if _PLAIN_VALUE.fullmatch(value) else json.dumps(value, ensure_ascii=False)


LIBRARY_LOGGERS = ("uvicorn", "apscheduler", "httpx", "httpcore")
"""Libraries the daemon runs on. Their records go through the same redacting handler, and
they chat (every request, every job run): only their warnings show unless at DEBUG."""


def configure_logging(
    *,
    fmt: LogFormat,
    level: str,
    stream: TextIO | None = None,
    capture: Iterable[str] = (),
    chatty: Iterable[str] = (),
) -> None:
    """Send the `novu_failover` tree (and the `capture` loggers, e.g. `apscheduler`) to one
    handler on `stream` (default: the current sys.stderr). The `chatty` loggers go there
    too, at WARNING or above unless `level` is DEBUG.

    Calling it again replaces the handler it installed before; it never adds a second one.
    The configured loggers stop propagating to the root, so a record is written once (and
    redacted: a library's own line never reaches the root's handler unredacted).
    """
    formatters: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}
    if fmt not in formatters:
        msg = f"unknown log format {fmt!r}: expected 'json' or 'text'"
        raise ValueError(msg)
    levelno = parse_level(level)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatters[fmt]())
    handler.addFilter(RedactionFilter())
    handler._novu_failover = True  # type: ignore[attr-defined]  # marks the handler we own
    quiet = levelno if levelno <= logging.DEBUG else max(levelno, logging.WARNING)
    # apscheduler (two lines per job run) and the root logger (any library) show only
    # warnings, like the `chatty` libraries, unless at DEBUG
    loggers = [
        (name, quiet if name in _WARNINGS_ONLY else levelno) for name in (ROOT_LOGGER, *capture)
    ]
    loggers.extend((name, quiet) for name in chatty)
    for name, logger_level in loggers:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "_novu_failover", False)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(logger_level)
        logger.propagate = False
        if name == "":
            for bare in [h for h in logger.handlers if h is not handler]:
                if isinstance(bare, logging.StreamHandler) and bare.stream in (
                    sys.stderr,
                    sys.stdout,
                ):
                    logger.removeHandler(bare)  # a basicConfig() would print plain text
    if "py.warnings" in capture:
        logging.captureWarnings(True)
