"""Durable state: exact round-trips within the schema's bounds, atomic writes that change
nothing when they fail, what is written always reads back, safe from many threads."""

from __future__ import annotations

import dataclasses
import json
import stat
import tempfile
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_helpers import T0, record, same

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
from daemon.state.schema import MAX_SECONDS, MAX_TIME, MIN_TIME

# --- strategies ---------------------------------------------------------------------------

texts = st.text(max_size=12)
any_texts = st.text(
    alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010) | st.characters(),
    max_size=12,
)
"""Strings as Python allows them: lone surrogates included."""
times = st.floats(min_value=MIN_TIME, max_value=MAX_TIME)
seconds = st.floats(min_value=0, max_value=MAX_SECONDS)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
) | texts
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
    "duration": seconds,
    "extra": st.dictionaries(texts, texts, max_size=3),
    "action": st.sampled_from(get_args(AuditAction)),
}
audit_records = st.builds(AuditRecord, **AUDIT_FIELDS)


def _through_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with StateStore.open(tmp_path / "state", scrub=same) as s:
        yield s


# --- serialization round-trips ------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "strategy_fields", "example", "encode"),
    [
        pytest.param(Pause, PAUSE_FIELDS, Pause("r", T0), encode_pause, id="pause"),
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
        encoded = encode(record(1) if example is None else example, same)
        assert set(encoded) == {"from" if n == "from_" else n for n in names}


@given(pauses)
def test_pause_round_trips_exactly(pause: Pause) -> None:
    assert decode_pause(_through_json(encode_pause(pause, same))) == pause


@given(histories)
def test_history_round_trips_exactly(history: ChannelHistory) -> None:
    assert decode_history(_through_json(encode_history(history, same))) == history


@given(audit_records)
def test_audit_record_round_trips_exactly(entry: AuditRecord) -> None:
    encoded = encode_audit(entry, same)
    assert encoded["from"] == entry.from_, "from_ is written as `from`"
    assert "from_" not in encoded
    assert decode_audit(_through_json(encoded)) == entry


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
        with StateStore.open(directory, scrub=same) as before:
            before.set_pause(None, global_pause)
            for key, pause in channel_pauses.items():
                before.set_pause(key, pause)
            for key, history in channel_histories.items():
                before.set_history(key, history)
            for entry in records:
                before.record(entry)
            opened = before.open_actions()
            kept = {key: before.history(key) for key in channel_histories}
        with StateStore.open(directory, scrub=same) as after:
            assert after.global_pause == global_pause
            assert after.pauses() == channel_pauses
            for key, history in channel_histories.items():
                assert after.history(key) == kept[key]
                assert set(kept[key].switches) <= set(history.switches), "pruned, not changed"
            assert after.events(limit=100) == (records[::-1], len(records))
            assert after.open_actions() == opened


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reason=any_texts, by=any_texts, key=any_texts, primary=any_texts, evidence=any_texts)
def test_any_string_written_reads_back_as_memory_holds_it(
    reason: str, by: str, key: str, primary: str, evidence: str
) -> None:
    """A lone surrogate (`x\\ud800y`) is stored as U+FFFD: the write succeeds, memory holds
    what the file holds, and every later write still succeeds (it used to fail forever)."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with StateStore.open(directory, scrub=same) as before:
            before.set_pause(key, Pause(reason=reason, since=T0, by=by))
            before.set_history(key, ChannelHistory(last_known_primary=primary))
            before.record(record(1, reason=reason, evidence=(evidence,), extra={key: by}))
            before.set_pause(None, Pause(reason="later write", since=T0))
            memory = (before.pauses(), {k: before.history(k) for k in before.pauses()})
            shown = before.events(limit=1)[0]
        with StateStore.open(directory, scrub=same) as after:
            assert (after.pauses(), {k: after.history(k) for k in after.pauses()}) == memory
            assert after.events(limit=1)[0] == shown
            assert after.skipped_audit_lines == 0
        for stored in memory[0].values():
            stored.reason.encode("utf-8")  # valid Unicode: raises otherwise


def test_lone_surrogate_becomes_the_replacement_character(store: StateStore) -> None:
    store.set_pause("production/email", Pause(reason="x\ud800y", since=T0))
    assert store.channel_pause("production/email") == Pause(reason="x\ufffdy", since=T0)
    assert json.loads(store.state_path.read_text())["pauses"]["production/email"]["reason"] == (
        "x\ufffdy"
    )


@pytest.mark.parametrize(
    ("pause", "problem"),
    [
        pytest.param(
            Pause(reason="r", since=T0, until=1e308),
            r"global_pause\.until: must be a time",
            id="far",
        ),
        pytest.param(
            Pause(reason="r", since=float("nan")),
            r"global_pause\.since: must be a finite number \(got nan\)",
            id="nan",
        ),
        pytest.param(
            Pause(reason="r", since=float("inf")),
            r"global_pause\.since: must be a finite number \(got inf\)",
            id="inf",
        ),
        pytest.param(
            Pause(reason="r", since=-1.0), r"global_pause\.since: must be a time", id="neg"
        ),
    ],
)
def test_unwritable_value_is_refused_and_nothing_changes(
    store: StateStore, pause: Pause, problem: str
) -> None:
    kept = Pause(reason="kept", since=T0)
    store.set_pause(None, kept)
    before = store.state_path.read_bytes()
    with pytest.raises(StateError, match=rf"cannot write state, nothing was changed: {problem}"):
        store.set_pause(None, pause)
    assert store.global_pause == kept
    assert store.state_path.read_bytes() == before


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        pytest.param({"duration": float("nan")}, r"duration: must be a finite number", id="nan"),
        pytest.param({"duration": -1.0}, r"duration: must be a duration from 0", id="negative"),
        pytest.param({"at": 1e400}, r"at: must be a finite number", id="huge-time"),
        pytest.param({"attempts": 10**9}, r"attempts: must be an integer from 0 to", id="attempts"),
    ],
)
def test_unencodable_record_is_refused_and_file_unchanged(
    store: StateStore, overrides: dict[str, Any], problem: str
) -> None:
    store.record(record(1))
    before = store.audit_path.read_bytes()
    with pytest.raises(StateError, match=rf"cannot record audit entry 'act-2': {problem}"):
        store.record(record(2, **overrides))
    assert store.audit_path.read_bytes() == before
    assert store.audit_count == 1


def test_non_finite_number_in_an_erased_condition_is_kept_as_text(store: StateStore) -> None:
    """Erased conditions are a copy of Novu's JSON: keep what it said rather than lose it."""
    store.record(record(1, erased_conditions=({"value": float("nan"), "n": [float("inf")]},)))
    [shown], _ = store.events(limit=1)
    assert shown.erased_conditions == ({"value": "nan", "n": ["inf"]},)


