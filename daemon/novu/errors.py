"""The Novu client's own exceptions. Messages are built from parsed, scrubbed fields only.

Nothing here ever holds a response body, a header or a credential: a server's error text
is the ErrorDto `message` alone, cut to 256 characters, with the API key redacted.
"""

from __future__ import annotations

MESSAGE_LIMIT = 256


class NovuError(Exception):
    """Base of every failure talking to Novu. `attempts` counts the HTTP requests sent."""

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class NovuApiError(NovuError):
    """Novu answered with an error status that is not worth retrying (or was retried out)."""

    def __init__(self, call: str, status: int, message: str, *, attempts: int = 0) -> None:
        self.call = call
        self.status = status
        self.message = message[:MESSAGE_LIMIT]
        text = f"Novu {call} failed: HTTP {status}"
        if self.message:
            text += f": {self.message}"
        super().__init__(text, attempts=attempts)


class NovuAuthError(NovuApiError):
    """401/403: the API key is wrong, revoked, or not allowed to touch this integration."""


class NovuNotFound(NovuApiError):  # noqa: N818 - the name others code against
    """404: no such integration (or route) in the key's environment."""


class NovuUnavailable(NovuError):  # noqa: N818 - the name others code against
    """Retries or the call's time bound ran out; the last failure is the cause."""

    def __init__(
        self, call: str, message: str, *, last_status: int | None = None, attempts: int = 0
    ) -> None:
        self.call = call
        self.last_status = last_status
        super().__init__(f"Novu {call} unavailable: {message}", attempts=attempts)


class NovuProtocolError(NovuError):
    """A success status with a body the client cannot use (not JSON, wrong shape)."""

    def __init__(self, call: str, message: str, *, attempts: int = 0) -> None:
        self.call = call
        super().__init__(f"Novu {call} returned an unexpected body: {message}", attempts=attempts)
