"""Benchmarks of the decision core: how much of a tick the pure work costs.

Prints figures, asserts nothing. Each figure is given with a baseline measured in the same
run on the same machine (a plain dataclass construction with the same inputs), so the
ratio says how heavy the real work is relative to the cheapest thing Python can do with
those inputs, independently of the machine's speed.

    make bench          # or: .venv/bin/python bench/run.py
"""

from __future__ import annotations

import timeit
from dataclasses import dataclass, replace

from daemon.health import candidate_health, new_signal_state, observe, signal_health
from daemon.model import (
    ChannelHistory,
    ChannelView,
    Health,
    Integration,
    Observation,
)
from daemon.policy import decide
from daemon.rules.model import ChannelRule

T0 = 1_700_000_000.0
NAMES = ("sendgrid-main", "ses-backup", "mailgun-backup")


def _rule() -> ChannelRule:
    return ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": "email",
            "candidates": [
                {
                    "integration": name,
                    "signals": [
                        {"http": {"url": f"https://{name}.test/"}},
                        {"statuspage": {"url": f"https://{name}.test/", "components": ["Mail"]}},
                        {"http": {"name": "api", "url": f"https://api.{name}.test/"}},
                    ],
                }
                for name in NAMES
            ],
            "policy": {"failback": {"after": "15m"}},
        }
    )


def _view() -> ChannelView:
    integrations = tuple(
        Integration(
            id=f"{i:024x}",
            identifier=name,
            name=name,
            provider_id=name.split("-")[0],
            channel="email",
            environment_id="6" * 24,
            active=True,
            primary=i == 0,
        )
        for i, name in enumerate(NAMES)
    )
    return ChannelView("production", "email", integrations, fetched_at=T0)


@dataclass(frozen=True)
class _Baseline:
    a: object
    b: object
    c: object
    d: object


def _per_call(stmt: object, number: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number  # type: ignore[arg-type]


def main() -> None:
    rule = _rule()
    view = _view()
    history = ChannelHistory(last_known_primary=NAMES[0])

    # Health: one signal state fed failures until down.
    entry = rule.candidates[0].signals[0]
    state = new_signal_state("http", entry)
    failure = Observation("http", False, T0 + 1, "HTTP 503 in 0.2s", latency=0.2)
    observe_s = _per_call(lambda: observe(state, failure), 20_000)
    base_observe_s = _per_call(lambda: replace(state, consecutive_fail=1, last=failure), 20_000)

    # Candidate health from its three signals, and the whole decision for a failover.
    signals = []
    for signal_id, item in zip(
        rule.candidates[0].signal_ids(), rule.candidates[0].signals, strict=True
    ):
        current = new_signal_state(signal_id, item)
        for n in range(3):
            current = observe(current, Observation(signal_id, False, T0 + n, "down"))
        signals.append(signal_health(current))
    down = candidate_health(NAMES[0], signals, down_when="any", previous=None, now=T0 + 3)
    up_signals = [replace(s, state=Health.UP, reason="up") for s in signals]
    health = {NAMES[0]: down} | {
        name: candidate_health(name, up_signals, down_when="any", previous=None, now=T0)
        for name in NAMES[1:]
    }
    candidate_s = _per_call(
        lambda: candidate_health(NAMES[0], signals, down_when="any", previous=down, now=T0 + 4),
        20_000,
    )

    def evaluate() -> object:
        return decide(
            rule, health=health, view=view, history=history, pause=None, started_at=T0, now=T0 + 10
        )

    decision = evaluate()
    decide_s = _per_call(evaluate, 5_000)
    base_s = _per_call(lambda: _Baseline(rule, health, view, history), 20_000)

    # One tick of a large deployment: 50 channels x 3 candidates x 3 signals, all re-derived.
    def tick() -> None:
        for _ in range(50):
            for name in NAMES:
                candidate_health(name, signals, down_when="any", previous=health[name], now=T0 + 4)
            evaluate()

    tick_s = _per_call(tick, 20)

    print(f"decision checked: {decision.kind.value} {decision.current} -> {decision.target}")
    print(f"{'figure':<44} {'per call':>11} {'baseline':>11} {'ratio':>8}")
    rows = [
        ("health: observe one observation", observe_s, base_observe_s),
        ("health: candidate from 3 signals", candidate_s, base_s),
        ("policy: decide a 3-candidate failover", decide_s, base_s),
        ("tick: 50 channels x 3 candidates x 3 signals", tick_s, base_s * 50 * 4),
    ]
    for name, value, baseline in rows:
        print(
            f"{name:<44} {value * 1e6:>9.1f}us {baseline * 1e6:>9.2f}us {value / baseline:>7.0f}x"
        )
    print(f"a 50-channel tick takes {tick_s * 1e3:.2f} ms of the 1000 ms tick interval")


if __name__ == "__main__":
    main()
