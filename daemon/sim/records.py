"""The simulator's records: environments, integrations, the call log, and Novu errors."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.sim.dto import iso


class SimError(Exception):
    """A Novu error answer: status, ErrorDto `message`, and extra ErrorDto fields."""

    def __init__(
        self,
        status: int,
        message: str | list[str],
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class SimEnvironment:
    name: str
    id: str
    api_key: str
    organization_id: str


@dataclass(slots=True)
class SimIntegration:
    """One integration as Novu stores it (credentials in clear, as older servers return)."""

    id: str
    environment_id: str
    organization_id: str
    identifier: str
    name: str
    provider_id: str
    channel: str
    active: bool
    primary: bool
    priority: int
    conditions: list[dict[str, Any]]
    credentials: dict[str, Any]
    created_at: str
    updated_at: str

    def to_dto(
        self, *, credentials: bool = True, blank_credentials: bool = False
    ) -> dict[str, Any]:
        """IntegrationResponseDto plus `priority`, as the live API sends it."""
        dto: dict[str, Any] = {
            "_id": self.id,
            "_environmentId": self.environment_id,
            "_organizationId": self.organization_id,
            "name": self.name,
            "identifier": self.identifier,
            "providerId": self.provider_id,
            "channel": self.channel,
            "credentials": {} if blank_credentials else copy.deepcopy(self.credentials),
            "active": self.active,
            "deleted": False,
            "primary": self.primary,
            "priority": self.priority,
            "conditions": copy.deepcopy(self.conditions),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if not credentials:
            del dto["credentials"]
        return dto


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One set-primary or PUT call the simulator received, and how it answered."""

    at: float
    """When it was answered."""
    method: str
    path: str
    integration_id: str
    status: int
    environment: str | None = None
    identifier: str | None = None
    idempotency_key: str | None = None
    replay: bool = False
    fault: str | None = None
    executed: bool = False
    result: int | None = None
    """What Novu's logic answered, when it ran (a fault after it may have lost that)."""
    body: Mapping[str, Any] | None = None
    arrived_at: float | None = None
    """When the request reached the simulator's handler (its own work comes after)."""

    @property
    def kind(self) -> str:
        return "set-primary" if self.path.endswith("/set-primary") else "update"

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "atUnix": self.at,  # full precision, for timing
            "arrivedUnix": self.at if self.arrived_at is None else self.arrived_at,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "environment": self.environment,
            "integrationId": self.integration_id,
            "identifier": self.identifier,
            "status": self.status,
            "idempotencyKey": self.idempotency_key,
            "replay": self.replay,
            "fault": self.fault,
            "executed": self.executed,
            "result": self.result,
            "body": dict(self.body) if self.body is not None else None,
        }
