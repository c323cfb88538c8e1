"""What every probe shares: the protocols, `${ENV}` expansion, a bounded fetch, safe wording.

A probe turns one request into one `Observation` and never raises for anything the far end
does. Its `detail` is built only from our own words, the URL *template* (host and path,
without user info or query) and numbers, so an expanded secret has no way into it; as a
second line of defence every expanded value is scrubbed from the detail before it leaves.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from daemon.logs import register_secret
from daemon.model import Message, Observation
from daemon.secrets import PlaceholderError, SecretError, expand_placeholders, placeholder_names

Timer = Callable[[], float]
"""A monotonic clock in seconds, for latency (injectable so tests can pin it)."""

MAX_BODY = 4 * 1024 * 1024
"""The most a probe reads of a response body; more is a failed fetch, not a memory spike."""

_MIN_SCRUB_LENGTH = 4  # shorter values are not secrets and would mangle ordinary words
_REDACTED = "***"


class Probe(Protocol):
    """One signal's active check: each call is one `Observation`, never an exception."""

    @property
    def signal(self) -> str:
        """The signal id (`Candidate.signal_ids()`)."""
        ...

    async def __call__(self, *, now: float) -> Observation: ...


class MessagesSource(Protocol):
    """Novu's recent messages of one channel, newest first (the Novu client satisfies it)."""

    async def recent_messages(
        self, channel: str, *, since: float, page_size: int = 100, max_pages: int = 5
    ) -> list[Message]: ...


class TemplateError(LookupError):
    """A URL or header template cannot be filled; the message names no value."""


class MissingVariableError(TemplateError):
    """A `${NAME}` placeholder names an environment variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set")
        self.name = name


class Expander:
    """Fills `${NAME}` placeholders from `environ` (as `daemon.secrets` does everywhere)
    and remembers what it put in, to scrub it from anything it might reach."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.values: set[str] = set()

    def __call__(self, text: str) -> str:
        try:
            names = placeholder_names(text)
        except PlaceholderError as exc:
            raise TemplateError(str(exc)) from exc
        for name in names:
            value = self._environ.get(name)
            if value is None:
                raise MissingVariableError(name)
            self.values.add(value)
            register_secret(value)  # so the log handler redacts it wherever it turns up
        try:
            return expand_placeholders(text, self._environ)
        except SecretError as exc:  # the variable vanished between the two reads
            raise TemplateError(str(exc)) from None

    def scrub(self, text: str) -> str:
        """`text` with every expanded value (longest first) replaced by `***`."""
        for value in sorted(self.values, key=len, reverse=True):
            if len(value) >= _MIN_SCRUB_LENGTH:
                text = text.replace(value, _REDACTED)
        return text


def describe_url(template: str) -> str:
    """`host[:port]/path` of a URL template: no scheme, user info, query or fragment."""
    try:
        parts = urlsplit(template)
    except ValueError:  # e.g. an unclosed IPv6 bracket: keep what is surely not a query
        rest = template.partition("://")[2].partition("?")[0].partition("#")[0]
        return rest.rpartition("@")[2] or "?"
    host = parts.netloc.rpartition("@")[2]
    return f"{host}{parts.path or '/'}"


def seconds(value: float) -> str:
    """A measured duration for a detail line: `85ms`, `2.3s`, `12.4s`, `250s`."""
    if value < 1:
        return f"{round(value * 1000)}ms"
    return f"{value:.3g}s" if value < 100 else f"{round(value)}s"


def timeout_text(value: float) -> str:
    """A configured timeout as people wrote it: `5s`, `0.2s`, `1.5s`."""
    return f"{value:g}s"


def clip(text: str, limit: int = 120) -> str:
    """Echoed remote text cut short, on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response: its status, the body if asked for, and seconds until the headers came."""

    status: int
    body: bytes
    latency: float


class FetchError(Exception):
    """The request got no HTTP answer (or an unusable one); `reason` is safe to show."""

    def __init__(self, reason: str, *, latency: float | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.latency = latency


def transport_reason(exc: BaseException, *, timeout: float) -> str:
    """A short, secret-free reason for a failed request (never the exception's own text,
    which may quote a header value or a URL with its query)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {timeout_text(timeout)}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timeout after {timeout_text(timeout)}"
    if isinstance(exc, httpx.ConnectError):
        return _connect_reason(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection or broke the protocol"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "connection lost"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "invalid URL"
    if isinstance(exc, httpx.LocalProtocolError):
        return "the request could not be sent (invalid header value?)"
    return f"request failed ({type(exc).__name__})"


_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}


def _connect_reason(exc: BaseException) -> str:
    """What the operating system said, found down the exception's chain of causes."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return "name resolution failed"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, OSError) and cause.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[cause.errno]
        cause = cause.__cause__ or cause.__context__
    return "connection failed"


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    deadline: float,
    timer: Timer,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    read_body: bool = True,
    max_body: int = MAX_BODY,
) -> Fetched:
    """One request that ends within `deadline` seconds, whole exchange included.

    httpx's timeout bounds each network operation; the outer deadline also stops a server
    that trickles bytes forever. Raises `FetchError` with a safe reason, nothing else.
    """
    start = timer()
    latency: float | None = None
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(
                method,
                url,
                headers=dict(headers or {}),
                params=dict(params) if params else None,
                timeout=httpx.Timeout(deadline),
            ) as response:
                latency = timer() - start
                wanted = read_body and method != "HEAD"
                body = await _read_body(response, limit=max_body) if wanted else b""
                return Fetched(status=response.status_code, body=body, latency=latency)
    except _BodyTooLargeError:
        reason = f"response body over {max_body // 1024} KiB"
        raise FetchError(reason, latency=latency) from None
    except Exception as exc:  # any failure of the far end is an observation, not a crash
        elapsed = latency if latency is not None else timer() - start
        # `from None` on purpose: the cause's text may quote a header value or a full URL,
        # and a chained traceback in some log would carry it.
        raise FetchError(transport_reason(exc, timeout=deadline), latency=elapsed) from None


class _BodyTooLargeError(Exception):
    pass


async def _read_body(response: httpx.Response, *, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            raise _BodyTooLargeError
    return bytes(body)


def default_timer() -> float:
    return time.perf_counter()


class WebProbe:
    """What the probes that fetch a URL over the shared client have in common."""

    def __init__(
        self,
        signal: str,
        *,
        http: httpx.AsyncClient,
        environ: Mapping[str, str],
        timer: Timer = default_timer,
    ) -> None:
        self._signal = signal
        self._http = http
        self._environ = environ
        self._timer = timer

    @property
    def signal(self) -> str:
        return self._signal
