"""Figure 3: decision throughput of the pure core, no I/O.

10,000 channels x 4 candidates x 3 signals. One evaluation is what the daemon does for a
channel each time it decides: every signal's health, every candidate's health from its
signals, then the policy's evaluation. One channel in ten has its primary down (a switch
decision), the rest are healthy (keep). Two cases:
- a timer tick: nothing changed since the last evaluation (the common case);
- a fresh observation: one signal of one candidate has a new state before each evaluation
  (a new reason, so its candidate's health and the decision are worked out again).
Baseline, same run: building a small frozen dataclass from the same inputs once per
channel, the cheapest thing Python can do with them.
"""

from __future__ import annotations

import time
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
    """Each channel its own rule (a copy of one validated template, for a quick set-up) and
    view; starting states are immutable values, so channels start from shared ones and part
    ways at their first observation."""
    template = _rule(0)
    healthy, failing = (_states(template, primary_down=down) for down in (False, True))
    world = []
    for index in range(channels):
        rule = template.model_copy(
            update={"environment": f"env{index // 2:05d}", "channel": ("email", "sms")[index % 2]}
        )
        signals = dict(failing if index % 10 == 0 else healthy)
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


def measure(*, channels: int, runs: int) -> list[Figure]:
    built = time.perf_counter()
    world = _world(channels)
    build_s = time.perf_counter() - built
    kinds = {_evaluate(c, T0 + 5).decision.kind.value for c in world}
    tick, fresh, baseline = [], [], []
    for run in range(runs):
        now = T0 + 10 + 2 * run
        began = time.perf_counter()
        for channel in world:
            _evaluate(channel, now)
        tick.append(channels / (time.perf_counter() - began))
        observed = _fresh_states(world, now + 1)
        began = time.perf_counter()
        for channel, (integration, signal_id, state) in zip(world, observed, strict=True):
            channel.signals[(integration, signal_id)] = state
            _evaluate(channel, now + 1)
        fresh.append(channels / (time.perf_counter() - began))
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
                f"{runs} passes over every channel; decisions seen: {', '.join(sorted(kinds))}; "
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
            note="one signal per channel has a new state before each evaluation",
            higher_is_better=True,
        ),
    ]
    for figure in figures:
        figure.met = figure.median >= TARGET
    return figures
