"""Tie the simulated providers to the Novu simulator: a provider outage fails its messages."""

from __future__ import annotations

from daemon.sim.providers import ProviderChange, ProviderFarm
from daemon.sim.state import NovuSimulator


def connect(farm: ProviderFarm, sim: NovuSimulator) -> None:
    """From now on, each provider's outage makes Novu's messages through it fail.

    A partial outage fails half of them, a major outage or a down API all of them.
    Resetting the simulator re-applies the providers' current state.
    """

    def apply(change: ProviderChange) -> None:
        rate = change.failure_rate
        sim.set_provider_failing(change.novu_provider_id, rate > 0, rate=rate)

    farm.on_change(apply)

    def reapply() -> None:
        for change in farm.changes():
            apply(change)

    sim.after_reset.append(reapply)
