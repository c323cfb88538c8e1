"""The audit trail: rotation by size, pages read from the tail, and the index of open
`started` records that survives rotation and crashes between the two writes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_helpers import T0, record, same

from daemon.service.recovery import interrupted_actions
from daemon.state import (
    AUDIT_FILE,
    STATE_FILE,
    StateError,
    StateStore,
    encode_audit,
    rotated_name,
)
from daemon.state import audit as audit_mod
from daemon.state import store as store_mod
from daemon.state.codec import dumps


def _line(n: int, **overrides: Any) -> bytes:
    return dumps(encode_audit(record(n, **overrides), same)).encode() + b"\n"


def _ids(store: StateStore, **page: int) -> list[str]:
    return [r.id for r in store.events(**page)[0]]


# --- pages --------------------------------------------------------------------------------


def test_events_are_newest_first_with_offset_limit_and_total(tmp_path: Path) -> None:
    with StateStore.open(tmp_path, scrub=same) as store:
        for n in range(25):
            store.record(record(n))
        page, total = store.events(limit=10, offset=5)
        assert total == 25
        assert [r.id for r in page] == [f"act-{n}" for n in range(19, 9, -1)]
        assert store.events(limit=10, offset=25) == ([], 25)
        assert store.events(limit=0) == ([], 25)
        with pytest.raises(ValueError, match="must not be negative"):
            store.events(limit=-1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(
        st.sampled_from(["ok", "ok", "ok", "damaged", "blank"]), min_size=3, max_size=30
    ),
    max_bytes=st.sampled_from([300, 700, 1000, 1400, 2100]),  # 1, 2, 3, 4, 6 records a file
    limit=st.integers(min_value=0, max_value=12),
    data=st.data(),
)
def test_a_page_is_exactly_the_entries_at_offset_across_rotated_files(
    tmp_path_factory: pytest.TempPathFactory,
    kinds: list[str],
    max_bytes: int,
    limit: int,
    data: st.DataObject,
) -> None:
    """Entries (lines) are counted in total and offset; damaged and blank ones are not shown.
    Pages partition the trail, whichever files the entries are in."""
    offset = data.draw(st.integers(min_value=0, max_value=len(kinds) + 1), label="offset")
    directory = tmp_path_factory.mktemp("trail")
    entries: list[str | None] = []
    options: dict[str, Any] = {"scrub": same, "audit_max_bytes": max_bytes, "audit_keep": 100}
    for n, kind in enumerate(kinds):
        if kind == "ok":
            with StateStore.open(directory, **options) as store:
                store.record(record(n))
            entries.append(f"act-{n}")
        else:
            # A hand edit or a torn write, appended while the daemon was stopped.
            with (directory / AUDIT_FILE).open("ab") as f:
                f.write(b"\n" if kind == "blank" else b'{"id": "torn\n')
            entries.append(None)
    with StateStore.open(directory, **options) as store:
        assert store.audit_count == len(entries)
        newest_first = entries[::-1]
        expected = [e for e in newest_first[offset : offset + limit] if e is not None]
        assert _ids(store, limit=limit, offset=offset) == expected


def test_every_page_of_a_small_rotated_trail_is_exact(tmp_path: Path) -> None:
    """All (limit, offset) pairs over 11 entries in four files, one of them damaged."""
    size = len(_line(10))
    options: dict[str, Any] = {"scrub": same, "audit_max_bytes": 3 * size, "audit_keep": 10}
    entries: list[str | None] = []
    for n in range(10, 20):
        with StateStore.open(tmp_path, **options) as store:
            store.record(record(n))
        entries.append(f"act-{n}")
        if n == 14:  # a torn line, left by a crash
            with (tmp_path / AUDIT_FILE).open("ab") as f:
                f.write(b"{torn\n")
            entries.append(None)
    assert len(_files(tmp_path)) == 4
    newest_first = entries[::-1]
    with StateStore.open(tmp_path, **options) as store:
        for offset in range(len(entries) + 2):
            for limit in range(len(entries) + 2):
                expected = [e for e in newest_first[offset : offset + limit] if e is not None]
                assert _ids(store, limit=limit, offset=offset) == expected, (offset, limit)


def test_damaged_last_line_is_kept_skipped_and_appends_start_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash mid-write leaves half a line: it stays in the file; reading skips it."""
    with StateStore.open(tmp_path) as store:
        store.record(record(1))
        store.record(record(2))
    half = b'{"id":"act-3","at":17000'
    with (tmp_path / AUDIT_FILE).open("ab") as f:
        f.write(half)
    with caplog.at_level(logging.WARNING), StateStore.open(tmp_path) as store:
        assert store.skipped_audit_lines == 1
        store.record(record(4))
        records, total = store.events(limit=10)
    assert [r.id for r in records] == ["act-4", "act-2", "act-1"]
    assert total == 4, "the torn line is an entry: counted, never shown"
    warnings = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warnings) == 1
    assert "skipped 1 damaged line" in warnings[0].getMessage()
    lines = (tmp_path / AUDIT_FILE).read_bytes().split(b"\n")
    assert lines[2] == half, "the damaged line is left as it was"
    assert json.loads(lines[3])["id"] == "act-4"


