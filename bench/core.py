"""Figure 3: decision throughput of the pure core, no I/O.

10,000 channels x 4 candidates x 3 signals. One evaluation is what the daemon does for a
channel each time it decides: every signal's health, every candidate's health from its
signals, then the policy's evaluation. One channel in ten has its primary down (a switch
decision), the rest are healthy (keep). Two cases:
- a timer tick: nothing changed since the last evaluation (the common case);
- a fresh observation: one signal of one candidate has a new state before each evaluation
  (one more success or failure: a new reason, the same up/down), so its candidate's health
  and the decision are worked out again. The new states are observed before the clock
  starts (that is the probe's work, not the evaluation's).
Every channel has its own rule, states, view and history, as in the daemon (no objects
shared between channels, which would keep them hot in the CPU caches). Each pass counts the
evaluations that came back as the previous one (all of them on a tick, none after a fresh
observation) and the decisions' kinds; both are in the note, so a pass that skipped work
shows. Reasons are worded when read (status, logs, audit), which neither case does: the
daemon reads them only when a decision changes or someone asks.
Baseline, same run: building a small frozen dataclass from the same inputs once per
channel, the cheapest thing Python can do with them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from harness import Figure

from daemon.health import SignalState, new_signal_state, observe
from daemon.health.channel import channel_health
from daemon.model import (
    CandidateHealth,
    ChannelHistory,
    ChannelView,
    Integration,
    Observation,
)
from daemon.policy import Evaluation, evaluate
from daemon.rules.model import ChannelRule

T0 = 1_700_000_000.0
CANDIDATES = 4
TARGET = 100_000.0


def _rule(index: int) -> ChannelRule:
    names = [f"cand-{c}" for c in range(CANDIDATES)]
    return ChannelRule.model_validate(
        {
            "environment": f"env{index // 2:05d}",
            "channel": ("email", "sms")[index % 2],
            "candidates": [
                {
                    "integration": name,
                    "signals": [
                        {"http": {"url": f"https://{name}.test/"}},
                        {"statuspage": {"url": f"https://{name}.test/", "components": ["Mail"]}},
                        {"alert": {"matchers": [f'novu_integration="{name}"']}},
                    ],
                }
                for name in names
            ],
            "policy": {"failback": {"after": "15m"}, "cooldown": "0s"},
        }
    )


def _view(rule: ChannelRule) -> ChannelView:
    integrations = tuple(
        Integration(
            id=f"{i:024x}",
            identifier=candidate.integration,
            name=candidate.integration,
            provider_id="sendgrid",
            channel=rule.channel,
            environment_id="6" * 24,
            active=True,
            primary=i == 0,
        )
        for i, candidate in enumerate(rule.candidates)
    )
    return ChannelView(rule.environment, rule.channel, integrations, fetched_at=T0)


@dataclass
class _Channel:
    rule: ChannelRule
    signals: dict[tuple[str, str], SignalState]
    health: dict[str, CandidateHealth]
    view: ChannelView
    history: ChannelHistory
    evaluation: Evaluation | None = None


def _states(rule: ChannelRule, *, primary_down: bool) -> dict[tuple[str, str], SignalState]:
    signals = {}
    for c, candidate in enumerate(rule.candidates):
        for signal_id, entry in zip(candidate.signal_ids(), candidate.signals, strict=True):
            state = new_signal_state(signal_id, entry)
            if not state.passive:
                ok = not (primary_down and c == 0)
                for n in range(3):
                    state = observe(state, Observation(signal_id, ok, T0 + n, "HTTP 200"))
            signals[(candidate.integration, signal_id)] = state
    return signals


def _world(channels: int) -> list[_Channel]:
    """Each channel its own validated rule, view, history and signal states."""
    world = []
    for index in range(channels):
        rule = _rule(index)
        signals = _states(rule, primary_down=index % 10 == 0)
        channel = _Channel(
            rule, signals, {}, _view(rule), ChannelHistory(last_known_primary="cand-0")
        )
        channel.health = channel_health(rule, signals, previous={}, now=T0 + 3)
        world.append(channel)
    return world


def _evaluate(channel: _Channel, now: float) -> Evaluation:
    channel.health = channel_health(channel.rule, channel.signals, previous=channel.health, now=now)
    channel.evaluation = evaluate(
        channel.rule,
        health=channel.health,
        view=channel.view,
        history=channel.history,
        pause=None,
        started_at=T0,
        now=now,
        previous=channel.evaluation,
    )
    return channel.evaluation


def _fresh_states(world: list[_Channel], at: float) -> list[tuple[str, str, SignalState]]:
    """Per channel, the next state of one signal of one candidate (rotating), observed."""
    fresh = []
    for n, channel in enumerate(world):
        candidate = channel.rule.candidates[n % CANDIDATES]
        ref = (candidate.integration, candidate.signal_ids()[0])
        state = channel.signals[ref]
        fresh.append(
            (*ref, observe(state, Observation(ref[1], state.state.value != "down", at, "HTTP 200")))
        )
    return fresh


@dataclass(frozen=True)
class _Baseline:
    a: object
    b: object
    c: object
    d: object


def _pass(
    world: list[_Channel], now: float, fresh: list[tuple[str, str, SignalState]] | None
) -> tuple[float, Counter[str]]:
    """Evaluations per second over every channel (with its fresh state first, if given), and
    a tally: decision kinds, and `kept` for evaluations that came back as the previous one."""
    tally: Counter[str] = Counter()
    began = time.perf_counter()
    if fresh is None:
        for channel in world:
            previous = channel.evaluation
            evaluation = _evaluate(channel, now)
            tally[evaluation.decision.kind.value] += 1
            tally["kept"] += evaluation is previous
    else:
        for channel, (integration, signal_id, state) in zip(world, fresh, strict=True):
            channel.signals[(integration, signal_id)] = state
            previous = channel.evaluation
            evaluation = _evaluate(channel, now)
            tally[evaluation.decision.kind.value] += 1
            tally["kept"] += evaluation is previous
    return len(world) / (time.perf_counter() - began), tally


def _tally_note(tallies: list[Counter[str]]) -> str:
    kept = sorted({t["kept"] for t in tallies})
    kinds = sorted({f"{kind} {n:,}" for t in tallies for kind, n in t.items() if kind != "kept"})
    return f"per pass: {', '.join(kinds)}; came back as the previous evaluation: " + "/".join(
        f"{n:,}" for n in kept
    )


def measure(*, channels: int, runs: int) -> list[Figure]:
    built = time.perf_counter()
    world = _world(channels)
    build_s = time.perf_counter() - built
    for channel in world:
        _evaluate(channel, T0 + 5)
    tick, fresh, baseline = [], [], []
    tick_tallies, fresh_tallies = [], []
    for run in range(runs):
        now = T0 + 10 + 2 * run
        rate, tally = _pass(world, now, None)
        tick.append(rate)
        tick_tallies.append(tally)
        observed = _fresh_states(world, now + 1)
        rate, tally = _pass(world, now + 1, observed)
        fresh.append(rate)
        fresh_tallies.append(tally)
        began = time.perf_counter()
        for channel in world:
            _Baseline(channel.rule, channel.signals, channel.view, channel.history)
        baseline.append(channels / (time.perf_counter() - began))
    size = f"{channels:,} channels x {CANDIDATES} candidates x 3 signals"
    figures = [
        Figure(
            3,
            f"decision core, timer tick (nothing changed): {size}",
            "evaluations/s",
            tick,
            baseline_name="frozen dataclass builds/s",
            baseline=baseline,
            target=">= 100,000 evaluations/s",
            note=(
                f"{runs} passes over every channel; {_tally_note(tick_tallies)}; "
                f"building the rules and states took {build_s:.1f}s (not counted)"
            ),
            higher_is_better=True,
        ),
        Figure(
            3,
            f"decision core, after a fresh observation: {size}",
            "evaluations/s",
            fresh,
            baseline_name="frozen dataclass builds/s",
            baseline=baseline,
            target=">= 100,000 evaluations/s",
            note=(
                "one signal per channel has a new state before each evaluation; "
                f"{_tally_note(fresh_tallies)}"
            ),
            higher_is_better=True,
        ),
    ]
    for figure in figures:
        figure.met = figure.median >= TARGET
    return figures
