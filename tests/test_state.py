"""Durable state: exact round-trips, atomic writes, refusing corrupt files, a damaged audit tail."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon import state as state_mod
from daemon.logs import register_secret
from daemon.model import (
    AuditAction,
    AuditRecord,
    AuditResult,
    ChannelHistory,
    Pause,
    Switch,
    Trigger,
)
from daemon.state import (
    AUDIT_FILE,
    STATE_FILE,
    StateError,
    StateStore,
    decode_audit,
    decode_history,
    decode_pause,
    encode_audit,
    encode_history,
    encode_pause,
)


def _same(value: str) -> str:
    return value


# --- strategies ---------------------------------------------------------------------------

texts = st.text(max_size=12)
times = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | times | texts
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
PAUSE_FIELDS = {"reason": texts, "since": times, "until": st.none() | times, "by": texts}
SWITCH_FIELDS = {
    "at": times,
    "from_": st.none() | texts,
    "to": texts,
    "trigger": st.sampled_from(get_args(Trigger)),
}
pauses = st.builds(Pause, **PAUSE_FIELDS)
switches = st.builds(Switch, **SWITCH_FIELDS)
HISTORY_FIELDS = {
    "switches": st.lists(switches, max_size=4).map(tuple),
    "brake_acked_at": st.none() | times,
    "last_known_primary": st.none() | texts,
}
histories = st.builds(ChannelHistory, **HISTORY_FIELDS)
AUDIT_FIELDS = {
    "id": texts,
    "at": times,
    "environment": texts,
    "channel": texts,
    "from_": st.none() | texts,
    "to": st.none() | texts,
    "trigger": st.sampled_from(get_args(Trigger)),
    "reason": texts,
    "result": st.sampled_from(get_args(AuditResult)),
    "dry_run": st.booleans(),
    "attempts": st.integers(min_value=0, max_value=100),
    "evidence": st.lists(texts, max_size=3).map(tuple),
    "error": st.none() | texts,
    "erased_conditions": st.lists(st.dictionaries(texts, json_values, max_size=3), max_size=2).map(
        tuple
    ),
    "duration": times,
    "extra": st.dictionaries(texts, texts, max_size=3),
    "action": st.sampled_from(get_args(AuditAction)),
}
audit_records = st.builds(AuditRecord, **AUDIT_FIELDS)


def _through_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _record(n: int, **overrides: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "id": f"act-{n}",
        "at": 1_700_000_000.0 + n,
        "environment": "production",
        "channel": "email",
        "from_": "sendgrid-main",
        "to": "ses-backup",
        "trigger": "failover",
        "reason": "primary sendgrid-main is down (3/3 checks failed)",
        "result": "ok",
        "attempts": 1,
        "evidence": ("statuspage: Mail Sending major_outage",),
    }
    fields.update(overrides)
    return AuditRecord(**fields)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with StateStore.open(tmp_path / "state", scrub=_same) as s:
        yield s


# --- serialization round-trips ------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "strategy_fields", "example", "encode"),
    [
        pytest.param(Pause, PAUSE_FIELDS, Pause("r", 1.0), encode_pause, id="pause"),
        pytest.param(Switch, SWITCH_FIELDS, None, None, id="switch"),
        pytest.param(
            ChannelHistory, HISTORY_FIELDS, ChannelHistory(), encode_history, id="history"
        ),
        pytest.param(AuditRecord, AUDIT_FIELDS, None, encode_audit, id="audit"),
    ],
)
def test_codec_and_strategies_cover_every_model_field(
    cls: type, strategy_fields: dict[str, Any], example: Any, encode: Any
) -> None:
    """A field added to the model without codec support fails here, not in production."""
    names = {f.name for f in dataclasses.fields(cls)}
    # st.builds leaves defaulted fields at their default unless named: name them all.
    assert set(strategy_fields) == names
    if encode is not None:
        encoded = encode(_record(1) if example is None else example, _same)
        assert set(encoded) == {"from" if n == "from_" else n for n in names}


@given(pauses)
def test_pause_round_trips_exactly(pause: Pause) -> None:
    assert decode_pause(_through_json(encode_pause(pause, _same))) == pause


@given(histories)
def test_history_round_trips_exactly(history: ChannelHistory) -> None:
    assert decode_history(_through_json(encode_history(history, _same))) == history


@given(audit_records)
def test_audit_record_round_trips_exactly(record: AuditRecord) -> None:
    encoded = encode_audit(record, _same)
    assert encoded["from"] == record.from_, "from_ is written as `from`"
    assert "from_" not in encoded
    assert decode_audit(_through_json(encoded)) == record


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(
    global_pause=st.none() | pauses,
    channel_pauses=st.dictionaries(texts, pauses, max_size=3),
    channel_histories=st.dictionaries(texts, histories, max_size=3),
    records=st.lists(audit_records, max_size=3),
)
def test_everything_survives_a_restart(
    global_pause: Pause | None,
    channel_pauses: dict[str, Pause],
    channel_histories: dict[str, ChannelHistory],
    records: list[AuditRecord],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "state"
        with StateStore.open(directory, scrub=_same) as before:
            before.set_pause(None, global_pause)
            for key, pause in channel_pauses.items():
                before.set_pause(key, pause)
            for key, history in channel_histories.items():
                before.set_history(key, history)
            for record in records:
                before.record(record)
        with StateStore.open(directory, scrub=_same) as after:
            assert after.global_pause == global_pause
            assert after.pauses() == channel_pauses
            for key, history in channel_histories.items():
                assert after.history(key) == history
            assert after.events(limit=100) == (records[::-1], len(records))


# --- pauses and histories -----------------------------------------------------------------


def test_fresh_store_is_empty(store: StateStore) -> None:
    assert store.global_pause is None
    assert store.pauses() == {}
    assert store.channel_pause("production/email") is None
    assert store.history("production/email") == ChannelHistory()
    assert store.events(limit=10) == ([], 0)


def test_set_pause_none_channel_is_global_and_none_pause_resumes(store: StateStore) -> None:
    pause = Pause(reason="provider maintenance", since=10.0, until=20.0, by="alice")
    store.set_pause(None, pause)
    store.set_pause("production/sms", pause)
    assert store.global_pause == pause
    assert store.pauses() == {"production/sms": pause}
    store.set_pause(None, None)
    store.set_pause("production/sms", None)
    assert store.global_pause is None
    assert store.pauses() == {}


def test_state_file_is_versioned_json_with_no_temp_files_left(store: StateStore) -> None:
    store.set_history(
        "production/email",
        ChannelHistory(switches=(Switch(at=1.0, from_="a", to="b", trigger="failover"),)),
    )
    data = json.loads(store.state_path.read_text())
    assert data["version"] == 1
    assert data["histories"]["production/email"]["switches"][0]["from"] == "a"
    assert sorted(p.name for p in store.directory.iterdir()) == [AUDIT_FILE, STATE_FILE]


def test_empty_history_is_dropped_from_the_file(store: StateStore) -> None:
    store.set_history("production/email", ChannelHistory(last_known_primary="a"))
    store.set_history("production/email", ChannelHistory())
    assert json.loads(store.state_path.read_text())["histories"] == {}


def test_files_and_directory_are_private(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "a" / "state") as store:
        store.set_pause(None, Pause(reason="r", since=1.0))
        store.record(_record(1))
        assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(store.state_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(store.audit_path.stat().st_mode) == 0o600


def test_failed_write_keeps_old_file_and_memory_and_flush_retries(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash or error before the rename leaves the old state.json whole."""
    old = Pause(reason="old", since=1.0)
    new = Pause(reason="new", since=2.0)
    store.set_pause(None, old)
    before = store.state_path.read_bytes()

    def disk_full(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_mod.os, "replace", disk_full)
    with pytest.raises(StateError, match=r"state\.json: cannot write state .*No space left"):
        store.set_pause(None, new)
    assert store.state_path.read_bytes() == before
    assert store.global_pause == new, "the change still holds in this process"
    assert sorted(p.name for p in store.directory.iterdir()) == [AUDIT_FILE, STATE_FILE]

    monkeypatch.undo()
    store.flush()
    assert json.loads(store.state_path.read_text())["global_pause"]["reason"] == "new"


