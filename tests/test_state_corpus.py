"""A corpus of damaged state files: each gives a clear start-up error naming the file and
the JSON path (state.json) or is a counted, skipped line (audit.jsonl) -- never a traceback,
and never a 500 later. Every file in tests/state_corpus/ must have an entry here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from state_helpers import T0

from daemon.api.app import json_response
from daemon.commands.control_render import render_events
from daemon.service.recovery import interrupted_actions
from daemon.service.views import event_json
from daemon.state import (
    AUDIT_FILE,
    MAX_LINE_BYTES,
    MAX_STATE_BYTES,
    STATE_FILE,
    StateError,
    StateStore,
)

CORPUS = Path(__file__).parent / "state_corpus"
RULES = Path(__file__).parent.parent / "rules.yaml"

SW = 'histories["production/email"].switches[0]'
H = 'histories["production/email"]'
P = 'pauses["production/sms"]'
A = 'open_actions["act-1"]'
TIME = "must be a time from 2000-01-01 to 2200-01-01"
FINITE = "must be a finite number"

STATE_EXPECTED: dict[str, str] = {
    "brake_acked_nan.json": f"{H}.brake_acked_at: {FINITE} (got nan)",
    "byte_order_mark.json": (
        "is not valid JSON (line 1 column 1: Unexpected UTF-8 BOM (decode using utf-8-sig))"
    ),
    "checkpoint_generation_zero.json": "audit.generation: must be greater than or equal to 1",
    "checkpoint_offset_negative.json": "audit.offset: must be greater than or equal to 0",
    "deep_arrays.json": "is nested more than 32 levels deep",
    "deep_inside_pause.json": "is nested more than 32 levels deep",
    "deep_objects.json": "is nested more than 32 levels deep",
    "empty.json": "is not valid JSON (line 1 column 1: Expecting value)",
    "global_pause_string.json": "global_pause: expected an object, got a string",
    "last_known_primary_number.json": f"{H}.last_known_primary: expected a string, got a number",
    "missing_keys.json": "global_pause: is missing; histories: is missing",
    "not_utf8.json": "is not UTF-8 text (invalid start byte at byte 0)",
    "nul_bytes.json": "is not valid JSON (line 1 column 1: Expecting value)",
    "open_action_attempts_fraction.json": f"{A}.attempts: expected an integer, got a number",
    "open_action_attempts_negative.json": f"{A}.attempts: must be an integer from 0 to 10000",
    "open_action_condition_nan.json": (
        f"{A}.erased_conditions[0]: the value at .value {FINITE} (got nan)"
    ),
    "open_action_dry_run_string.json": f"{A}.dry_run: expected true or false, got a string",
    "open_action_duration_nan.json": f"{A}.duration: {FINITE} (got nan)",
    "open_action_result_unknown.json": (
        f'{A}.result: expected one of started, ok, failed, refused or dry_run, got "maybe"'
    ),
    "pause_by_number.json": f"{P}.by: expected a string, got a number",
    "pause_key_lone_surrogate.json": (
        "(the key): is not valid Unicode (a lone surrogate at character 11)"
    ),
    "pause_reason_lone_surrogate.json": (
        f"{P}.reason: is not valid Unicode (a lone surrogate at character 1)"
    ),
    "pause_reason_too_long.json": (
        f"{P}.reason: is 20000 characters long, over the 16384-character bound"
    ),
    "pause_since_bool.json": "global_pause.since: expected a number, got a boolean",
    "pause_since_nan.json": f"{P}.since: {FINITE} (got nan)",
    "pause_since_string.json": f"{P}.since: expected a number, got a string",
    "pause_until_1e308.json": f"{P}.until: {TIME}",
    "pause_until_infinity.json": f"{P}.until: {FINITE} (got inf)",
    "pause_until_minus_infinity.json": f"{P}.until: {FINITE} (got -inf)",
    "pauses_list.json": "pauses: expected an object, got a list",
    "surrogate_bytes.json": "is not UTF-8 text (invalid continuation byte at byte 97)",
    "switch_at_1e30_integer.json": f"{SW}.at: {TIME}",
    "switch_at_1e400.json": f"{SW}.at: {FINITE} (got inf)",
    "switch_at_400_digits.json": f"{SW}.at: {FINITE} (got an integer too large for a double)",
    "switch_at_5000_digits.json": "is not valid JSON (Exceeds the limit (4300 digits)",
    "switch_at_negative.json": f"{SW}.at: {TIME}",
    "switch_at_year_3000.json": f"{SW}.at: {TIME}",
    "switch_missing_from.json": f"{SW}.from: is missing",
    "switch_to_null.json": f"{SW}.to: expected a string, got null",
    "switch_trigger_unknown.json": (
        f'{SW}.trigger: expected one of failover, failback or manual, got "whim"'
    ),
    "switches_object.json": f"{H}.switches: expected a list, got an object",
    "top_list.json": "(top): expected an object, got a list",
    "top_string.json": "(top): expected an object, got a string",
    "trailing_garbage.json": "is not valid JSON (line 12 column 1: Extra data)",
    "truncated.json": "is not valid JSON (line 3 column 23: Expecting ',' delimiter)",
    "unknown_key.json": "surprise: is not a known key",
    "version_newer.json": "version: unsupported version 3 (this build reads 1 and 2)",
    "version_string.json": 'version: unsupported version "2" (this build reads 1 and 2)',
}

GOOD = ["ok-2", "ok-1", "ok-0"]
AUDIT_EXPECTED: dict[str, tuple[list[str], int, list[str]]] = {
    # file: (records shown newest first, damaged lines counted, open actions)
    "at_1e400.jsonl": (GOOD, 1, []),
    "at_boolean.jsonl": (GOOD, 1, []),
    "at_infinity.jsonl": (GOOD, 1, []),
    "attempts_huge.jsonl": (GOOD, 1, []),
    "blank_lines.jsonl": (GOOD, 0, []),
    "condition_nan.jsonl": (GOOD, 1, []),
    "crlf_line_endings.jsonl": (GOOD, 0, []),
    "deep_arrays.jsonl": (GOOD, 1, []),
    "deep_condition.jsonl": (GOOD, 1, []),
    "duration_nan.jsonl": (GOOD, 1, []),
    "duration_negative.jsonl": (GOOD, 1, []),
    "final_damaged_started_stays_open.jsonl": (["ok-2", "ok-1", "act-9", "ok-0"], 1, ["act-9"]),
    "missing_id.jsonl": (GOOD, 1, []),
    "not_json.jsonl": (GOOD, 1, []),
    "not_utf8.jsonl": (GOOD, 1, []),
    "nul_bytes.jsonl": (GOOD, 1, []),
    "started_lone_surrogate.jsonl": (GOOD, 1, []),
    "top_list.jsonl": (GOOD, 1, []),
    "torn_last_line.jsonl": (["ok-1", "ok-0"], 1, []),
    "trigger_unknown.jsonl": (GOOD, 1, []),
}


def test_every_corpus_file_has_an_expectation_and_there_are_at_least_forty() -> None:
    state = {p.name for p in (CORPUS / "state").iterdir()}
    audit = {p.name for p in (CORPUS / "audit").iterdir()}
    assert state == set(STATE_EXPECTED)
    assert audit == set(AUDIT_EXPECTED)
    assert len(state) + len(audit) >= 40


def _refused(directory: Path, content: bytes) -> str:
    (directory / STATE_FILE).write_bytes(content)
    mtime = (directory / STATE_FILE).stat().st_mtime_ns
    with pytest.raises(StateError) as caught:
        StateStore.open(directory)
    assert (directory / STATE_FILE).read_bytes() == content
    assert (directory / STATE_FILE).stat().st_mtime_ns == mtime
    message = str(caught.value)
    assert message.startswith(f"{directory / STATE_FILE}: ")
    assert message.endswith(
        "; the file was left untouched (fix it, or move it aside to start with empty state)"
    )
    return message


@pytest.mark.parametrize("name", sorted(STATE_EXPECTED))
def test_damaged_state_file_is_a_located_start_up_error(tmp_path: Path, name: str) -> None:
    message = _refused(tmp_path, (CORPUS / "state" / name).read_bytes())
    assert STATE_EXPECTED[name] in message


def test_a_state_file_over_the_size_bound_is_refused_unread(tmp_path: Path) -> None:
    content = b"{" + b" " * MAX_STATE_BYTES + b"}"
    message = _refused(tmp_path, content)
    assert f"over the {MAX_STATE_BYTES}-byte bound" in message


@pytest.mark.parametrize("name", sorted(AUDIT_EXPECTED))
def test_damaged_audit_line_is_counted_and_skipped(tmp_path: Path, name: str) -> None:
    shown, skipped, opened = AUDIT_EXPECTED[name]
    shutil.copy(CORPUS / "audit" / name, tmp_path / AUDIT_FILE)
    with StateStore.open(tmp_path) as store:
        records, total = store.events(limit=100)
        assert [r.id for r in records] == shown
        assert store.skipped_audit_lines == skipped
        assert [r.id for r in store.open_actions()] == opened
        interrupted_actions(store.open_actions())
        # What /v1/events serves: it must encode (a NaN or a lone surrogate would be a 500).
        body = {"events": [event_json(r) for r in records], "total": total}
        json.loads(json_response(body).body)
        store.record(records[0])
        assert store.events(limit=1)[0] == records[:1]


def test_an_audit_line_over_the_line_bound_is_skipped_without_being_held(tmp_path: Path) -> None:
    good = (CORPUS / "audit" / "not_json.jsonl").read_bytes().split(b"\n")[0]
    huge = b'{"id":"x","reason":"' + b"r" * MAX_LINE_BYTES + b'"}'
    (tmp_path / AUDIT_FILE).write_bytes(b"\n".join([good, huge, good]) + b"\n")
    with StateStore.open(tmp_path) as store:
        assert [r.id for r in store.events(limit=10)[0]] == ["ok-0", "ok-0"]
        assert store.skipped_audit_lines == 1


@pytest.mark.parametrize(
    "name",
    ["deep_arrays.json", "pause_since_nan.json", "pause_reason_lone_surrogate.json"],
)
def test_the_daemon_refuses_to_start_with_one_clear_line(tmp_path: Path, name: str) -> None:
    """The real command: exit 2 and the located error on stderr, no traceback."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    shutil.copy(CORPUS / "state" / name, state_dir / STATE_FILE)
    env = {
        **os.environ,
        "NOVU_FAILOVER_STATE_DIR": str(state_dir),
        "NOVU_FAILOVER_RULES": str(RULES),
        "NOVU_FAILOVER_LISTEN": "127.0.0.1:0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert STATE_EXPECTED[name] in done.stderr
    assert f"{state_dir / STATE_FILE}: " in done.stderr


def test_times_in_the_corpus_are_valid_apart_from_the_damage() -> None:
    """The corpus damages one thing per file: its good parts use a time within bounds."""
    assert json.loads((CORPUS / "audit" / "not_json.jsonl").read_text().split("\n")[0])["at"] == T0


def test_the_cli_footer_names_the_entries_a_page_covers_damaged_ones_included(
    tmp_path: Path,
) -> None:
    shutil.copy(CORPUS / "audit" / "not_json.jsonl", tmp_path / AUDIT_FILE)
    with StateStore.open(tmp_path) as store:
        records, total = store.events(limit=2, offset=1)
    page = {"events": [event_json(r) for r in records], "total": total, "offset": 1, "limit": 2}
    assert [r.id for r in records] == ["ok-1"], "the second entry is the damaged line"
    assert render_events(page).splitlines()[-1] == "events 2-3 of 4, newest first"
