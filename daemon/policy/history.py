"""What a channel remembers between evaluations: switches, the brake's ack, the last primary.

Pure transformations of `ChannelHistory`; the service stores the result after each call.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.model import ChannelHistory, ChannelView, Switch
from daemon.rules.model import Policy

AUTOMATIC = frozenset({"failover", "failback"})
"""Triggers the brake counts: switches the daemon decided on its own."""


def observe_primary(history: ChannelHistory, view: ChannelView, *, now: float) -> ChannelHistory:
    """Record what Novu says the primary is; a change we did not make is drift (a manual switch).

    Call after every successful read of Novu. First sight only records the primary; a view
    with no primary changes nothing (there is nothing to switch *to*).
    """
    primary = view.primary
    if primary is None or primary.identifier == history.last_known_primary:
        return history
    if history.last_known_primary is None:
        return replace(history, last_known_primary=primary.identifier)
    drift = Switch(
        at=now, from_=history.last_known_primary, to=primary.identifier, trigger="manual"
    )
    return replace(
        history, switches=(*history.switches, drift), last_known_primary=primary.identifier
    )


def record_switch(history: ChannelHistory, switch: Switch, *, keep: float) -> ChannelHistory:
    """Append a switch the daemon made; forget switches older than `keep` seconds before it.

    `keep` must cover the brake window (see `history_keep`), or the brake undercounts.
    """
    horizon = switch.at - keep
    kept = tuple(s for s in history.switches if s.at >= horizon)
    return replace(history, switches=(*kept, switch), last_known_primary=switch.to)


def history_keep(policy: Policy) -> float:
    """The shortest `keep` for `record_switch` that loses nothing the policy looks at."""
    return max(policy.brake.per, policy.cooldown)


def acknowledge_brake(history: ChannelHistory, *, now: float) -> ChannelHistory:
    """A person cleared the brake: switches up to `now` no longer count against it."""
    return replace(history, brake_acked_at=now)


def last_switch(history: ChannelHistory) -> Switch | None:
    """The most recent switch (of any trigger), if any."""
    if not history.switches:
        return None
    return max(history.switches, key=lambda s: s.at)


def brake_status(
    policy: Policy, history: ChannelHistory, *, now: float
) -> tuple[int, float | None]:
    """(automatic switches in the window since the last ack, blocked until or None).

    Counts failover/failback switches with `at` in (now - per, now] and after the ack. The
    channel is blocked while that count is >= max, until enough of them age out of the window.
    """
    if not history.switches:
        return 0, None
    acked = history.brake_acked_at
    counted = sorted(
        s.at
        for s in history.switches
        if s.trigger in AUTOMATIC
        and now - policy.brake.per < s.at <= now
        and (acked is None or s.at > acked)
    )
    if len(counted) < policy.brake.max:
        return len(counted), None
    # Blocked until the oldest switch that keeps the count at max leaves the window.
    return len(counted), counted[len(counted) - policy.brake.max] + policy.brake.per


def cooldown_until(policy: Policy, history: ChannelHistory) -> float | None:
    """When the cooldown after the last switch (any trigger) ends; None without a switch."""
    last = last_switch(history)
    return None if last is None else last.at + policy.cooldown


HISTORY_KEEP_SECONDS = 7 * 86400.0
"""The least time switches are remembered, whatever the rules say (a week of history)."""


def retention(policy: Policy) -> float:
    """How long a channel's switches must be remembered: the longest window its policy looks
    back over (brake, cooldown, failback, confirm, start-up grace), plus a margin of a tenth
    of it (at least an hour), and never less than HISTORY_KEEP_SECONDS."""
    failback = 0.0 if policy.failback == "off" else policy.failback.after
    longest = max(policy.brake.per, policy.cooldown, failback, policy.confirm, policy.startup_grace)
    return max(HISTORY_KEEP_SECONDS, longest + max(3600.0, longest / 10))


def forget_old_switches(history: ChannelHistory, *, keep: float) -> ChannelHistory:
    """Drop switches more than `keep` seconds older than the newest one (history only grows
    when a switch is added, so the newest switch is never later than now)."""
    newest = last_switch(history)
    if newest is None:
        return history
    kept = tuple(s for s in history.switches if s.at >= newest.at - keep)
    return history if len(kept) == len(history.switches) else replace(history, switches=kept)
