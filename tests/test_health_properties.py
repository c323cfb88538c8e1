"""Properties of health that must hold for any observations, checked against simple oracles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from daemon.health import (
    SignalState,
    candidate_health,
    new_signal_state,
    observe,
    observe_all,
    signal_health,
)
from daemon.model import Health, Observation, SignalHealth
from daemon.rules.model import Quorum, SignalEntry

T0 = 1_714_564_800.0
SIGNALS = ("http", "statuspage", "alert")


@dataclass(frozen=True)
class Timing:
    fall: int
    rise: int
    rate: dict[str, Any] | None


timings = st.builds(
    Timing,
    fall=st.integers(1, 4),
    rise=st.integers(1, 4),
    rate=st.none()
    | st.fixed_dictionaries(
        {
            "window": st.sampled_from([60, 150, 300]),
            "min_samples": st.integers(1, 6),
            "max": st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]),
        }
    ),
)


def make_state(signal: str, timing: Timing) -> SignalState:
    if signal == "alert":
        spec: dict[str, Any] = {"matchers": ['novu_integration="sendgrid-main"']}
    elif signal == "statuspage":
        spec = {"url": "https://status.sendgrid.com", "components": ["Mail Sending"]}
    else:
        spec = {"url": "https://api.sendgrid.com/v3/scopes"}
    spec |= {"fall": timing.fall, "rise": timing.rise}
    if timing.rate is not None:
        spec["failure_rate"] = timing.rate
    return new_signal_state(signal, SignalEntry.model_validate({signal: spec}))


oks = st.sampled_from([True, False, None])


def observations_for(signals: tuple[str, ...]) -> st.SearchStrategy[list[Observation]]:
    """Observations on a coarse grid of times and details, so ties (same time, even same
    everything but latency) and out-of-order arrivals are common."""
    return st.lists(
        st.builds(
            Observation,
            signal=st.sampled_from(signals),
            ok=oks,
            at=st.integers(0, 6).map(lambda step: T0 + step * 30),
            detail=st.sampled_from(["HTTP 200", "HTTP 503"]),
            latency=st.none() | st.sampled_from([0.1, 0.2]),
        ),
        max_size=30,
    )


@given(
    timing=timings,
    prefix=observations_for(SIGNALS),
    batch=observations_for((*SIGNALS, "unconfigured")).flatmap(
        lambda obs: st.tuples(st.just(obs), st.permutations(obs))
    ),
)
def test_observe_all_does_not_depend_on_arrival_order(
    timing: Timing,
    prefix: list[Observation],
    batch: tuple[list[Observation], list[Observation]],
) -> None:
    """Any two orderings of one batch give identical states, late ones included."""
    start = observe_all({s: make_state(s, timing) for s in SIGNALS}, prefix)
    one_order, other_order = batch
    assert observe_all(start, one_order) == observe_all(start, other_order)


timeline = st.lists(st.tuples(st.integers(0, 3), oks), max_size=40).map(
    lambda steps: [
        Observation("http", ok, T0 + 30 * sum(gap for gap, _ in steps[: i + 1]), str(ok))
        for i, (_, ok) in enumerate(steps)
    ]
)
"""Observations for `http` in non-decreasing time (gaps of 0-90s), so none is late."""


@dataclass
class Oracle:
    """An independent model of the evidence: runs of results and the failure-rate window."""

    timing: Timing
    run_ok: int = 0
    run_fail: int = 0
    samples: tuple[tuple[float, bool], ...] = ()

    def apply(self, obs: Observation) -> None:
        if obs.ok is None:
            return
        self.run_ok = self.run_ok + 1 if obs.ok else 0
        self.run_fail = 0 if obs.ok else self.run_fail + 1
        self.samples = (*self.samples, (obs.at, obs.ok))

    def rate_over(self, now: float) -> bool:
        rate = self.timing.rate
        if rate is None:
            return False
        window = [ok for at, ok in self.samples if at > now - rate["window"]]
        failed = sum(1 for ok in window if not ok)
        over: bool = len(window) >= rate["min_samples"] and failed / len(window) > rate["max"]
        return over


@given(timing=timings, data=st.data())
def test_signal_state_follows_fall_rise_and_rate(timing: Timing, data: st.DataObject) -> None:
    """Against an independent model: down on `fall` consecutive failures or a rate over the
    threshold, up on `rise` consecutive successes with the rate not over, else the state
    holds; so unknown lasts until one of them, and inconclusive results change nothing."""
    state = make_state("http", timing)
    oracle = Oracle(timing)
    expected = Health.UNKNOWN
    for obs in data.draw(timeline):
        before, before_since = state.state, state.since
        state = observe(state, obs)
        oracle.apply(obs)
        if obs.ok is not None:
            if oracle.run_fail >= timing.fall or oracle.rate_over(obs.at):
                expected = Health.DOWN
            elif oracle.run_ok >= timing.rise:
                expected = Health.UP
        assert state.state is expected
        if before is Health.UP and state.state is Health.DOWN:
            assert oracle.run_fail >= timing.fall or (
                timing.rate is not None and oracle.rate_over(obs.at)
            )
        assert state.since == (before_since if state.state is before else obs.at)


@given(data=st.data())
def test_passive_signal_mirrors_the_latest_notification(data: st.DataObject) -> None:
    """An alert signal mirrors its latest word: down while firing, up when none fires,
    unknown when it cannot tell (a datasource alert) and before any word at all."""
    state = make_state("alert", Timing(fall=3, rise=2, rate=None))
    assert state.state is Health.UNKNOWN
    mirror = {False: Health.DOWN, True: Health.UP, None: Health.UNKNOWN}
    for obs in data.draw(timeline):
        state = observe(state, Observation("alert", obs.ok, obs.at, obs.detail))
        assert state.state is mirror[obs.ok]
        assert signal_health(state).passive


signal_healths = st.lists(
    st.builds(
        SignalHealth,
        signal=st.sampled_from(["http", "statuspage", "novu_delivery", "alert", "prometheus"]),
        state=st.sampled_from(list(Health)),
        reason=st.just("evidence"),
        since=st.just(T0),
        passive=st.booleans(),
    ),
    max_size=6,
)
down_whens = st.sampled_from(["any", "all"]) | st.builds(Quorum, quorum=st.integers(1, 4))


@given(signals=signal_healths, down_when=down_whens)
def test_candidate_follows_down_when_and_needs_non_passive_up(
    signals: list[SignalHealth], down_when: Any
) -> None:
    """Down exactly as the rule says (passive signals that do not fire, quiet or unknown,
    abstain from `all`); up only with a non-passive signal up; otherwise unknown."""
    down = sum(1 for s in signals if s.state is Health.DOWN)
    abstain = sum(1 for s in signals if s.passive and s.state is not Health.DOWN)
    if down_when == "any":
        says_down = down >= 1
    elif down_when == "all":
        says_down = down >= 1 and down + abstain == len(signals)
    else:
        says_down = down >= down_when.quorum
    result = candidate_health("c", signals, down_when=down_when, previous=None, now=T0)
    if says_down:
        assert result.state is Health.DOWN
    elif any(s.state is Health.UP and not s.passive for s in signals):
        assert result.state is Health.UP
    else:
        assert result.state is Health.UNKNOWN
    assert "\n" not in result.reason


@given(first=signal_healths, second=signal_healths, down_when=down_whens)
def test_candidate_since_moves_only_on_change(
    first: list[SignalHealth], second: list[SignalHealth], down_when: Any
) -> None:
    before = candidate_health("c", first, down_when=down_when, previous=None, now=T0)
    after = candidate_health("c", second, down_when=down_when, previous=before, now=T0 + 60)
    assert after.since == (T0 if after.state is before.state else T0 + 60)
