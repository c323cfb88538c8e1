"""Novu's request limits as the simulator plays them: a token bucket and idempotency keys.

Both take `now` (epoch seconds) from the caller, so tests drive them with a FakeClock.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from enum import Enum

IDEMPOTENCY_TTL = 24 * 3600.0
MAX_IDEMPOTENCY_KEY = 255
UNLIMITED = 1_000_000


@dataclass
class TokenBucket:
    """`rate` tokens per second up to `burst`; one request costs one token."""

    rate: float
    burst: int
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_seconds(self, now: float) -> int:
        """Whole seconds until one token is back (0 when one is there now)."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


@dataclass
class RateLimiter:
    """One bucket per environment (Novu's "global" category). `limit=None` turns it off."""

    limit: float | None = 30.0
    burst: int | None = None
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.limit is not None and self.limit > 0

    @property
    def capacity(self) -> int:
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil((self.limit or 1.0) * 1.1))

    def configure(self, *, limit: float | None, burst: int | None) -> None:
        self.limit = limit
        self.burst = burst
        self._buckets.clear()

    def reset(self) -> None:
        self._buckets.clear()

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = self.limit or 1.0
            cap = self.capacity
            bucket = TokenBucket(rate=rate, burst=cap, tokens=float(cap), updated=now)
            self._buckets[key] = bucket
        return bucket

    def take(self, key: str, now: float) -> bool:
        return not self.enabled or self._bucket(key, now).take(now)

    def retry_after(self, key: str, now: float) -> int:
        return max(1, self._bucket(key, now).wait_seconds(now)) if self.enabled else 1

    def headers(self, key: str, now: float) -> dict[str, str]:
        """The RateLimit-* headers Novu puts on every response."""
        if not self.enabled:  # still numeric, so clients parsing the headers keep working
            return {
                "RateLimit-Limit": str(UNLIMITED),
                "RateLimit-Remaining": str(UNLIMITED),
                "RateLimit-Reset": "0",
                "RateLimit-Policy": f'{UNLIMITED};w=1;comment="off";category="global"',
            }
        bucket = self._bucket(key, now)
        wait = bucket.wait_seconds(now)
        limit = f"{self.limit:g}"
        return {
            "RateLimit-Limit": limit,
            "RateLimit-Remaining": str(math.floor(bucket.tokens)),
            "RateLimit-Reset": str(wait),
            "RateLimit-Policy": (
                f'{limit};w=1;burst={bucket.burst};comment="token bucket";'
                'category="global";cost="single"'
            ),
        }


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class Claim(Enum):
    NEW = "new"  # first time: go ahead, then `finish`
    IN_PROGRESS = "in_progress"  # the first request with this key is still running: 409
    MISMATCH = "mismatch"  # same key, different body: 422
    REPLAY = "replay"  # answered before: send the cached response


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    expires_at: float
    response: CachedResponse | None = None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claim: Claim
    cached: CachedResponse | None = None


@dataclass
class IdempotencyStore:
    """Responses cached per organization and key only: the path is NOT part of the key."""

    ttl: float = IDEMPOTENCY_TTL
    _entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)

    @staticmethod
    def fingerprint(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    def claim(self, organization: str, key: str, body: bytes, *, now: float) -> ClaimResult:
        self._expire(now)
        fingerprint = self.fingerprint(body)
        entry = self._entries.get((organization, key))
        if entry is None:
            self._entries[(organization, key)] = _Entry(fingerprint, now + self.ttl)
            return ClaimResult(Claim.NEW)
        if entry.response is None:
            return ClaimResult(Claim.IN_PROGRESS)
        if entry.fingerprint != fingerprint:
            return ClaimResult(Claim.MISMATCH)
        return ClaimResult(Claim.REPLAY, entry.response)

    def finish(self, organization: str, key: str, response: CachedResponse) -> None:
        entry = self._entries.get((organization, key))
        if entry is not None:
            entry.response = response

    def abandon(self, organization: str, key: str) -> None:
        """Forget a claim whose request never produced an answer (e.g. it crashed)."""
        entry = self._entries.get((organization, key))
        if entry is not None and entry.response is None:
            del self._entries[(organization, key)]

    def clear(self) -> None:
        self._entries.clear()

    def _expire(self, now: float) -> None:
        for k in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[k]

    def __len__(self) -> int:
        return len(self._entries)
