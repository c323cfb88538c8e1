"""Health: turns observations into per-signal and per-candidate health. Pure, no I/O.

A signal is `unknown` until it has evidence, then moves between `up` and `down` with
rise/fall hysteresis and an optional windowed failure rate. A candidate is `down` when its
signals say so under the policy's `down_when`, `up` when it is not down and at least one
non-passive signal is up, else `unknown`. Every state carries a one-line reason and a since.
"""

from daemon.health.candidate import candidate_health
from daemon.health.signal_state import (
    SignalState,
    new_signal_state,
    observe,
    observe_all,
    signal_health,
)

__all__ = [
    "SignalState",
    "candidate_health",
    "new_signal_state",
    "observe",
    "observe_all",
    "signal_health",
]