def test_leftover_temp_file_from_a_crash_is_ignored_and_removed(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    with StateStore.open(directory) as store:
        store.set_pause(None, Pause(reason="kept", since=1.0))
    (directory / ".state.json.abc123.tmp").write_text("{half a fi")
    with StateStore.open(directory) as store:
        assert store.global_pause == Pause(reason="kept", since=1.0)
    assert not list(directory.glob("*.tmp"))


# --- corrupt state.json -------------------------------------------------------------------

VALID = {"version": 1, "global_pause": None, "pauses": {}, "histories": {}}
PAUSE = {"reason": "r", "since": 1.0, "until": None, "by": "x"}
SWITCH = {"at": 1.0, "from": None, "to": "b", "trigger": "failover"}
HISTORY = {"switches": [SWITCH], "brake_acked_at": None, "last_known_primary": None}


def _state(**changes: Any) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b"", r"is not valid JSON \(line 1 column 1", id="empty"),
        pytest.param(b'{"version": 1, "pau', r"is not valid JSON", id="truncated"),
        pytest.param(b"\xff\xfe{}", r"is not UTF-8 text", id="binary"),
        pytest.param(
            _state(version=2), r"unsupported version 2 \(this build reads 1\)", id="newer"
        ),
        pytest.param(json.dumps([1]).encode(), r"\(top\): expected an object", id="list"),
        pytest.param(
            json.dumps({"version": 1, "pauses": {}}).encode(),
            r"missing global_pause, histories",
            id="missing-keys",
        ),
        pytest.param(_state(surprise=1), r"unknown key\(s\) surprise", id="extra"),
        pytest.param(
            _state(pauses={"p/email": {**PAUSE, "since": "yesterday"}}),
            r"pauses\['p/email'\]\.since: expected a number, got a string",
            id="bad-type",
        ),
        pytest.param(
            _state(histories={"p/email": {**HISTORY, "switches": [{**SWITCH, "trigger": "x"}]}}),
            r"histories\['p/email'\]\.switches\[0\]\.trigger: expected one of failover, "
            r"failback, manual, got 'x'",
            id="bad-trigger",
        ),
        pytest.param(
            _state(global_pause={**PAUSE, "since": True}),
            r"global_pause\.since: expected a number, got a boolean",
            id="bool-is-not-a-number",
        ),
    ],
)
def test_corrupt_state_file_is_refused_and_left_untouched(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    mtime = (tmp_path / STATE_FILE).stat().st_mtime_ns
    with pytest.raises(StateError, match=problem) as caught:
        StateStore.open(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / STATE_FILE) in message
    assert "left untouched" in message
    assert (tmp_path / STATE_FILE).read_bytes() == content
    assert (tmp_path / STATE_FILE).stat().st_mtime_ns == mtime


def test_unreadable_state_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).mkdir()
    with pytest.raises(StateError, match=r"state\.json: cannot be read: .*left untouched"):
        StateStore.open(tmp_path)


