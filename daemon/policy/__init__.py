"""The policy: pure decisions per channel, and the history they depend on.

No clock, no I/O: everything comes in as arguments, `now` included.
"""

from daemon.policy.decide import decide
from daemon.policy.evaluate import Evaluation, evaluate
from daemon.policy.history import (
    HISTORY_KEEP_SECONDS,
    acknowledge_brake,
    brake_status,
    cooldown_until,
    forget_old_switches,
    history_keep,
    observe_primary,
    record_switch,
    retention,
)
from daemon.policy.manual import check_manual_target

__all__ = [
    "HISTORY_KEEP_SECONDS",
    "Evaluation",
    "acknowledge_brake",
    "brake_status",
    "check_manual_target",
    "cooldown_until",
    "decide",
    "evaluate",
    "forget_old_switches",
    "history_keep",
    "observe_primary",
    "record_switch",
    "retention",
]
