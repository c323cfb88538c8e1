"""Logging: JSON and text lines, structured fields, redaction, one handler however configured."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from daemon import logs
from daemon.logs import configure_logging, get_logger, log_event, redact, register_secret

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers; put them back for other tests."""
    saved = {}
    for name in (logs.ROOT_LOGGER, "thirdparty", *logs.PROCESS_LOGGERS):
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logging.captureWarnings(False)
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def _configure(fmt: logs.LogFormat, level: str = "DEBUG") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(fmt=fmt, level=level, stream=stream)
    return stream


def _json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_envelope_event_and_fields() -> None:
    stream = _configure("json")
    log_event(
        get_logger("daemon.policy"),
        logging.INFO,
        "decision",
        "production/email: no action: primary sendgrid-main is up",
        channel="production/email",
        kind="keep",
        checks=3,
    )
    [line] = _json_lines(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line.pop("ts"))
    assert line == {
        "level": "INFO",
        "logger": "novu_failover.policy",
        "event": "decision",
        "msg": "production/email: no action: primary sendgrid-main is up",
        "channel": "production/email",
        "kind": "keep",
        "checks": 3,
    }


def test_json_fields_via_extra_and_percent_args() -> None:
    stream = _configure("json")
    get_logger("daemon.api").warning("refused %s", "pause", extra={"fields": {"status": 409}})
    [line] = _json_lines(stream)
    assert line["msg"] == "refused pause"
    assert line["status"] == 409
    assert "event" not in line


def test_json_field_named_like_envelope_key_does_not_overwrite_it() -> None:
    stream = _configure("json")
    log_event(get_logger("daemon.x"), "info", "e", "hello", ts="not-a-time", level="x")
    [line] = _json_lines(stream)
    assert line["ts"] != "not-a-time"
    assert line["level"] == "INFO"
    assert (line["ts_"], line["level_"]) == ("not-a-time", "x")


def test_json_odd_field_values_still_give_one_valid_json_line() -> None:
    stream = _configure("json")
    log_event(
        get_logger("x"), logging.INFO, "e", "multi\nline", nan=float("nan"), obj=object(), t=(1, 2)
    )
    [line] = _json_lines(stream)
    assert line["msg"] == "multi\nline"
    assert line["nan"] == "nan"
    assert line["t"] == [1, 2]
    assert line["obj"].startswith("<object")


def test_log_event_takes_msg_literally() -> None:
    stream = _configure("json")
    log_event(get_logger("x"), logging.INFO, "e", "100% sure %s %d")
    assert _json_lines(stream)[0]["msg"] == "100% sure %s %d"


def test_json_exception_is_exc_text() -> None:
    stream = _configure("json")
    try:
        raise RuntimeError("boom")  # noqa: TRY301
    except RuntimeError:
        get_logger("x").exception("failed")
    [line] = _json_lines(stream)
    assert line["level"] == "ERROR"
    assert "Traceback" in line["exc"]
    assert "RuntimeError: boom" in line["exc"]


def test_text_format_reads_like_a_sentence_with_key_values() -> None:
    stream = _configure("text")
    log_event(
        get_logger("daemon.policy"),
        logging.INFO,
        "decision",
        "production/email: no action: primary sendgrid-main is up",
        kind="keep",
        reason="two words",
        n=3,
        gone=None,
    )
    text = stream.getvalue()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO  decision production/email: no action: "
        r'primary sendgrid-main is up  kind=keep reason="two words" n=3 gone=null\n',
        text,
    )


def test_text_format_without_event_names_the_logger() -> None:
    stream = _configure("text")
    get_logger("daemon.scheduler").warning("late by %.1fs", 2.5)
    assert re.search(r"Z WARNING scheduler late by 2\.5s\n$", stream.getvalue())


def test_text_format_appends_traceback() -> None:
    stream = _configure("text")
    try:
        raise ValueError("bad")  # noqa: TRY301
    except ValueError:
        get_logger("x").exception("failed")
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("ERROR x failed")
    assert rest[0].startswith("Traceback")
    assert rest[-1] == "ValueError: bad"


def test_level_filters_records() -> None:
    stream = _configure("json", level="warning")
    get_logger("x").info("quiet")
    get_logger("x").warning("loud")
    assert [line["msg"] for line in _json_lines(stream)] == ["loud"]


def test_configuring_twice_keeps_one_handler() -> None:
    first = _configure("json")
    second = _configure("text")
    get_logger("x").info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
    owned = [h for h in logging.getLogger("novu_failover").handlers if hasattr(h, "_novu_failover")]
    assert len(owned) == 1


