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
        pytest.param({"brake": {"per": "30d"}}, 33 * DAY, id="brake-30d-plus-a-tenth"),
        pytest.param({"cooldown": "10d"}, 11 * DAY, id="cooldown"),
        pytest.param({"failback": {"after": "20d"}}, 22 * DAY, id="failback"),
        pytest.param({"confirm": "8d"}, 8 * DAY + 0.8 * DAY, id="confirm"),
        pytest.param({"startup_grace": "9d"}, 9.9 * DAY, id="startup-grace"),
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
    for per in ("1s", "1h", "7d", "8d", "365d"):
        policy = Policy.model_validate({"brake": {"per": per, "max": 2}})
        assert retention(policy) > policy.brake.per


def _switch(at: float) -> Switch:
    return Switch(at=at, from_="a", to="b", trigger="failover")


def test_a_30_day_brake_still_counts_a_switch_from_20_days_ago_after_pruning() -> None:
    """With a fixed 7-day history this brake would undercount and let the channel flap."""
    policy = Policy.model_validate({"brake": {"per": "30d", "max": 2}})
    history = ChannelHistory(switches=(_switch(T0), _switch(T0 + 20 * DAY)))
    kept = forget_old_switches(history, keep=retention(policy))
    assert kept == history
    assert brake_status(policy, kept, now=T0 + 21 * DAY) == (2, T0 + 30 * DAY)
    short = forget_old_switches(history, keep=HISTORY_KEEP_SECONDS)
    assert brake_status(policy, short, now=T0 + 21 * DAY)[0] == 1, "what a week would lose"


def test_forget_old_switches_keeps_everything_within_keep_of_the_newest() -> None:
    history = ChannelHistory(
        switches=(_switch(T0), _switch(T0 + 5), _switch(T0 + 10)), last_known_primary="b"
    )
    assert forget_old_switches(history, keep=5).switches == history.switches[1:]
    assert forget_old_switches(history, keep=10) is history
    assert forget_old_switches(ChannelHistory(), keep=0) == ChannelHistory()