def test_damaged_middle_lines_are_skipped_and_each_counted_once(tmp_path: Path) -> None:
    good = json.dumps(encode_audit(record(1)))
    wrong_shape = json.dumps({**encode_audit(record(2)), "trigger": "whim"})
    (tmp_path / AUDIT_FILE).write_bytes(
        "\n".join([good, "not json", wrong_shape, "", good.replace("act-1", "act-5")]).encode()
        + b"\n\xff\xfe\n"
    )
    with StateStore.open(tmp_path) as store:
        for _ in range(2):
            assert _ids(store, limit=10) == ["act-5", "act-1"]
        assert store.skipped_audit_lines == 3, "not json, wrong shape, not UTF-8; blank is not"


def test_a_million_records_page_from_the_tail_across_files(tmp_path: Path) -> None:
    """1,000,000 records in five files: any page comes back right, reading only its lines
    (bench/state_events.py measures how long that takes)."""
    per_file, files = 200_000, 5
    template = (
        b'{"id":"r%d","at":%d,"environment":"p","channel":"email","from":null,'
        b'"to":"b","trigger":"failover","reason":"","result":"ok"}\n'
    )
    for generation in range(1, files + 1):
        first = (generation - 1) * per_file
        data = b"".join(template % (i, T0 + i) for i in range(first, first + per_file))
        name = AUDIT_FILE if generation == files else rotated_name(generation)
        (tmp_path / name).write_bytes(data)
    state = {
        "version": 2,
        "global_pause": None,
        "pauses": {},
        "histories": {},
        "open_actions": {},
        "audit": {"generation": files, "offset": (tmp_path / AUDIT_FILE).stat().st_size},
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with StateStore.open(tmp_path, audit_keep=files) as store:
        assert store.audit_count == 1_000_000
        assert _ids(store, limit=3, offset=0) == ["r999999", "r999998", "r999997"]
        crossing = _ids(store, limit=4, offset=per_file - 2)  # two from each of two files
        assert crossing == ["r800001", "r800000", "r799999", "r799998"]
        assert _ids(store, limit=5, offset=654_321) == [
            f"r{i}" for i in range(345_678, 345_673, -1)
        ]
        assert _ids(store, limit=50, offset=999_997) == ["r2", "r1", "r0"]
        assert store.events(limit=50, offset=1_000_000) == ([], 1_000_000)
        store.record(record(1))
        assert _ids(store, limit=2) == ["act-1", "r999999"]


# --- rotation -----------------------------------------------------------------------------


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("audit"))


