"""The contract between the HTTP API (and so the CLI) and the running service.

The service implements `ControlPlane`; `daemon.api` serves it. Everything returned is
JSON-ready (dicts, lists, str, float, bool, None) and holds no secret.
"""

from __future__ import annotations

from typing import Any, Protocol

JSON = dict[str, Any]


class ControlError(Exception):
    """A refused control request: `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlPlane(Protocol):
    def alive(self) -> tuple[bool, str]:
        """For /healthz: the scheduler and event loop are running."""
        ...

    def ready(self) -> tuple[bool, JSON]:
        """For /readyz: rules loaded and every environment reached once; detail says what not."""
        ...

    def status(self) -> JSON:
        """Per channel: primary, candidates with health and reasons, last decision, pause,
        brake and cooldown; plus global pause, rules file, reload error."""
        ...

    async def events(self, *, limit: int, offset: int) -> JSON:
        """Audit trail, newest first: {"events": [...], "total": n, "offset": o, "limit": l}."""
        ...

    def explain(self, channel: str) -> JSON:
        """Why a channel did or did not switch: last decision, evidence, health, timers."""
        ...

    async def pause(
        self, *, channel: str | None, until: float | None, reason: str, by: str
    ) -> JSON: ...

    async def resume(self, *, channel: str | None, by: str) -> JSON: ...

    async def ack(self, *, channel: str, by: str) -> JSON:
        """Clear a tripped brake on a channel."""
        ...

    async def failover(
        self, *, channel: str, target: str, force: bool, reason: str, by: str
    ) -> JSON:
        """Manual switch; refused (ControlError 409) when the target is down unless forced."""
        ...
