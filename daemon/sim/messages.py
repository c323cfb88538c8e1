"""Novu's message log as the simulator keeps it: routed sends, failing providers, pages."""

from __future__ import annotations

import copy
import itertools
import random
from collections import deque
from typing import Any

from daemon.sim.dto import CHANNELS, iso, object_id
from daemon.sim.outcomes import provider_error
from daemon.sim.records import SimEnvironment, SimError

MAX_PAGE_SIZE = 1000
MESSAGE_ID_PREFIX = 0x6650B0
SUBSCRIBER_ID = "6650a1b2c3d4e5f6000c0de1"


class MessageLog:
    """Messages per environment (bounded), and which providers fail how often."""

    def __init__(self, *, random_seed: int = 0, max_messages: int = 10_000) -> None:
        self._by_environment: dict[str, deque[dict[str, Any]]] = {}
        self._failing: dict[str, tuple[float, str]] = {}
        self._visible_at: dict[str, float] = {}
        """Message id -> when a trigger's message shows up (Novu's job runs later)."""
        self._ids = itertools.count(1)
        self._random = random.Random(random_seed)  # noqa: S311 - reproducible traffic
        self._max_messages = max_messages

    def set_failing(
        self,
        provider_id: str,
        failing: bool,
        *,
        rate: float = 1.0,
        failure_class: str = "outage",
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            msg = f"failure rate must be within [0, 1], got {rate}"
            raise ValueError(msg)
        if failing and rate > 0:
            self._failing[provider_id] = (rate, failure_class)
        else:
            self._failing.pop(provider_id, None)

    def failing_providers(self) -> dict[str, float]:
        return {provider: rate for provider, (rate, _) in self._failing.items()}

    def failing_classes(self) -> dict[str, str]:
        return {provider: cls for provider, (_, cls) in self._failing.items()}

    def deliver(
        self,
        env: SimEnvironment,
        channel: str,
        *,
        provider_id: str,
        at: float,
        failure_class: str | None = None,
        transaction_id: str | None = None,
        subscriber_id: str = SUBSCRIBER_ID,
        visible_at: float | None = None,
    ) -> dict[str, Any]:
        """One message through `provider_id`: `error` when `failure_class` is given or the
        provider is failing (with that provider's text for the class)."""
        failing = self._failing.get(provider_id)
        if failure_class is None and failing is not None and self._random.random() < failing[0]:
            failure_class = failing[1]
        failed = failure_class is not None
        error_id, error_text = provider_error(provider_id, failure_class or "outage")
        n = next(self._ids)
        message: dict[str, Any] = {
            "_id": object_id(MESSAGE_ID_PREFIX, n),
            "_environmentId": env.id,
            "_organizationId": env.organization_id,
            "_subscriberId": subscriber_id,
            "_notificationId": object_id(MESSAGE_ID_PREFIX + 1, n),
            "_jobId": object_id(MESSAGE_ID_PREFIX + 2, n),
            "transactionId": transaction_id or f"sim-{n:08d}",
            "channel": channel,
            "providerId": provider_id,
            "status": "error" if failed else "sent",
            "errorId": error_id if failed else None,
            "errorText": error_text if failed else None,
            "createdAt": iso(at),
            "updatedAt": iso(at),
        }
        if visible_at is not None:
            self._visible_at[message["_id"]] = visible_at
        self.record(env.id, message)
        return copy.deepcopy(message)

    def record(self, environment_id: str, message: dict[str, Any]) -> None:
        stored = self._by_environment.setdefault(environment_id, deque(maxlen=self._max_messages))
        stored.append(message)

    def count(self, environment_id: str) -> int:
        return len(self._by_environment.get(environment_id, ()))

    def page(
        self,
        environment_id: str,
        *,
        channel: str | None,
        page: int,
        limit: int,
        transaction_ids: tuple[str, ...] = (),
        now: float | None = None,
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
        newest_first = [
            m
            for m in reversed(stored)
            if (channel is None or m["channel"] == channel)
            and (not transaction_ids or m["transactionId"] in transaction_ids)
            and (now is None or self._visible_at.get(m["_id"], now) <= now)
        ]
        start = page * limit
        return {
            "data": copy.deepcopy(newest_first[start : start + limit]),
            "hasMore": len(newest_first) > start + limit,
            "page": page,
            "pageSize": limit,
        }
