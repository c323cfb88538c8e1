"""What every channel owner shares: the injected clock, state, metrics and Novu access, the
gate in front of every write, and the back-off after a failed action."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from daemon.actuator import Actuator
from daemon.clock import Clock
from daemon.metrics import Metrics
from daemon.novu.client import NovuClient
from daemon.service.durable import DurableState
from daemon.service.timeline import Timeline

MAX_ACTION_BACKOFF = 300.0


class ActionGate(Protocol):
    """Stands in front of every write to Novu (leader election will be one)."""

    def allows(self, channel: str) -> str | None:
        """None to go ahead, else why this process may not act now."""
        ...


class OpenGate:
    """The gate of a single replica: always open."""

    def allows(self, channel: str) -> str | None:
        del channel
        return None


@dataclass
class OwnerContext:
    """What every owner shares; `actuator` and `clients` are replaced by a reload."""

    clock: Clock
    state: DurableState
    metrics: Metrics
    actuator: Actuator
    clients: dict[str, NovuClient]
    started_at: float
    dry_run: bool
    action_slots: asyncio.Semaphore
    gate: ActionGate = field(default_factory=OpenGate)
    timeline: Timeline = field(default_factory=Timeline)
    """What happened lately, for the status page (in memory, bounded)."""


@dataclass
class Backoff:
    """After a failed or refused action the channel waits, doubling up to 5 minutes."""

    failures: int = 0
    not_before: float = 0.0

    def failed(self, now: float) -> None:
        self.failures += 1
        self.not_before = now + min(MAX_ACTION_BACKOFF, 5.0 * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures, self.not_before = 0, 0.0
