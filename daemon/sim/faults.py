"""Switchable faults for the Novu simulator: latency, 5xx, 429 storms, hangs.

A fault matches requests by path prefix (and optionally method). It fires on every match,
or on a `fraction` of them (seeded random, so runs repeat), and stops after `count` firings
when a count is given. `phase` says whether a terminal fault answers *before* the request
is processed (nothing happened) or *after* (the change was made, the answer is lost: the
case idempotency keys exist for).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["latency", "error", "rate_limit", "timeout"]
Phase = Literal["before", "after"]
FAULT_KINDS: tuple[FaultKind, ...] = ("latency", "error", "rate_limit", "timeout")
ERROR_STATUSES = (500, 503)
"""The 5xx statuses Novu's OpenAPI document declares (others would break the contract)."""

_DEFAULT_SECONDS: dict[FaultKind, float] = {
    "latency": 0.5,
    "error": 0.0,
    "rate_limit": 1.0,
    "timeout": 30.0,
}


class FaultError(ValueError):
    """A fault description that makes no sense."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault rule. `seconds`: the delay (latency), the hang (timeout) or Retry-After."""

    kind: FaultKind
    path: str = "/v1/"
    method: str | None = None
    count: int | None = None
    fraction: float = 1.0
    status: int = 503
    seconds: float | None = None
    phase: Phase = "before"

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in FAULT_KINDS:
            problems.append(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not self.path.startswith("/"):
            problems.append("path must start with /")
        if self.count is not None and self.count < 1:
            problems.append("count must be at least 1")
        if not 0.0 < self.fraction <= 1.0:
            problems.append("fraction must be in (0, 1]")
        if self.kind == "error" and self.status not in ERROR_STATUSES:
            problems.append(f"status must be one of {ERROR_STATUSES}")
        if self.seconds is not None and self.seconds < 0:
            problems.append("seconds must not be negative")
        if self.phase not in ("before", "after"):
            problems.append("phase must be before or after")
        if problems:
            msg = f"bad {self.kind!r} fault: {'; '.join(problems)}"
            raise FaultError(msg)

    @property
    def delay(self) -> float:
        return _DEFAULT_SECONDS[self.kind] if self.seconds is None else self.seconds

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method is None or self.method.upper() == method.upper()
        return method_ok and path.startswith(self.path)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"unknown fault field(s): {', '.join(unknown)}"
            raise FaultError(msg)
        try:
            return cls(**dict(data))
        except TypeError as exc:
            msg = f"bad fault: {exc}"
            raise FaultError(msg) from exc


@dataclass(slots=True)
class _Armed:
    id: int
    fault: Fault
    remaining: int | None
    fired: int = 0


@dataclass(frozen=True, slots=True)
class Firing:
    """What the faults say about one request in one phase."""

    latency: float = 0.0
    terminal: Fault | None = None
    fired: tuple[int, ...] = ()


@dataclass
class FaultPlan:
    """The active faults, in the order they were added."""

    random_seed: int = 0
    _armed: list[_Armed] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._random = random.Random(self.random_seed)  # noqa: S311 - reproducible faults, not crypto

    def add(self, fault: Fault) -> int:
        armed = _Armed(id=next(self._ids), fault=fault, remaining=fault.count)
        self._armed.append(armed)
        return armed.id

    def clear(self) -> None:
        self._armed.clear()
        self._random = random.Random(self.random_seed)  # noqa: S311

    def fire(self, method: str, path: str, *, phase: Phase) -> Firing:
        """Consume the faults that fire for this request in this phase.

        Latency (phase `before` only) adds up; the first terminal fault wins and later ones
        are not consumed.
        """
        latency = 0.0
        terminal: Fault | None = None
        fired: list[int] = []
        for armed in list(self._armed):
            fault = armed.fault
            is_latency = fault.kind == "latency"
            if is_latency and phase != "before":
                continue
            if not is_latency and (fault.phase != phase or terminal is not None):
                continue
            if not fault.matches(method, path):
                continue
            if fault.fraction < 1.0 and self._random.random() >= fault.fraction:
                continue
            self._consume(armed)
            fired.append(armed.id)
            if is_latency:
                latency += fault.delay
            else:
                terminal = fault
        return Firing(latency=latency, terminal=terminal, fired=tuple(fired))

    def _consume(self, armed: _Armed) -> None:
        armed.fired += 1
        if armed.remaining is not None:
            armed.remaining -= 1
            if armed.remaining <= 0:
                self._armed.remove(armed)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"id": a.id, **asdict(a.fault), "remaining": a.remaining, "fired": a.fired}
            for a in self._armed
        ]
