"""Novu's message log as the simulator keeps it: routed sends, failing providers, pages."""

from __future__ import annotations

import copy
import itertools
import random
from collections import deque
from typing import Any

from daemon.sim.dto import CHANNELS, iso, object_id
from daemon.sim.records import SimEnvironment, SimError

MAX_PAGE_SIZE = 1000
MESSAGE_ID_PREFIX = 0x6650B0
SUBSCRIBER_ID = "6650a1b2c3d4e5f6000c0de1"
ERROR_IDS = {"email": "mail_unexpected_error", "sms": "sms_unexpected_error"}


class MessageLog:
    """Messages per environment (bounded), and which providers fail how often."""

    def __init__(self, *, random_seed: int = 0, max_messages: int = 10_000) -> None:
        self._by_environment: dict[str, deque[dict[str, Any]]] = {}
        self._failing: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._random = random.Random(random_seed)  # noqa: S311 - reproducible traffic
        self._max_messages = max_messages

    def set_failing(self, provider_id: str, failing: bool, *, rate: float = 1.0) -> None:
        if not 0.0 <= rate <= 1.0:
            msg = f"failure rate must be within [0, 1], got {rate}"
            raise ValueError(msg)
        if failing and rate > 0:
            self._failing[provider_id] = rate
        else:
            self._failing.pop(provider_id, None)

    def failing_providers(self) -> dict[str, float]:
        return dict(self._failing)

    def deliver(
        self, env: SimEnvironment, channel: str, *, provider_id: str, at: float
    ) -> dict[str, Any]:
        """One message through `provider_id`: `error` when that provider is failing."""
        rate = self._failing.get(provider_id)
        failed = rate is not None and self._random.random() < rate
        n = next(self._ids)
        message: dict[str, Any] = {
            "_id": object_id(MESSAGE_ID_PREFIX, n),
            "_environmentId": env.id,
            "_organizationId": env.organization_id,
            "_subscriberId": SUBSCRIBER_ID,
            "_notificationId": object_id(MESSAGE_ID_PREFIX + 1, n),
            "_jobId": object_id(MESSAGE_ID_PREFIX + 2, n),
            "transactionId": f"sim-{n:08d}",
            "channel": channel,
            "providerId": provider_id,
            "status": "error" if failed else "sent",
            "errorId": ERROR_IDS.get(channel, "unexpected_error") if failed else None,
            "errorText": (
                f"{provider_id}: 503 Service Unavailable (simulated outage)" if failed else None
            ),
            "createdAt": iso(at),
            "updatedAt": iso(at),
        }
        self.record(env.id, message)
        return copy.deepcopy(message)

    def record(self, environment_id: str, message: dict[str, Any]) -> None:
        stored = self._by_environment.setdefault(environment_id, deque(maxlen=self._max_messages))
        stored.append(message)

    def count(self, environment_id: str) -> int:
        return len(self._by_environment.get(environment_id, ()))

    def page(
        self, environment_id: str, *, channel: str | None, page: int, limit: int
    ) -> dict[str, Any]:
        """GET /v1/messages: newest first, `{data, hasMore, page, pageSize}`."""
        problems: list[str] = []
        if channel is not None and channel not in CHANNELS:
            problems.append(f"channel must be one of the following values: {', '.join(CHANNELS)}")
        if page < 0:
            problems.append("page must not be less than 0")
        if not 1 <= limit <= MAX_PAGE_SIZE:
            problems.append(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        if problems:
            raise SimError(400, problems)
        stored = self._by_environment.get(environment_id, deque())
        newest_first = [m for m in reversed(stored) if channel is None or m["channel"] == channel]
        start = page * limit
        return {
            "data": copy.deepcopy(newest_first[start : start + limit]),
            "hasMore": len(newest_first) > start + limit,
            "page": page,
            "pageSize": limit,
        }
