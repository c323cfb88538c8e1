"""One log line when a probed signal changes state, with the failure class that moved it."""

from __future__ import annotations

import logging

from daemon.health import SignalState
from daemon.logs import log_event
from daemon.model import Health, Observation

log = logging.getLogger("novu_failover.signals")


def log_signal_change(
    channel: str,
    integration: str,
    before: SignalState,
    after: SignalState,
    observation: Observation,
) -> None:
    """Log `after` if it differs from `before`: WARNING going down, INFO otherwise."""
    if after.state is before.state:
        return
    level = logging.WARNING if after.state is Health.DOWN else logging.INFO
    failure_class = observation.failure_class if observation.ok is False else None
    log_event(
        log,
        level,
        "signal",
        f"{channel}: {integration} signal {after.signal} {after.state.value}: {observation.detail}",
        channel=channel,
        integration=integration,
        signal=after.signal,
        state=after.state.value,
        failure_class=failure_class,
    )
