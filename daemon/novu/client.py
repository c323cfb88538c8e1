"""Novu's REST API, as the daemon uses it: list integrations, set-primary, activate, messages.

One `NovuClient` per configured environment, over one shared `httpx.AsyncClient`. Every call
is bounded: at most `RetryPolicy.attempts` requests and `RetryPolicy.total` seconds, waits
included. Retries (408, 409, 429, 5xx, timeouts, connection errors) back off exponentially
and honour `Retry-After`; a POST keeps the caller's idempotency key on every retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from daemon.model import ChannelView, Integration, Message
from daemon.novu import parse
from daemon.novu.errors import (
    NovuApiError,
    NovuAuthError,
    NovuError,
    NovuNotFound,
    NovuProtocolError,
    NovuUnavailable,
)

log = logging.getLogger("novu_failover.novu")

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 429})
IDEMPOTENCY_KEY_LIMIT = 255


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries: `total` bounds the whole call, Retry-After waits included."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    total: float = 20.0

    def backoff(self, failed_attempt: int) -> float:
        """The wait after the n-th failed attempt: base, 2*base, 4*base, ... up to max."""
        return float(min(self.base_delay * 2 ** (failed_attempt - 1), self.max_delay))


@dataclass(frozen=True)
class CallResult(Generic[T]):
    """A write call's value, how many requests it took, and whether Novu replayed it."""

    value: T
    attempts: int
    replayed: bool


@dataclass(frozen=True)
class _Request:
    call: str
    method: str
    path: str
    params: Mapping[str, str] | None
    json_body: Mapping[str, Any] | None
    headers: Mapping[str, str] = field(repr=False)  # holds the API key: never shown


@dataclass(frozen=True)
class _Failure:
    """A retryable failure of one attempt: last status (None for transport errors)."""

    status: int | None
    text: str
    cause: BaseException | None
    retry_after: float | None

    def with_note(self, note: str) -> _Failure:
        return _Failure(self.status, f"{self.text} ({note})", self.cause, self.retry_after)


@dataclass(frozen=True)
class _Reply:
    body: Any
    attempts: int
    replayed: bool


def _retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