def test_records_are_not_duplicated_through_the_root_logger() -> None:
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)
    logging.getLogger().addHandler(root_handler)
    try:
        stream = _configure("json")
        get_logger("x").info("once")
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert len(_json_lines(stream)) == 1
    assert root_stream.getvalue() == ""


def test_the_process_loggers_write_json_through_the_same_redaction() -> None:
    """uvicorn, apscheduler, asyncio and stray libraries: one format, secrets redacted,
    the scheduler's INFO chatter left out."""
    register_secret(SECRET)
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream, capture=logs.PROCESS_LOGGERS)
    logging.getLogger("uvicorn.error").info("Started server with %s", SECRET)
    logging.getLogger("apscheduler.executors.default").info("Running job x")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job missed")
    logging.getLogger("some.library").warning("retrying %s", SECRET)
    logging.getLogger("some.library").info("chatter")
    lines = _json_lines(stream)
    assert [line["logger"] for line in lines] == [
        "uvicorn.error",
        "apscheduler.scheduler",
        "some.library",
    ]
    assert all(SECRET not in json.dumps(line) for line in lines)
    assert lines[0]["msg"] == "Started server with ***"


def test_capture_routes_third_party_loggers_through_the_same_handler() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream, capture=["thirdparty"])
    logging.getLogger("thirdparty.jobs").info("job ran")
    assert _json_lines(stream)[0]["logger"] == "thirdparty.jobs"


@pytest.mark.parametrize(
    ("fmt", "level", "error"),
    [
        pytest.param("xml", "INFO", "unknown log format 'xml'", id="format"),
        pytest.param("json", "LOUD", "unknown log level 'LOUD'", id="level"),
    ],
)
def test_bad_settings_are_refused(fmt: Any, level: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        configure_logging(fmt=fmt, level=level, stream=io.StringIO())


def test_get_logger_maps_modules_into_the_tree() -> None:
    assert get_logger("daemon.novu.client").name == "novu_failover.novu.client"
    assert get_logger("daemon").name == "novu_failover"
    assert get_logger("policy").name == "novu_failover.policy"


# --- redaction --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_registered_secret_never_appears_anywhere(fmt: logs.LogFormat) -> None:
    register_secret(SECRET)
    stream = _configure(fmt)
    log = get_logger("daemon.novu")
    log_event(log, logging.INFO, f"e{SECRET}", f"key {SECRET}", header=f"Bearer {SECRET}")
    log.info("args %s", SECRET, extra={"fields": {"nested": {"list": [SECRET]}}})
    try:
        raise RuntimeError(f"auth failed with {SECRET}")  # noqa: TRY301
    except RuntimeError:
        log.exception("failed %s", SECRET)
    log.info("stack", stack_info=True, extra={"fields": {"x": SECRET}})
    out = stream.getvalue()
    assert SECRET not in out
    assert out.count("***") >= 6


def test_sensitive_keys_are_redacted_by_name() -> None:
    stream = _configure("json")
    log_event(
        get_logger("x"),
        logging.INFO,
        "request",
        "sent",
        Authorization="Basic dXNlcjpwYXNz",
        headers={"X-Api-Key": "k1", "Accept": "application/json"},
        novu_token="t",
        db_password="p",
        client_secret="s",
        credentials={"user": "u"},
        api_key_env="NOVU_API_KEY",
    )
    [line] = _json_lines(stream)
    assert line["Authorization"] == "***"
    assert line["headers"] == {"X-Api-Key": "***", "Accept": "application/json"}
    assert line["novu_token"] == line["db_password"] == line["client_secret"] == "***"
    assert line["credentials"] == "***"
    assert line["api_key_env"] == "NOVU_API_KEY", "the name of a variable is not a secret"


def test_short_values_are_not_registered() -> None:
    register_secret("abc12")
    assert redact("abc12 stays") == "abc12 stays"


def test_longest_secret_wins_when_secrets_overlap() -> None:
    register_secret("overlap-secret")
    register_secret("overlap-secret-longer")
    assert redact("x overlap-secret-longer y") == "x *** y"


def test_redaction_rewrites_the_record_for_later_handlers() -> None:
    """The filter rewrites the record itself: handlers added after ours see it redacted."""
    register_secret(SECRET)
    _configure("json")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("novu_failover")
    logger.addHandler(Keep())
    get_logger("x").info("k=%s", SECRET)
    assert seen[0].getMessage() == "k=***"


def test_a_secret_registered_after_a_text_was_redacted_is_hidden_in_it_too() -> None:
    """Redacted texts are remembered; registering a secret forgets them."""
    late = "late-secret-0f3c9a7e51"
    text = f"token is {late}"
    assert redact(text) == text
    register_secret(late)
    assert redact(text) == "token is ***"
