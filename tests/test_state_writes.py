"""Durable state when things go wrong or run at once: failed writes change nothing, many
threads at once, secrets never written, audit lines of older and newer versions."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from state_helpers import T0, record, same

from daemon.logs import register_secret
from daemon.model import ChannelHistory, Pause, Switch
from daemon.state import (
    AUDIT_FILE,
    STATE_FILE,
    StateDecodeError,
    StateError,
    StateStore,
    decode_history,
    encode_audit,
    files,
)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with StateStore.open(tmp_path / "state", scrub=same) as s:
        yield s


def _switch(at: float) -> Switch:
    return Switch(at=at, from_="a", to="b", trigger="failover")


# --- failed writes ----------------------------------------------------------------------------


def _no_space(*args: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_state_write_raises_and_keeps_old_file_and_memory(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written first, then kept in memory: a failure leaves both as they were."""
    old = Pause(reason="old", since=T0)
    store.set_pause(None, old)
    before = store.state_path.read_bytes()
    monkeypatch.setattr(files.os, "write", _no_space)
    with pytest.raises(
        StateError, match=r"state\.json: cannot write state, nothing was changed: No space"
    ):
        store.set_pause(None, Pause(reason="new", since=T0 + 1))
    with pytest.raises(StateError, match="No space"):
        store.set_history("production/email", ChannelHistory(last_known_primary="x"))
    assert store.state_path.read_bytes() == before
    assert store.global_pause == old, "memory is what the disk holds"
    assert store.history("production/email") == ChannelHistory()
    assert sorted(p.name for p in store.directory.iterdir()) == [AUDIT_FILE, STATE_FILE]

    monkeypatch.undo()
    store.set_pause(None, Pause(reason="new", since=T0 + 1))
    assert json.loads(store.state_path.read_text())["global_pause"]["reason"] == "new"


def test_failed_rename_leaves_no_temp_file(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files.os, "replace", _no_space)
    with pytest.raises(StateError, match="No space left"):
        store.set_pause(None, Pause(reason="r", since=T0))
    assert store.global_pause is None
    assert sorted(p.name for p in store.directory.iterdir()) == [AUDIT_FILE]


