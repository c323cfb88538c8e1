"""An httpx transport that records every exchange, for tests that inspect what was sent."""

from __future__ import annotations

import httpx


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to `inner` and keeps every (request, response) pair, body read."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        kept = httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )
        self.exchanges.append((request, kept))
        return kept

    @property
    def requests(self) -> list[httpx.Request]:
        return [request for request, _ in self.exchanges]
