"""The `novu_delivery` signal: the candidate's real failure rate among Novu's own messages.

Counts the channel's messages of the last `window` sent through the candidate's provider.
`error` is a failure; `sent` and `warning` are not (Novu marks a message `warning` when
something around delivery went wrong, e.g. a webhook, while the provider accepted it).
Each error is classified (`daemon.health.classes`) and only the classes in the signal's
`down_classes` count as failures: a burst of invalid recipients is no reason to fail over.
Fewer than `min_messages` is *unknown*: a backup that carries no traffic has no delivery
evidence, so this signal alone never vouches for it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from daemon.durations import format_duration
from daemon.health.classes import ClassPattern, classify_message
from daemon.logs import get_logger
from daemon.model import DEFAULT_DOWN_CLASSES, FailureClass, Message, Observation
from daemon.rules.model import NovuDeliverySignal
from daemon.signals.base import MessagesSource, Timer, clip, default_timer, timeout_text

log = get_logger(__name__)

FAILED_STATUS = "error"


@dataclass(frozen=True, slots=True)
class DeliveryCount:
    provider_id: str
    total: int
    failed: int
    """Errors of the classes that count toward down."""
    classes: dict[FailureClass, int] = field(default_factory=dict)
    """Every error by class, counted or not."""
    down_classes: frozenset[FailureClass] = DEFAULT_DOWN_CLASSES

    @property
    def rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @property
    def main_class(self) -> FailureClass | None:
        """The most frequent class among the counted errors (None without one)."""
        counted = [(n, cls) for cls, n in self.classes.items() if cls in self.down_classes]
        return max(counted)[1] if counted else None

    @property
    def ignored(self) -> dict[FailureClass, int]:
        """Errors of classes that do not count toward down, by class."""
        return {c: n for c, n in self.classes.items() if c not in self.down_classes}


def count_delivery(
    messages: list[Message],
    *,
    provider_id: str,
    since: float,
    down_classes: frozenset[FailureClass] = DEFAULT_DOWN_CLASSES,
    patterns: Sequence[ClassPattern] = (),
) -> DeliveryCount:
    """How many of `provider_id`'s messages since `since` there are, and how many failed
    with a class in `down_classes` (the others are tallied by class, not counted)."""
    mine = [m for m in messages if m.provider_id == provider_id and m.created_at >= since]
    classes: Counter[FailureClass] = Counter(
        classify_message(m.provider_id, m.error_id, m.error_text, patterns=patterns)
        for m in mine
        if m.status == FAILED_STATUS
    )
    failed = sum(n for cls, n in classes.items() if cls in down_classes)
    return DeliveryCount(
        provider_id=provider_id,
        total=len(mine),
        failed=failed,
        classes=dict(classes),
        down_classes=down_classes,
    )


def percent(rate: float) -> str:
    return f"{rate * 100:.3g}%"


class NovuDeliveryProbe:
    """Judges one candidate's delivery failure rate over a window of Novu's messages."""

    def __init__(
        self,
        signal: str,
        spec: NovuDeliverySignal,
        *,
        channel: str,
        messages: MessagesSource,
        provider_id: Callable[[], str | None],
        patterns: Sequence[ClassPattern] = (),
    ) -> None:
        self._signal = signal
        self._spec = spec
        self._channel = channel
        self._messages = messages
        self._provider_id = provider_id
        self._patterns = tuple(patterns)
        self._down_classes = frozenset(spec.down_classes)

    @property
    def signal(self) -> str:
        return self._signal

    async def __call__(self, *, now: float) -> Observation:
        spec = self._spec
        provider = spec.provider_id or self._provider_id()
        if provider is None:
            detail = "provider unknown: the integration is not in Novu's list (yet)"
            return Observation(self._signal, None, now, detail)
        since = now - spec.window
        try:
            async with asyncio.timeout(spec.timeout):
                messages = await self._messages.recent_messages(self._channel, since=since)
        except TimeoutError:
            detail = f"Novu messages did not answer within {timeout_text(spec.timeout)}"
            return Observation(self._signal, None, now, detail)
        except Exception as exc:  # a Novu outage is no evidence about the provider
            log.debug("signal %s: Novu messages failed: %s", self._signal, type(exc).__name__)
            detail = f"Novu messages unavailable: {clip(str(exc)) or type(exc).__name__}"
            return Observation(self._signal, None, now, detail)
        count = count_delivery(
            messages,
            provider_id=provider,
            since=since,
            down_classes=self._down_classes,
            patterns=self._patterns,
        )
        ok, detail = self._verdict(count)
        failure_class = count.main_class if ok is False else None
        return Observation(self._signal, ok, now, detail, failure_class=failure_class)

    def _verdict(self, count: DeliveryCount) -> tuple[bool | None, str]:
        spec = self._spec
        window = format_duration(spec.window)
        if count.total < spec.min_messages:
            return None, (
                f"{count.provider_id}: {count.total} messages in {window}, need {spec.min_messages}"
            )
        ok = count.rate <= spec.max_failure_rate
        main = None if ok else count.main_class
        detail = (
            f"{count.provider_id}: failure rate {percent(count.rate)} "
            f"({count.failed}/{count.total}{f', mostly {main}' if main else ''}) over {window}, "
            f"max {percent(spec.max_failure_rate)}"
        )
        if count.ignored:
            ignored = ", ".join(f"{n} {cls}" for cls, n in sorted(count.ignored.items()))
            detail += f"; not counted: {ignored} errors"
        return ok, detail


class UnavailableProbe:
    """Stands in for a signal that cannot be checked here; always inconclusive, with why."""

    def __init__(self, signal: str, reason: str) -> None:
        self._signal = signal
        self._reason = reason

    @property
    def signal(self) -> str:
        return self._signal

    async def __call__(self, *, now: float) -> Observation:
        return Observation(self._signal, None, now, self._reason)


@dataclass(slots=True)
class _Fetch:
    started: float
    since: float
    task: asyncio.Task[list[Message]]


class SharedMessages:
    """A `MessagesSource` that fetches each channel once per `ttl` seconds for every signal.

    Callers that ask while a fetch is running wait for it; a caller asking for an older
    `since` than the cached fetch covers starts a new one. Failed fetches are not kept.
    One caller giving up (timeout, cancel) does not cancel the fetch for the others.
    """

    def __init__(self, source: MessagesSource, *, ttl: float = 5.0, timer: Timer = default_timer):
        self._source = source
        self._ttl = ttl
        self._timer = timer
        self._fetches: dict[str, _Fetch] = {}

    async def recent_messages(
        self, channel: str, *, since: float, page_size: int = 100, max_pages: int = 5
    ) -> list[Message]:
        fetch = self._fetches.get(channel)
        started = self._timer()
        if fetch is None or not self._usable(fetch, since=since, at=started):
            task = asyncio.ensure_future(
                self._source.recent_messages(
                    channel, since=since, page_size=page_size, max_pages=max_pages
                )
            )
            task.add_done_callback(_retrieve)
            fetch = _Fetch(started=started, since=since, task=task)
            self._fetches[channel] = fetch
        messages = await asyncio.shield(fetch.task)
        return [m for m in messages if m.created_at >= since]

    def _usable(self, fetch: _Fetch, *, since: float, at: float) -> bool:
        if at - fetch.started > self._ttl or since < fetch.since:
            return False
        task = fetch.task
        return not task.done() or (not task.cancelled() and task.exception() is None)


def _retrieve(task: asyncio.Task[list[Message]]) -> None:
    """Marks a failure as seen, so a fetch nobody awaits any more logs no asyncio warning."""
    if not task.cancelled():
        task.exception()