class NovuClient:
    """The calls one Novu environment needs, with retries, time bounds and no secret leaks."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        environment: str,
        base_url: str,
        api_key: SecretStr,
        environment_id: str | None = None,
        retry: RetryPolicy = RetryPolicy(),  # frozen, so one shared default is safe
        timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_request: Callable[[str, str], None] | None = None,
    ) -> None:
        self._http = http
        self.environment = environment
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.environment_id = environment_id
        self.retry = retry
        self.timeout = timeout
        self._sleep = sleep
        self._on_request = on_request

    def __repr__(self) -> str:
        return f"NovuClient(environment={self.environment!r}, base_url={self.base_url!r})"

    # -- the calls -------------------------------------------------------------------------

    async def list_integrations(self, channel: str | None = None) -> list[Integration]:
        """This environment's integrations (of `channel` if given); credentials are dropped."""
        reply = await self._call("list_integrations", "GET", "/v1/integrations")
        everything = self._parsed("list_integrations", reply, parse.parse_integration_list)
        mine = self._own_environment(everything)
        return [i for i in mine if channel is None or i.channel == channel]

    async def channel_view(self, channel: str, *, now: float) -> ChannelView:
        """Novu's view of one channel of this environment, stamped with `now` (with the
        environment's other integrations in `elsewhere`, to tell a wrong channel apart)."""
        everything = await self.list_integrations()
        return ChannelView.split(self.environment, channel, everything, now=now)

    async def trigger(
        self,
        workflow: str,
        *,
        to: Mapping[str, str],
        transaction_id: str,
        idempotency_key: str,
        overrides: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> parse.TriggerAnswer:
        """`POST /v1/events/trigger`: run `workflow` for the subscriber `to`; `overrides`
        may name the integration per channel (`{"email": {"integrationIdentifier": ...}}`).
        The same `idempotency_key` goes on every retry, so a retry never sends twice."""
        if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_LIMIT:
            msg = f"an idempotency key has 1 to {IDEMPOTENCY_KEY_LIMIT} characters"
            raise ValueError(msg)
        body: dict[str, Any] = {
            "name": workflow,
            "to": dict(to),
            "transactionId": transaction_id,
            "payload": dict(payload or {}),
        }
        if overrides:
            body["overrides"] = {k: dict(v) for k, v in overrides.items()}
        reply = await self._call(
            "trigger",
            "POST",
            "/v1/events/trigger",
            json_body=body,
            idempotency_key=idempotency_key,
        )
        return self._parsed("trigger", reply, parse.parse_trigger_answer)

    async def transaction_messages(self, transaction_id: str, *, channel: str) -> list[Message]:
        """The messages of one trigger (`GET /v1/messages?transactionId=`), of `channel`."""
        params = {"channel": channel, "transactionId": transaction_id, "page": "0", "limit": "10"}
        reply = await self._call("transaction_messages", "GET", "/v1/messages", params=params)
        items, _ = self._parsed("transaction_messages", reply, parse.parse_message_page)
        messages: list[Message] = []
        for item in items:
            try:
                message = parse.parse_message(item)
            except ValueError as exc:
                log.debug("skipping a message of transaction %s: %s", transaction_id, exc)
                continue
            if message.transaction_id in (None, transaction_id):
                messages.append(message)
        return messages

    async def set_primary(
        self, integration_id: str, *, idempotency_key: str
    ) -> CallResult[Integration]:
        """Make the integration its channel's primary (Novu also activates it and erases its
        conditions). The same `idempotency_key` goes on every retry of this call."""
        if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_LIMIT:
            msg = f"an idempotency key has 1 to {IDEMPOTENCY_KEY_LIMIT} characters"
            raise ValueError(msg)
        path = f"/v1/integrations/{quote(integration_id, safe='')}/set-primary"
        reply = await self._call("set_primary", "POST", path, idempotency_key=idempotency_key)
        return self._result("set_primary", reply)

    async def activate(
        self, integration_id: str, *, idempotency_key: str | None = None
    ) -> CallResult[Integration]:
        """Activate an integration with PUT `{"active": true, "check": false}`.

        Needed when the target is already primary but inactive: set-primary then changes
        nothing, and an inactive primary receives no traffic.
        """
        path = f"/v1/integrations/{quote(integration_id, safe='')}"
        body = {"active": True, "check": False}
        reply = await self._call(
            "activate", "PUT", path, json_body=body, idempotency_key=idempotency_key
        )
        return self._result("activate", reply)

    async def recent_messages(
        self, channel: str, *, since: float, page_size: int = 100, max_pages: int = 5
    ) -> list[Message]:
        """Messages of `channel` created at or after `since`, newest first.

        Pages stop at the first page reaching back before `since`, at the last page, or
        after `max_pages`. Messages with an unreadable time are skipped.
        """
        messages: list[Message] = []
        for page in range(max_pages):
            params = {"channel": channel, "page": str(page), "limit": str(page_size)}
            reply = await self._call("recent_messages", "GET", "/v1/messages", params=params)
            items, has_more = self._parsed("recent_messages", reply, parse.parse_message_page)
            oldest = float("inf")
            for item in items:
                try:
                    message = parse.parse_message(item)
                except ValueError as exc:
                    log.debug("skipping a message of %s/%s: %s", self.environment, channel, exc)
                    continue
                oldest = min(oldest, message.created_at)
                if message.created_at >= since:
                    messages.append(message)
            if not has_more or not items or oldest < since:
                break
        messages.sort(key=lambda m: m.created_at, reverse=True)
        return messages

    # -- parsing helpers -------------------------------------------------------------------

    def _parsed(self, call: str, reply: _Reply, parser: Callable[[Any], T]) -> T:
        try:
            return parser(reply.body)
        except ValueError as exc:
            msg = str(exc)
            # from None: a parser error may hold the body (JSONDecodeError.doc), and bodies
            # can carry credentials
            raise NovuProtocolError(call, msg, attempts=reply.attempts) from None

    def _result(self, call: str, reply: _Reply) -> CallResult[Integration]:
        integration = self._parsed(
            call, reply, lambda body: parse.parse_integration(parse.unwrap(body))
        )
        return CallResult(value=integration, attempts=reply.attempts, replayed=reply.replayed)

    def _own_environment(self, integrations: list[Integration]) -> list[Integration]:
        """Keep this environment's integrations: older servers list every environment's."""
        if self.environment_id is not None:
            mine = [i for i in integrations if i.environment_id == self.environment_id]
            if integrations and not mine:
                seen = ", ".join(sorted({i.environment_id for i in integrations}))
                msg = (
                    f"none of the {len(integrations)} integrations Novu listed belong to "
                    f"environments.{self.environment}.environment_id={self.environment_id} "
                    f"(seen: {seen}); check that setting"
                )
                raise NovuError(msg)
            return mine
        seen_ids = sorted({i.environment_id for i in integrations})
        if len(seen_ids) > 1:
            msg = (
                f"Novu listed integrations of {len(seen_ids)} environments "
                f"({', '.join(seen_ids)}): this is an older server; set "
                f"environments.{self.environment}.environment_id in rules.yaml to the id of "
                "the environment this API key belongs to"
            )
            raise NovuError(msg)
        return integrations

    # -- the bounded retry loop ------------------------------------------------------------

    def _report(self, call: str, outcome: str) -> None:
        if self._on_request is not None:
            self._on_request(call, outcome)

    def _api_error(self, call: str, response: httpx.Response, attempts: int) -> NovuApiError:
        message = parse.error_message(response.content, (self._api_key.get_secret_value(),))
        status = response.status_code
        kind: type[NovuApiError] = NovuApiError
        if status in (401, 403):
            kind = NovuAuthError
        elif status == 404:
            kind = NovuNotFound
        return kind(call, status, message, attempts=attempts)

    async def _call(
        self,
        call: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> _Reply:
        """Send one logical call, retrying within the policy; return the parsed JSON body."""
        policy = self.retry
        headers = {
            "Authorization": f"ApiKey {self._api_key.get_secret_value()}",
            "Accept": "application/json",
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key  # the same on every retry
        request = _Request(call, method, path, params, json_body, headers)
        started = time.monotonic()
        waited = 0.0

        def elapsed() -> float:
            # an injected sleep may not pass real time: count its waits as time spent
            return max(time.monotonic() - started, waited)

        failure = _Failure(None, "no attempt was made", None, None)
        attempt = 0
        while attempt < policy.attempts:
            attempt += 1
            budget = max(0.001, min(self.timeout, policy.total - elapsed()))
            outcome = await self._attempt(request, budget=budget, attempt=attempt)
            if isinstance(outcome, _Reply):
                return outcome
            failure = outcome
            if attempt >= policy.attempts:
                break
            delay = policy.backoff(attempt) if failure.retry_after is None else failure.retry_after
            if delay >= policy.total - elapsed():
                failure = failure.with_note(
                    f"next try in {delay:.1f}s would pass the {policy.total:g}s bound"
                )
                break
            log.warning(
                "attempt %d/%d failed; retrying in %.1fs: %s %s -> %s",
                attempt, policy.attempts, delay, method, path, failure.text,
            )  # fmt: skip
            await self._sleep(delay)
            waited += delay
        msg = (
            f"gave up after {attempt} attempt{'s' if attempt != 1 else ''} in "
            f"{elapsed():.1f}s: {method} {path} -> {failure.text}"
        )
        log.warning("%s: %s", call, msg)
        raise NovuUnavailable(
            call, msg, last_status=failure.status, attempts=attempt
        ) from failure.cause

    async def _attempt(
        self, request: _Request, *, budget: float, attempt: int
    ) -> _Reply | _Failure:
        """One HTTP request: a reply, a retryable failure, or a raised non-retryable error."""
        call = request.call
        try:
            # asyncio.timeout too: transports such as ASGITransport ignore httpx's timeout
            async with asyncio.timeout(budget):
                response = await self._http.request(
                    request.method,
                    self.base_url + request.path,
                    params=request.params,
                    json=request.json_body,
                    headers=request.headers,
                    timeout=budget,
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._report(call, "timeout")
            return _Failure(None, f"timed out after {budget:.1f}s", exc, None)
        except httpx.TransportError as exc:  # connection refused/reset, protocol errors
            self._report(call, "error")
            return _Failure(None, type(exc).__name__, exc, None)
        except httpx.RequestError as exc:  # undecodable body, redirect loop: not transient
            self._report(call, "error")
            msg = type(exc).__name__
            raise NovuProtocolError(call, msg, attempts=attempt) from exc
        status = response.status_code
        self._report(call, str(status))
        if 200 <= status <= 299:
            return self._success(request, response, attempt)
        error = self._api_error(call, response, attempt)
        if not _retryable(status):
            raise error
        wait = parse.retry_after(response.headers.get("Retry-After"), now=time.time())
        return _Failure(status, str(status), error, wait)

    def _success(self, request: _Request, response: httpx.Response, attempt: int) -> _Reply:
        call, method, path = request.call, request.method, request.path
        replayed = response.headers.get("Idempotency-Replay", "").lower() == "true"
        if attempt > 1 or replayed:
            log.info(
                "%s %s -> %d on attempt %d%s",
                method, path, response.status_code, attempt, " (replayed)" if replayed else "",
            )  # fmt: skip
        else:
            log.debug("%s %s -> %d", method, path, response.status_code)
        try:
            body = response.json()
        except ValueError:
            msg = f"HTTP {response.status_code} with a body that is not JSON"
            raise NovuProtocolError(call, msg, attempts=attempt) from None
        return _Reply(body=body, attempts=attempt, replayed=replayed)
