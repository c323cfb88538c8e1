"""History retention follows the rules: the longest window a channel's policy looks back
over, plus a margin, never less than a week; and pruning drops only what is older."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.model import ChannelHistory, Switch
from daemon.policy import HISTORY_KEEP_SECONDS, brake_status, forget_old_switches, retention
from daemon.rules.model import Policy

DAY = 86400.0
T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param({}, HISTORY_KEEP_SECONDS, id="defaults-keep-the-floor"),
        pytest.param({"brake": {"per": "7d"}}, 7.7 * DAY, id="brake-7d-plus-a-tenth"),
        pytest.param({"cooldown": "7d"}, 7.7 * DAY, id="cooldown"),
        pytest.param({"failback": {"after": "7d"}}, 7.7 * DAY, id="failback"),
        pytest.param({"confirm": "1d"}, HISTORY_KEEP_SECONDS, id="confirm-within-the-floor"),
        pytest.param({"startup_grace": "1d"}, HISTORY_KEEP_SECONDS, id="grace-within-the-floor"),
        pytest.param(
            {"brake": {"per": "6d23h30m"}},
            6 * DAY + 23.5 * 3600 + 0.1 * (6 * DAY + 23.5 * 3600),
            id="just-under-the-floor-plus-margin",
        ),
    ],
)
def test_retention_is_the_longest_window_plus_a_margin(
    policy: dict[str, Any], expected: float
) -> None:
    assert retention(Policy.model_validate(policy)) == pytest.approx(expected)


def test_retention_always_covers_the_brake_window() -> None:
    for per in ("1s", "1h", "6d23h", "7d"):  # rules bound brake.per to 7d
        policy = Policy.model_validate({"brake": {"per": per, "max": 2}})
        assert retention(policy) > policy.brake.per


def _switch(at: float) -> Switch:
    return Switch(at=at, from_="a", to="b", trigger="failover")


def test_the_longest_brake_still_counts_a_switch_at_the_far_edge_of_its_window() -> None:
    """brake.per at its bound (7d): a switch almost a week old still counts after pruning."""
    policy = Policy.model_validate({"brake": {"per": "7d", "max": 2}})
    history = ChannelHistory(switches=(_switch(T0), _switch(T0 + 7 * DAY - 60)))
    kept = forget_old_switches(history, keep=retention(policy))
    assert kept == history
    assert brake_status(policy, kept, now=T0 + 7 * DAY - 30) == (2, T0 + 7 * DAY)
