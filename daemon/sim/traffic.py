"""Background message traffic for the demo: a steady trickle through Novu's routing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from daemon.sim.state import NovuSimulator


async def generate_traffic(
    sim: NovuSimulator,
    *,
    per_second: float,
    environment: str = "production",
    channels: Sequence[str] = ("email", "sms"),
) -> None:
    """Send `per_second` messages per channel until cancelled (run it as a task)."""
    if per_second <= 0:
        msg = f"traffic must be a positive rate, got {per_second}"
        raise ValueError(msg)
    sim.environment(environment)  # unknown environment: fail now, not in the loop
    interval = 1.0 / per_second
    while True:
        for channel in channels:
            sim.send(channel, environment)
        await asyncio.sleep(interval)
