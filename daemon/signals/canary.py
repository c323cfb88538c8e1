"""The `canary` signal: a real message through the candidate's integration, judged by Novu.

Each check triggers the user's workflow for the user's sink subscriber with
`overrides.<channel>.integrationIdentifier` = the candidate, a fresh `transactionId` (also
the idempotency key, so a retried trigger never sends twice), then reads the message by
`transactionId` until it is `sent` (success, with how long it took), `error` (failure,
with the provider's text and its failure class) or the deadline passes (failure: no
message). A daily budget caps how many real messages it sends; when it is spent the check
is inconclusive and says so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from daemon.clock import Clock
from daemon.durations import format_duration
from daemon.health.classes import ClassPattern, classify_message
from daemon.logs import get_logger
from daemon.model import Message, Observation
from daemon.novu.errors import NovuApiError, NovuError
from daemon.novu.parse import TriggerAnswer
from daemon.rules.model import CanarySignal
from daemon.signals.base import clip, seconds

log = get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]
DAY = 86400.0
DELIVERED = frozenset({"sent", "warning"})
"""`warning`: the provider accepted the message; something around it (a webhook) did not."""


class CanaryNovu(Protocol):
    """What a canary needs of Novu (the Novu client satisfies it)."""

    async def trigger(
        self,
        workflow: str,
        *,
        to: Mapping[str, str],
        transaction_id: str,
        idempotency_key: str,
        overrides: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> TriggerAnswer: ...

    async def transaction_messages(self, transaction_id: str, *, channel: str) -> list[Message]: ...


class DailyBudget:
    """At most `limit` sends in any 24 hours (a rolling window, in memory)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sent: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - DAY:
            self._sent.popleft()

    def take(self, now: float) -> bool:
        self._expire(now)
        if len(self._sent) >= self.limit:
            return False
        self._sent.append(now)
        return True

    def used(self, now: float) -> int:
        self._expire(now)
        return len(self._sent)

    def next_at(self, now: float) -> float:
        """When the next send fits in the budget again."""
        self._expire(now)
        return self._sent[0] + DAY if len(self._sent) >= self.limit else now


def new_transaction_id() -> str:
    return f"novu-failover-canary-{uuid.uuid4().hex}"


class CanaryProbe:
    """Sends one canary per call through `integration` and waits for Novu's verdict."""

    def __init__(
        self,
        signal: str,
        spec: CanarySignal,
        *,
        channel: str,
        integration: str,
        novu: CanaryNovu,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        patterns: Sequence[ClassPattern] = (),
        new_id: Callable[[], str] = new_transaction_id,
    ) -> None:
        self._signal = signal
        self._spec = spec
        self._channel = channel
        self._integration = integration
        self._novu = novu
        self._clock = clock
        self._sleep = sleep
        self._patterns = tuple(patterns)
        self._new_id = new_id
        self.budget = DailyBudget(spec.daily_budget)

    @property
    def signal(self) -> str:
        return self._signal

    def carry_budget(self, previous: CanaryProbe) -> None:
        """Keep counting against the sends of the probe this one replaces (a rules reload),
        so a reload does not reset the daily budget."""
        previous.budget.limit = self.budget.limit
        self.budget = previous.budget

    def _to(self) -> dict[str, str]:
        spec = self._spec
        to = {"subscriberId": spec.subscriber_id}
        if spec.email is not None:
            to["email"] = spec.email
        if spec.phone is not None:
            to["phone"] = spec.phone
        return to

    async def __call__(self, *, now: float) -> Observation:
        spec = self._spec
        name = f"canary via {self._integration}"
        if not self.budget.take(now):
            next_at = self.budget.next_at(now)
            detail = (
                f"{name} not sent: daily budget of {spec.daily_budget} canaries used up; "
                f"next in {format_duration(max(next_at - now, 0.0))}"
            )
            return Observation(self._signal, None, now, detail)
        transaction_id = self._new_id()
        try:
            answer = await self._novu.trigger(
                spec.workflow,
                to=self._to(),
                transaction_id=transaction_id,
                idempotency_key=transaction_id,
                overrides={self._channel: {"integrationIdentifier": self._integration}},
                payload={"novu_failover_canary": True, "integration": self._integration},
            )
        except NovuApiError as exc:
            detail = f"{name}: Novu refused the trigger of workflow {spec.workflow}: {exc}"
            return Observation(self._signal, False, now, clip(detail, 240), failure_class="unknown")
        except NovuError as exc:  # Novu itself unavailable: no evidence about the provider
            detail = f"{name}: Novu unavailable for the trigger: {exc}"
            return Observation(self._signal, None, now, clip(detail, 240))
        if not answer.acknowledged or answer.status != "processed":
            errors = "; ".join(answer.error) or "no reason given"
            detail = (
                f"{name}: Novu did not process the trigger of workflow {spec.workflow} "
                f"(status {answer.status}): {errors}"
            )
            return Observation(self._signal, False, now, clip(detail, 240), failure_class="unknown")
        return await self._await_message(name, transaction_id, now=now)

    async def _await_message(self, name: str, transaction_id: str, *, now: float) -> Observation:
        spec = self._spec
        started = self._clock.now()
        deadline = started + spec.deadline
        read_once = False
        unavailable = ""
        while True:
            try:
                messages = await self._novu.transaction_messages(
                    transaction_id, channel=self._channel
                )
            except NovuError as exc:
                unavailable = str(exc)
                log.debug("signal %s: reading the canary message failed: %s", self._signal, exc)
            else:
                read_once = True
                elapsed = self._clock.now() - started
                verdict = self._judge(name, messages, elapsed=elapsed, now=now)
                if verdict is not None:
                    return verdict
            left = deadline - self._clock.now()
            if left <= 0:
                break
            await self._sleep(min(spec.poll, left))
        if not read_once:
            detail = f"{name}: Novu messages unavailable until the deadline: {unavailable}"
            return Observation(self._signal, None, now, clip(detail, 240))
        detail = (
            f"{name}: no message within {format_duration(spec.deadline)} "
            f"(transactionId {transaction_id})"
        )
        return Observation(self._signal, False, now, detail, failure_class="unknown")

    def _judge(
        self, name: str, messages: list[Message], *, elapsed: float, now: float
    ) -> Observation | None:
        delivered = next((m for m in messages if m.status in DELIVERED), None)
        if delivered is not None:
            detail = f"{name}: {delivered.status} in {seconds(elapsed)}"
            return Observation(self._signal, True, now, detail, latency=elapsed)
        failed = next((m for m in messages if m.status == "error"), None)
        if failed is None:
            return None
        failure_class = classify_message(
            failed.provider_id, failed.error_id, failed.error_text, patterns=self._patterns
        )
        text = failed.error_text or failed.error_id or "no error text"
        detail = f"{name}: error after {seconds(elapsed)} ({failure_class}): {clip(text)}"
        return Observation(
            self._signal, False, now, detail, latency=elapsed, failure_class=failure_class
        )