def test_state_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(StateError, match="is not a directory"):
        StateStore.open(tmp_path / "state")


# --- audit trail --------------------------------------------------------------------------


def test_record_is_on_disk_and_fsynced_when_it_returns(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(state_mod.os, "fsync", spy)
    store.record(_record(1))
    assert store._audit is not None
    assert synced == [store._audit.fileno()]
    [line] = store.audit_path.read_text().splitlines()
    assert json.loads(line)["id"] == "act-1"


def test_events_are_newest_first_with_offset_limit_and_total(store: StateStore) -> None:
    for n in range(25):
        store.record(_record(n))
    page, total = store.events(limit=10, offset=5)
    assert total == 25
    assert [r.id for r in page] == [f"act-{n}" for n in range(19, 9, -1)]
    assert store.events(limit=10, offset=25) == ([], 25)
    assert store.events(limit=0) == ([], 25)
    with pytest.raises(ValueError, match="must not be negative"):
        store.events(limit=-1)


def test_damaged_last_line_is_kept_skipped_and_appends_start_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash mid-write leaves half a line: it stays in the file; reading skips it."""
    directory = tmp_path / "state"
    with StateStore.open(directory) as store:
        store.record(_record(1))
        store.record(_record(2))
    audit = directory / AUDIT_FILE
    half = b'{"id":"act-3","at":17000'
    with audit.open("ab") as f:
        f.write(half)

    with caplog.at_level(logging.WARNING), StateStore.open(directory) as store:
        assert store.skipped_audit_lines == 1
        assert store.events(limit=10)[1] == 2
        store.record(_record(4))
        records, total = store.events(limit=10)
    assert [r.id for r in records] == ["act-4", "act-2", "act-1"]
    assert total == 3
    warnings = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warnings) == 1
    assert "skipped 1 damaged line" in warnings[0].getMessage()

    lines = audit.read_bytes().split(b"\n")
    assert lines[2] == half, "the damaged line is left as it was"
    assert json.loads(lines[3])["id"] == "act-4"
    with StateStore.open(directory) as store:
        assert (store.skipped_audit_lines, store.audit_count) == (1, 3)


def test_damaged_middle_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    good = json.dumps(encode_audit(_record(1)))
    wrong_shape = json.dumps({**encode_audit(_record(2)), "trigger": "whim"})
    (directory / AUDIT_FILE).write_bytes(
        "\n".join([good, "not json", wrong_shape, "", good.replace("act-1", "act-5")]).encode()
        + b"\n\xff\xfe\n"
    )
    with StateStore.open(directory) as store:
        assert store.skipped_audit_lines == 3
        assert [r.id for r in store.events(limit=10)[0]] == ["act-5", "act-1"]


def test_audit_line_from_a_newer_version_with_extra_keys_still_reads(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    line = {**encode_audit(_record(1)), "added_later": {"x": 1}}
    (directory / AUDIT_FILE).write_text(json.dumps(line) + "\n")
    with StateStore.open(directory) as store:
        assert store.events(limit=1) == ([_record(1)], 1)


def test_unencodable_record_is_refused_and_file_unchanged(store: StateStore) -> None:
    store.record(_record(1))
    before = store.audit_path.read_bytes()
    with pytest.raises(StateError, match="cannot record audit entry act-2"):
        store.record(_record(2, duration=float("nan")))
    assert store.audit_path.read_bytes() == before
    assert store.audit_count == 1


def test_record_after_close_is_refused(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StateError, match="closed"):
        store.record(_record(1))


def test_registered_secrets_never_reach_the_files(tmp_path: Path) -> None:
    secret = "SG.super-secret-key-42"
    register_secret(secret)
    with StateStore.open(tmp_path) as store:
        store.set_pause(None, Pause(reason=f"rotating {secret}", since=1.0, by=secret))
        store.record(_record(1, error=f"401 for key {secret}", extra={"k": secret}))
        store.record(_record(2, erased_conditions=({"value": [secret]},)))
        for path in (store.state_path, store.audit_path):
            assert secret not in path.read_text()
        assert store.events(limit=1)[0][0].erased_conditions == ({"value": ["***"]},)


def test_audit_line_written_before_action_existed_reads_as_a_switch(tmp_path: Path) -> None:
    old_line = {k: v for k, v in encode_audit(_record(1)).items() if k != "action"}
    (tmp_path / AUDIT_FILE).write_text(json.dumps(old_line) + "\n")
    with StateStore.open(tmp_path) as store:
        [record], _ = store.events(limit=1)
    assert record.action == "switch"
    assert record == _record(1)


def test_pause_and_ack_records_round_trip_through_the_file(store: StateStore) -> None:
    pause = _record(1, action="pause", from_=None, to=None, trigger="manual", reason="by alice")
    store.record(pause)
    assert store.events(limit=1) == ([pause], 1)
