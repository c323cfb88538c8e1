"""DurableState's batches. History writes made in one burst share one state.json write;
audit records written in one burst share one append and one fsync (a group commit). Each
caller still gets its own outcome: returns once its change is on disk, or its own
StateError. An append never waits behind a state.json rewrite, and state.json's index of
open actions follows the trail without being on an action's path."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.metrics import Metrics
from daemon.model import AuditRecord, ChannelHistory, ChannelKey
from daemon.service.durable import DurableState
from daemon.state import StateError, StateStore
from daemon.state import audit as audit_mod
from daemon.state.statefile import read_state

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "state") as s:
        yield s


def _durable(store: StateStore) -> tuple[DurableState, CollectorRegistry]:
    registry = CollectorRegistry()
    return DurableState(store, metrics=Metrics(registry)), registry


def _count_writes(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, began: asyncio.Event | None = None
) -> list[int]:
    """Sizes of the batches handed to the store, one entry per state.json write; `began`
    is set when the first write has begun (in its worker thread)."""
    sizes: list[int] = []
    original = store.set_histories
    loop = asyncio.get_running_loop()

    def counting(changes: Mapping[ChannelKey, ChannelHistory]) -> None:
        sizes.append(len(changes))
        if began is not None:
            loop.call_soon_threadsafe(began.set)
        original(changes)

    monkeypatch.setattr(store, "set_histories", counting)
    return sizes


async def test_a_burst_of_history_writes_is_one_write_and_all_of_it_is_on_disk(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = _durable(store)
    sizes = _count_writes(store, monkeypatch)
    keys = [f"env-{n}/email" for n in range(50)]
    await asyncio.gather(
        *(
            state.set_history(k, ChannelHistory(last_known_primary=f"p{n}"))
            for n, k in enumerate(keys)
        )
    )
    assert sizes == [50], "every change that arrived before the write began rides with it"
    doc = read_state(store.state_path)
    assert doc is not None
    on_disk = {k: h.last_known_primary for k, h in doc.histories.items()}
    assert on_disk == {k: f"p{n}" for n, k in enumerate(keys)}
    assert store.history("env-7/email").last_known_primary == "p7"


async def test_writes_arriving_while_one_is_in_flight_are_coalesced_into_the_next(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = _durable(store)
    began = asyncio.Event()
    sizes = _count_writes(store, monkeypatch, began)
    first = asyncio.create_task(
        state.set_history("a/email", ChannelHistory(last_known_primary="x"))
    )
    await began.wait()  # the first write is under way: the next ones must wait for it
    rest = [
        asyncio.create_task(
            state.set_history(f"b{n}/email", ChannelHistory(last_known_primary="y"))
        )
        for n in range(20)
    ]
    await asyncio.gather(first, *rest)
    assert sizes == [1, 20]
    assert all(store.history(f"b{n}/email").last_known_primary == "y" for n in range(20))


async def test_one_bad_history_fails_only_its_own_caller(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, registry = _durable(store)
    original = store.set_histories

    def refusing(changes: Mapping[ChannelKey, ChannelHistory]) -> None:
        if "bad/email" in changes:
            raise StateError("state.json: cannot write state, nothing was changed: too large")
        original(changes)

    monkeypatch.setattr(store, "set_histories", refusing)
    keys = ["a/email", "bad/email", "c/email"]
    results = await asyncio.gather(
        *(state.set_history(k, ChannelHistory(last_known_primary="p")) for k in keys),
        return_exceptions=True,
    )
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], StateError)
    assert "too large" in str(results[1])
    assert store.history("a/email").last_known_primary == "p"
    assert store.history("c/email").last_known_primary == "p"
    assert store.history("bad/email") == ChannelHistory()
    assert registry.get_sample_value("novu_failover_state_write_errors_total") == 1.0
    # reported once, for that channel only (the batch's own failed attempt is not counted)


async def test_a_cancelled_caller_does_not_cancel_the_others(store: StateStore) -> None:
    state, _ = _durable(store)
    quitter = asyncio.create_task(
        state.set_history("q/email", ChannelHistory(last_known_primary="q"))
    )
    stayer = asyncio.create_task(
        state.set_history("s/email", ChannelHistory(last_known_primary="s"))
    )
    await asyncio.sleep(0)  # both joined the batch; the write has not begun
    quitter.cancel()
    await stayer
    assert store.history("s/email").last_known_primary == "s"
    with pytest.raises(asyncio.CancelledError):
        await quitter


# --- audit records ------------------------------------------------------------------


def _record(n: int, *, result: str = "ok", at: float | None = None) -> AuditRecord:
    return AuditRecord(
        id=f"act-{n}",
        at=T0 + n if at is None else at,
        environment="production",
        channel="email",
        from_="sendgrid-main",
        to="ses-backup",
        trigger="failover",
        reason="test",
        result=result,  # type: ignore[arg-type]
    )


def _ids(store: StateStore) -> list[str]:
    records, _ = store.events(limit=1000)
    return [r.id for r in reversed(records)]


def _block_appends(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[int], asyncio.Event, threading.Event]:
    """Sizes of the batches handed to the store; `began` is set once the first append is
    in its worker thread, which then waits for `release`."""
    sizes: list[int] = []
    began, release = asyncio.Event(), threading.Event()
    loop = asyncio.get_running_loop()
    original = store.record_many

    def held(entries: Sequence[AuditRecord]) -> list[StateError | None]:
        sizes.append(len(entries))
        if len(sizes) == 1:
            loop.call_soon_threadsafe(began.set)
            release.wait(timeout=30)
        return original(entries)

    monkeypatch.setattr(store, "record_many", held)
    return sizes, began, release


def test_a_batch_is_one_write_and_one_fsync_and_a_bad_entry_fails_alone(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[int] = []
    real_fsync = audit_mod.os.fsync

    def counting(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(audit_mod.os, "fsync", counting)
    unbounded = _record(3, at=float("inf"))
    problems = store.record_many([_record(1), _record(2), unbounded, _record(4)])
    assert [p is None for p in problems] == [True, True, False, True]
    assert "act-3" in str(problems[2])
    assert len(fsyncs) == 1
    assert _ids(store) == ["act-1", "act-2", "act-4"]
    assert store.audit_count == 3


async def test_records_arriving_during_an_append_go_into_the_next_one_in_order(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = _durable(store)
    sizes, began, release = _block_appends(store, monkeypatch)
    first = asyncio.create_task(state.record(_record(0)))
    await began.wait()
    rest = [asyncio.create_task(state.record(_record(n))) for n in range(1, 11)]
    await asyncio.sleep(0)  # every one of them has joined the next append
    assert not any(task.done() for task in [first, *rest]), "nobody returns before its fsync"
    release.set()
    await asyncio.gather(first, *rest)
    assert sizes == [1, 10]
    assert _ids(store) == [f"act-{n}" for n in range(11)]


async def test_a_cancelled_caller_takes_no_record_with_it(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = _durable(store)
    _, began, release = _block_appends(store, monkeypatch)
    first = asyncio.create_task(state.record(_record(0)))
    await began.wait()
    cancelled = asyncio.create_task(state.record(_record(1)))
    other = asyncio.create_task(state.record(_record(2)))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(first, other)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert _ids(store) == ["act-0", "act-1", "act-2"], "written all the same, in order"


async def test_each_caller_gets_its_own_error_and_readiness_shows_it(
    store: StateStore,
) -> None:
    state, registry = _durable(store)
    bad = _record(1, at=float("inf"))
    results = await asyncio.gather(
        state.record(_record(0)), state.record(bad), return_exceptions=True
    )
    assert results[0] is None
    assert isinstance(results[1], StateError)
    assert state.error is not None
    assert "act-1" in state.error
    assert registry.get_sample_value("novu_failover_state_write_errors_total") == 1
    await state.record(_record(2))
    assert state.error is None, "a good write clears it"


async def test_an_append_does_not_wait_behind_a_state_json_write(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = _durable(store)
    began, release = asyncio.Event(), threading.Event()
    loop = asyncio.get_running_loop()
    original = store.set_histories

    def slow(changes: object) -> None:
        loop.call_soon_threadsafe(began.set)
        release.wait(timeout=30)
        original(changes)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "set_histories", slow)
    history = asyncio.create_task(
        state.set_history("production/email", ChannelHistory(last_known_primary="x"))
    )
    await began.wait()  # state.json is being written (and holds the store's state lock)
    try:
        await asyncio.wait_for(state.record(_record(1, result="started")), timeout=20)
    finally:
        release.set()
    await history
    assert _ids(store) == ["act-1"]


async def test_the_open_action_index_reaches_state_json_by_catch_up(
    store: StateStore,
) -> None:
    state, _ = _durable(store)
    await state.record(_record(1, result="started"))
    assert [r.id for r in store.open_actions()] == ["act-1"]
    assert store.lagging
    writing = state.catch_up()
    assert writing is not None
    assert state.catch_up() is None, "one catch-up at a time"
    await writing
    assert not store.lagging
    assert state.catch_up() is None, "nothing to catch up"
    doc = read_state(store.state_path)
    assert doc is not None
    assert list(doc.open_actions) == ["act-1"]
    await state.record(_record(1, result="ok"))
    writing = state.catch_up()
    assert writing is not None
    await writing
    doc = read_state(store.state_path)
    assert doc is not None
    assert doc.open_actions == {}
