"""Real HTTP servers on 127.0.0.1 for the signal probe tests.

uvicorn runs in a thread with its own event loop, so one server can serve a whole test
module (starting one per test costs ~0.2s of shutdown each) and a stalled handler can never
block the test's own loop.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handling to pytest (and uvicorn may not install them off-main)."""
        yield


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve `app` on a free loopback port; yields its base URL (`http://127.0.0.1:<port>`)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="loopback-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = "the loopback server did not start"
            raise RuntimeError(msg)
        time.sleep(0.002)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        assert probe.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
    return f"http://127.0.0.1:{port}"


class Hang:
    """Handlers that stall until the server stops: `/hang[/...]` before headers, `/trickle`
    after them."""

    def __init__(self) -> None:
        self.release = threading.Event()

    async def before_headers(self, request: Request) -> Response:
        await asyncio.to_thread(self.release.wait, 10)
        return Response("late")

    async def trickle(self, request: Request) -> Response:
        """Sends a byte every 50ms until released: no single read ever times out."""

        async def drip() -> AsyncIterator[bytes]:
            while not self.release.is_set():
                yield b"."
                await asyncio.sleep(0.05)

        return StreamingResponse(drip(), media_type="text/plain")

    def routes(self) -> list[Route]:
        return [
            Route("/hang", self.before_headers),
            Route("/hang/{rest:path}", self.before_headers),
            Route("/trickle", self.trickle),
        ]


@contextmanager
def serve_routes(routes: list[Route]) -> Iterator[str]:
    """`routes` plus the stalling `/hang` and `/trickle`, served on loopback."""
    hang = Hang()
    with serve(Starlette(routes=[*routes, *hang.routes()])) as url:
        try:
            yield url
        finally:
            hang.release.set()