def test_failed_audit_append_raises_and_a_torn_line_is_one_skipped_entry(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills mid-line: the half line stays, the next record starts a fresh line."""
    store.record(record(1))
    real_write = os.write
    calls: list[int] = []

    def half_then_full(fd: int, data: Any) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", half_then_full)
    with pytest.raises(StateError, match=r"cannot record audit entry 'act-2': No space left"):
        store.record(record(2, result="started"))
    assert store.open_actions() == [], "a record that failed opens nothing"
    monkeypatch.undo()
    store.record(record(3))
    assert [r.id for r in store.events(limit=10)[0]] == ["act-3", "act-1"]
    assert (store.audit_count, store.skipped_audit_lines) == (3, 1)
    with StateStore.open(store.directory) as again:
        assert [r.id for r in again.events(limit=10)[0]] == ["act-3", "act-1"]
        assert again.audit_count == 3


def test_leftover_temp_file_from_a_crash_is_ignored_and_removed(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    with StateStore.open(directory) as store:
        store.set_pause(None, Pause(reason="kept", since=T0))
    (directory / ".state.json.abc123.tmp").write_text("{half a fi")
    with StateStore.open(directory) as store:
        assert store.global_pause == Pause(reason="kept", since=T0)
    assert not list(directory.glob("*.tmp"))


def test_unreadable_state_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).mkdir()
    with pytest.raises(StateError, match=r"state\.json: cannot be read: .*left untouched"):
        StateStore.open(tmp_path)


def test_state_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(StateError, match="is not a directory"):
        StateStore.open(tmp_path / "state")


def test_record_after_close_is_refused(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StateError, match="closed"):
        store.record(record(1))


def test_decode_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(
        StateDecodeError, match=r"^h\.switches\[0\]\.at: expected a number, got a string"
    ):
        decode_history(
            {
                "switches": [{"at": "x", "from": None, "to": "b", "trigger": "failover"}],
                "brake_acked_at": None,
                "last_known_primary": None,
            },
            "h",
        )


# --- threads ------------------------------------------------------------------------------


def test_many_threads_at_once_leave_memory_and_files_in_agreement(tmp_path: Path) -> None:
    """Every method from worker threads (as under asyncio.to_thread): nothing lost or torn."""
    directory = tmp_path / "state"
    store = StateStore.open(directory, scrub=same, audit_max_bytes=64 * 1024, audit_keep=100)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(worker: int) -> None:
        try:
            start.wait()
            for n in range(60):
                key = f"env{worker}/email"
                store.record(record(worker * 1000 + n, result="started" if n % 2 else "ok"))
                store.set_history(key, ChannelHistory(switches=(_switch(T0 + n),)))
                store.set_pause(key, Pause(reason=f"r{n}", since=T0 + n))
                store.events(limit=5, offset=n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.audit_count == 360
    memory = (store.pauses(), {k: store.history(k) for k in store.pauses()}, store.open_actions())
    assert len(memory[2]) == 180
    store.close()
    with StateStore.open(directory, scrub=same, audit_keep=100) as again:
        assert (again.pauses(), {k: again.history(k) for k in again.pauses()}) == memory[:2]
        assert again.open_actions() == memory[2]
        records, total = again.events(limit=500)
        assert total == 360
        assert len({r.id for r in records}) == 360


# --- secrets ------------------------------------------------------------------------------


def test_registered_secrets_never_reach_the_files_or_memory(tmp_path: Path) -> None:
    secret = "SG.super-secret-key-42"
    register_secret(secret)
    with StateStore.open(tmp_path) as store:
        store.set_pause(None, Pause(reason=f"rotating {secret}", since=T0, by=secret))
        store.record(record(1, error=f"401 for key {secret}", extra={"k": secret}))
        store.record(record(2, erased_conditions=({"value": [secret]},)))
        for path in (store.state_path, store.audit_path):
            assert secret not in path.read_text()
        assert store.events(limit=1)[0][0].erased_conditions == ({"value": ["***"]},)
        assert store.global_pause is not None
        assert secret not in store.global_pause.reason, "status shows what the file holds"


def test_a_secret_registered_later_is_redacted_from_histories_written_before(
    tmp_path: Path,
) -> None:
    """Each history is encoded once and kept until it changes; a secret registered since
    (a reload naming a new key) still never reaches the next write of state.json."""
    late = "late-registered-secret-7d3f"
    with StateStore.open(tmp_path) as store:
        store.set_history("production/email", ChannelHistory(last_known_primary=late))
        assert late in store.state_path.read_text(), "not a secret yet: written as it is"
        register_secret(late)
        store.set_history("production/sms", ChannelHistory(last_known_primary="vonage"))
        assert late not in store.state_path.read_text()
        assert store.history("production/email").last_known_primary == "***"


def test_unchanged_histories_are_written_again_exactly_with_each_write(tmp_path: Path) -> None:
    """A write of one channel carries every other channel's history as last written."""
    histories = {
        f"env{i}/email": ChannelHistory(switches=(_switch(T0 + i),), last_known_primary="b")
        for i in range(5)
    }
    with StateStore.open(tmp_path, scrub=same) as store:
        store.set_histories(histories)
        first = json.loads(store.state_path.read_text())["histories"]
        store.set_history("env0/email", ChannelHistory(last_known_primary="c"))
        second = json.loads(store.state_path.read_text())["histories"]
    assert second["env0/email"]["last_known_primary"] == "c"
    assert {k: v for k, v in second.items() if k != "env0/email"} == {
        k: v for k, v in first.items() if k != "env0/email"
    }
    with StateStore.open(tmp_path, scrub=same) as again:
        assert again.history("env3/email") == histories["env3/email"]


# --- compatibility of the audit line format -----------------------------------------------


def test_audit_line_written_before_action_existed_reads_as_a_switch(tmp_path: Path) -> None:
    old_line = {k: v for k, v in encode_audit(record(1)).items() if k != "action"}
    (tmp_path / AUDIT_FILE).write_text(json.dumps(old_line) + "\n")
    with StateStore.open(tmp_path) as store:
        [entry], _ = store.events(limit=1)
    assert entry.action == "switch"
    assert entry == record(1)


def test_audit_line_from_a_newer_version_with_extra_keys_still_reads(tmp_path: Path) -> None:
    line = {**encode_audit(record(1)), "added_later": {"x": 1}}
    (tmp_path / AUDIT_FILE).write_text(json.dumps(line) + "\n")
    with StateStore.open(tmp_path) as store:
        assert store.events(limit=1) == ([record(1)], 1)


def test_pause_and_ack_records_round_trip_through_the_file(store: StateStore) -> None:
    pause = record(1, action="pause", from_=None, to=None, trigger="manual", reason="by alice")
    store.record(pause)
    assert store.events(limit=1) == ([pause], 1)