def test_rotation_by_size_keeps_n_files_and_deletes_the_oldest(tmp_path: Path) -> None:
    size = len(_line(10))
    with StateStore.open(tmp_path, scrub=same, audit_max_bytes=3 * size, audit_keep=2) as store:
        for n in range(10, 30):
            store.record(record(n))
        assert _files(tmp_path) == [rotated_name(5), rotated_name(6), AUDIT_FILE]
        assert store.audit_count == 8, "two rotated files of three and two in audit.jsonl"
        assert _ids(store, limit=100) == [f"act-{n}" for n in range(29, 21, -1)]
        assert json.loads(store.state_path.read_text())["audit"]["generation"] == 7
    with StateStore.open(tmp_path, scrub=same, audit_max_bytes=3 * size, audit_keep=2) as again:
        assert again.audit_count == 8
        again.record(record(30))
        assert _ids(again, limit=1) == ["act-30"]


def test_a_failed_rotation_keeps_appending_to_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    size = len(_line(10))
    with StateStore.open(tmp_path, scrub=same, audit_max_bytes=2 * size) as store:

        def refuse(*args: Any) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(audit_mod.os, "rename", refuse)
        with caplog.at_level(logging.WARNING):
            for n in range(10, 15):
                store.record(record(n))
        assert _files(tmp_path) == [AUDIT_FILE]
        assert store.audit_count == 5
        assert "cannot rotate (Permission denied); appending to it" in caplog.text


def test_old_files_are_kept_while_the_rotation_cannot_be_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """state.json must point into a kept file before anything older is deleted."""
    size = len(_line(10))
    with StateStore.open(tmp_path, scrub=same, audit_max_bytes=size, audit_keep=0) as store:
        store.record(record(10))

        def disk_full(*args: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store_mod, "write_atomically", disk_full)
        store.record(record(11))
        store.record(record(12))
        assert len(_files(tmp_path)) == 3, "nothing deleted while state.json is stale"
        monkeypatch.undo()
        store.record(record(13))
        assert _files(tmp_path) == [AUDIT_FILE]
        assert _ids(store, limit=10) == ["act-13"]


# --- open actions -------------------------------------------------------------------------


def _started(n: int, channel: str = "email") -> Any:
    return record(n, result="started", channel=channel, attempts=0)


def test_a_started_record_stays_open_until_its_final_record(tmp_path: Path) -> None:
    with StateStore.open(tmp_path, scrub=same) as store:
        store.record(_started(1))
        store.record(record(2, result="dry_run"))
        assert store.open_actions() == [_started(1)]
        assert store.lagging, "the index reaches state.json at its next write, not per record"
        store.flush()
        assert not store.lagging
        assert json.loads(store.state_path.read_text())["open_actions"]["act-1"]["result"] == (
            "started"
        )
    with StateStore.open(tmp_path, scrub=same) as store:
        assert store.open_actions() == [_started(1)]
        store.record(record(1, result="ok"))
        assert store.open_actions() == []
    with StateStore.open(tmp_path, scrub=same) as store:
        assert store.open_actions() == []


def test_open_actions_survive_rotation_after_their_file_is_deleted(tmp_path: Path) -> None:
    size = len(_line(10))
    options: dict[str, Any] = {"scrub": same, "audit_max_bytes": 2 * size, "audit_keep": 1}
    with StateStore.open(tmp_path, **options) as store:
        store.record(_started(1))
        for n in range(10, 20):
            store.record(record(n))
        assert "act-1" not in _ids(store, limit=100), "its line was rotated away"
    with StateStore.open(tmp_path, **options) as store:
        assert [r.id for r in store.open_actions()] == ["act-1"]
        assert interrupted_actions(store.open_actions()) == {"production/email": _started(1)}


def _crash_between_the_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """state.json cannot be written (as if the process died right after the audit append)."""

    def no_index(*args: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_mod, "write_atomically", no_index)


