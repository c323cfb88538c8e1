"""Verifying a switch from Novu's read-back: exactly one primary, the target, and active."""

from __future__ import annotations

from daemon.model import ChannelView


def readback_problem(view: ChannelView, target: str) -> str | None:
    """Why `view` does not show `target` as the channel's one active primary, or None."""
    primaries = [i for i in view.integrations if i.primary]
    if not primaries:
        return f"read-back: {view.environment}/{view.channel} has no primary (expected {target})"
    if len(primaries) > 1:
        names = ", ".join(i.identifier for i in primaries)
        return f"read-back: {len(primaries)} primaries ({names}); expected only {target}"
    (primary,) = primaries
    if primary.identifier != target:
        return f"read-back: primary is {primary.identifier}, not {target}"
    if not primary.active:
        return f"read-back: {target} is primary but inactive, so it receives no traffic"
    return None
