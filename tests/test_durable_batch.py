"""History writes made in one burst share one state.json write, and each caller still gets
its own outcome: returns once its change is on disk, or its own StateError."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.metrics import Metrics
from daemon.model import ChannelHistory, ChannelKey
from daemon.service.durable import DurableState
from daemon.state import StateError, StateStore
from daemon.state.statefile import read_state


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