def test_a_started_record_whose_index_write_failed_is_found_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore.open(tmp_path, scrub=same)
    store.set_pause(None, None)  # a state.json, as any running daemon has
    _crash_between_the_writes(monkeypatch)
    store.record(_started(2))  # on disk in audit.jsonl; state.json lags
    with pytest.raises(StateError):
        store.flush()  # the index write fails
    assert store.open_actions() == [_started(2)], "memory is what a restart derives"
    assert store.lagging
    assert json.loads(store.state_path.read_text())["open_actions"] == {}
    monkeypatch.undo()
    with StateStore.open(tmp_path, scrub=same) as after_crash:  # the first one never closed
        assert after_crash.open_actions() == [_started(2)]
    store.close()


def test_a_final_record_whose_index_write_failed_closes_the_action_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore.open(tmp_path, scrub=same)
    store.record(_started(1))
    store.flush()
    _crash_between_the_writes(monkeypatch)
    store.record(record(1, result="ok"))
    with pytest.raises(StateError):
        store.flush()
    assert "act-1" in json.loads(store.state_path.read_text())["open_actions"]
    monkeypatch.undo()
    with StateStore.open(tmp_path, scrub=same) as after_crash:
        assert after_crash.open_actions() == [], "settled once, never twice"
    store.close()


def test_without_an_index_every_kept_file_is_read_for_open_actions(tmp_path: Path) -> None:
    """A trail from before the index (a version-1 state.json, or none)."""
    lines = [_line(1, result="started"), _line(2), _line(1, result="ok")]
    lines += [_line(3, result="started", channel="sms"), _line(4, result="started")]
    (tmp_path / AUDIT_FILE).write_bytes(b"".join(lines))
    with StateStore.open(tmp_path, scrub=same) as store:
        assert [r.id for r in store.open_actions()] == ["act-4", "act-3"]
        opened = interrupted_actions(store.open_actions())
        assert {k: r.id for k, r in opened.items()} == {
            "production/email": "act-4",
            "production/sms": "act-3",
        }


def test_an_index_pointing_past_the_kept_files_reads_them_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / AUDIT_FILE).write_bytes(_line(1, result="started"))
    state = {
        "version": 2,
        "global_pause": None,
        "pauses": {},
        "histories": {},
        "audit": {"generation": 1, "offset": 10_000},
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with caplog.at_level(logging.WARNING), StateStore.open(tmp_path, scrub=same) as store:
        assert [r.id for r in store.open_actions()] == ["act-1"]
    assert "is not in the kept files" in caplog.text


def test_interrupted_actions_keeps_the_newest_open_action_per_channel(tmp_path: Path) -> None:
    with StateStore.open(tmp_path, scrub=same) as store:
        store.record(_started(1))
        store.record(_started(2, channel="sms"))
        store.record(_started(3))
        opened = interrupted_actions(store.open_actions())
    assert {k: r.id for k, r in opened.items()} == {
        "production/email": "act-3",
        "production/sms": "act-2",
    }


def test_counts_survive_an_unterminated_last_line_and_stay_exact(tmp_path: Path) -> None:
    (tmp_path / AUDIT_FILE).write_bytes(_line(1) + _line(2)[:-1])
    with StateStore.open(tmp_path, scrub=same) as store:
        assert store.audit_count == 2
        store.record(record(3))
        assert store.audit_count == 3
        assert _ids(store, limit=5) == ["act-3", "act-2", "act-1"]
    assert os.path.getsize(tmp_path / AUDIT_FILE) == sum(len(_line(n)) for n in (1, 2, 3))


def test_a_rotated_file_state_json_may_still_point_into_is_never_pruned(tmp_path: Path) -> None:
    """A state.json write that took its position before a rotation prunes nothing from the
    generation of that position on, whatever `keep` says."""
    trail = audit_mod.AuditTrail(tmp_path, max_bytes=1, keep=0)
    trail.open(checkpoint_generation=None)
    for n in range(3):
        trail.append([_line(n)])
        trail.rotate()
    assert trail.generation == 4
    assert trail.prune(before=2) == []
    assert _files(tmp_path) == [rotated_name(2), rotated_name(3), AUDIT_FILE]
    assert trail.prune(before=4) == []
    assert _files(tmp_path) == [AUDIT_FILE]
    trail.close()