# --- pauses and histories -----------------------------------------------------------------


def test_fresh_store_is_empty(store: StateStore) -> None:
    assert store.global_pause is None
    assert store.pauses() == {}
    assert store.channel_pause("production/email") is None
    assert store.history("production/email") == ChannelHistory()
    assert store.events(limit=10) == ([], 0)
    assert store.open_actions() == []


def test_set_pause_none_channel_is_global_and_none_pause_resumes(store: StateStore) -> None:
    pause = Pause(reason="provider maintenance", since=T0, until=T0 + 10, by="alice")
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
        ChannelHistory(switches=(Switch(at=T0, from_="a", to="b", trigger="failover"),)),
    )
    data = json.loads(store.state_path.read_text())
    assert data["version"] == 2
    assert data["histories"]["production/email"]["switches"][0]["from"] == "a"
    assert data["audit"] == {"generation": 1, "offset": 0}
    assert sorted(p.name for p in store.directory.iterdir()) == [AUDIT_FILE, STATE_FILE]


def test_version_1_state_file_still_reads_and_is_upgraded_on_close(tmp_path: Path) -> None:
    old = {
        "version": 1,
        "global_pause": {"reason": "r", "since": T0, "until": None, "by": "x"},
        "pauses": {},
        "histories": {},
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(old))
    with StateStore.open(tmp_path) as store:
        assert store.global_pause == Pause(reason="r", since=T0, by="x")
    assert json.loads((tmp_path / STATE_FILE).read_text())["version"] == 2


def test_empty_history_is_dropped_from_the_file(store: StateStore) -> None:
    store.set_history("production/email", ChannelHistory(last_known_primary="a"))
    store.set_history("production/email", ChannelHistory())
    assert json.loads(store.state_path.read_text())["histories"] == {}


def test_files_and_directory_are_private(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "a" / "state") as store:
        store.set_pause(None, Pause(reason="r", since=T0))
        store.record(record(1))
        assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(store.state_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(store.audit_path.stat().st_mode) == 0o600


def _switch(at: float) -> Switch:
    return Switch(at=at, from_="a", to="b", trigger="failover")


def test_history_is_pruned_to_the_channel_retention_never_below_the_floor(
    store: StateStore,
) -> None:
    day = 86400.0
    old, recent = _switch(T0), _switch(T0 + 10 * day)
    store.set_history("p/email", ChannelHistory(switches=(old, recent)))
    assert store.history("p/email").switches == (old, recent), "no retention: kept as given"
    store.set_retention({"p/email": 30 * day, "p/sms": 1.0, "p/push": 8 * day})
    store.set_history("p/email", ChannelHistory(switches=(old, recent)))
    assert store.history("p/email").switches == (old, recent), "a 30-day brake keeps 10 days"
    store.set_history("p/push", ChannelHistory(switches=(old, recent)))
    assert store.history("p/push").switches == (recent,), "8 days: the older one goes"
    store.set_history("p/sms", ChannelHistory(switches=(_switch(T0), _switch(T0 + 2 * day))))
    assert len(store.history("p/sms").switches) == 2, "never less than the floor"
