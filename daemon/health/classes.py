"""Failure classes: is a failed delivery or probe something a failover can fix?

`recipient` (a bad, blocked or unsubscribed address or number) fails through every
provider, so it never counts toward `down` by default; `credentials` (401/403, a revoked
key), `quota` (429, sending limits) and `outage` (5xx, timeouts, connection errors) are the
provider's and do; `unknown` counts too, so an unfamiliar provider's outage still trips.

Pure: patterns are matched on what Novu recorded (`errorId`, `errorText`) or what a probe
saw (an HTTP status, a transport reason). User patterns from rules.yaml come first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from daemon.model import DEFAULT_DOWN_CLASSES, FailureClass, Observation


@dataclass(frozen=True, slots=True)
class ClassPattern:
    """A case-insensitive regular expression over `errorId` and `errorText`; `providers`
    limits it to some Novu providerIds (empty: any provider)."""

    failure_class: FailureClass
    pattern: re.Pattern[str]
    providers: frozenset[str] = frozenset()

    def matches(self, provider_id: str | None, text: str) -> bool:
        if self.providers and provider_id not in self.providers:
            return False
        return self.pattern.search(text) is not None


def pattern(failure_class: FailureClass, regex: str, providers: Iterable[str] = ()) -> ClassPattern:
    return ClassPattern(failure_class, re.compile(regex, re.IGNORECASE), frozenset(providers))


# Provider texts as Novu records them in errorText (the provider SDK's message, often with
# the HTTP status or the provider's own error code). Order matters: the first match wins,
# so the specific recipient and credential texts come before generic status codes.
BUILTIN_PATTERNS: tuple[ClassPattern, ...] = (
    # --- recipient: the address or number, not the provider ---
    # Twilio: 21211 invalid 'To', 21610 unsubscribed, 21612/21408/21606/21614 unreachable
    pattern("recipient", r"\b2(1211|1614|1610|1612|1408|1606)\b", ["twilio"]),
    pattern(
        "recipient",
        r"is not a valid phone number|not a mobile number|unsubscribed recipient"
        r"|has unsubscribed|invalid ['\"]?to['\"]? (phone )?number|invalid destination"
        r"|non-?whitelisted destination",
    ),
    pattern(
        "recipient",
        r"does not contain a valid address|invalid email|malformed address"
        r"|suppression list|suppressed address|bounced address|blocked address"
        r"|recipient (address )?rejected|mailbox (unavailable|does not exist)",
    ),
    pattern("recipient", r"marked as inactive|InvalidEmailRequest|ErrorCode 406", ["postmark"]),
    pattern("recipient", r"Email address is not verified", ["ses"]),
    pattern("recipient", r"'to' parameter is not a valid", ["mailgun"]),
    pattern(
        "recipient", r"number barred|illegal number|\bstatus\W+(7|15|29)\b", ["nexmo", "vonage"]
    ),
    pattern("recipient", r"\b4040[0-2]\b|recipient .*not (valid|allowed)", ["sinch"]),
    pattern("recipient", r"invalid (dst|destination) number", ["plivo"]),
    # --- credentials: revoked, expired or wrong keys; unverified senders ---
    pattern(
        "credentials",
        r"authorization grant is invalid, expired, or revoked|\binvalid api key\b"
        r"|api key (is )?(invalid|expired|revoked|disabled)|\b20003\b|authenticate"
        r"|authentication (failed|error)|bad credentials|invalid credentials"
        r"|valid server token|account token",
    ),
    pattern(
        "credentials",
        r"InvalidClientTokenId|SignatureDoesNotMatch|UnrecognizedClient|AccessDenied"
        r"|security token .* (invalid|expired)|\bforbidden\b|\bunauthori[sz]ed\b"
        r"|permission denied|not authori[sz]ed|account (suspended|disabled|deactivated)",
    ),
    pattern(
        "credentials",
        r"domain (is )?not verified|sender (identity )?not verified|unverified sender",
    ),
    pattern("credentials", r"\b(401|403)\b"),
    # --- quota: rate and sending limits, an empty balance ---
    pattern(
        "quota",
        r"too many requests|rate limit|throttl|quota|sending limit|daily limit"
        r"|exceeded .*limit|\b20429\b|\b14107\b|insufficient (funds|balance|credit)"
        r"|out of credit|\b429\b",
    ),
    pattern("quota", r"\bstatus\W+(1|9)\b", ["nexmo", "vonage"]),
    pattern("outage", r"\bstatus\W+5\b|internal error", ["nexmo", "vonage"]),
    # --- outage: the provider is down or unreachable ---
    pattern(
        "outage",
        r"\b5\d\d\b|service unavailable|internal server error|bad gateway"
        r"|gateway time-?out|time(d)? ?out|ETIMEDOUT|ECONNRESET|ECONNREFUSED|ENOTFOUND"
        r"|EAI_AGAIN|socket hang up|connection (refused|reset|lost|failed)|network error"
        r"|temporar(il)?y unavailable|try again later",
    ),
)


def classify_text(
    provider_id: str | None,
    text: str,
    *,
    patterns: Sequence[ClassPattern] = (),
) -> FailureClass:
    """The class of an error text (`errorId` and `errorText` joined), `unknown` if none fits.

    `patterns` (the user's, from rules.yaml) are tried before the built-in ones.
    """
    for candidate in (*patterns, *BUILTIN_PATTERNS):
        if candidate.matches(provider_id, text):
            return candidate.failure_class
    return "unknown"


def classify_message(
    provider_id: str | None,
    error_id: str | None,
    error_text: str | None,
    *,
    patterns: Sequence[ClassPattern] = (),
) -> FailureClass:
    """The class of a failed Novu message."""
    text = " ".join(part for part in (error_id, error_text) if part)
    return classify_text(provider_id, text, patterns=patterns)


def classify_status(status: int) -> FailureClass:
    """The class of an unexpected HTTP status of a provider's API."""
    if status in (401, 403):
        return "credentials"
    if status == 429:
        return "quota"
    if status >= 500 or status == 408:
        return "outage"
    return "unknown"


def counted(
    observation: Observation, down_classes: frozenset[FailureClass] = DEFAULT_DOWN_CLASSES
) -> Observation:
    """The observation as health should count it: a failure of a class outside
    `down_classes` is no evidence against the provider, so it becomes inconclusive (and says so)."""
    failure_class = observation.failure_class
    if observation.ok is not False or failure_class is None or failure_class in down_classes:
        return observation
    # the note first: reasons cut long details short
    detail = f"{failure_class} failure, not counted toward down: {observation.detail}"
    return replace(observation, ok=None, detail=detail)
