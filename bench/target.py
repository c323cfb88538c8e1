"""A tiny, cheap HTTP/1.1 probe target (its own process, so its cost is nobody else's).

    GET  /ok[/...]          200 "ok"
    GET  /sp/...            a Statuspage summary (tests/fixtures/statuspage-summary.json)
    GET  /api/v1/query      a Prometheus answer with an empty vector
    GET  /ch/<name>         200, or 503 while <name> is marked down
    POST /_down/<name>      mark <name> down; POST /_up/<name> clears it
    GET  /_log/<name>       JSON list of the times (Unix) 503s were served for /ch/<name>
    GET  /_count            JSON {"served": n}: requests answered so far (control included)

Keep-alive, no bodies in requests. Prints `listening <port>` on stdout once it listens.

    python bench/target.py [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path

_SUMMARY = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "statuspage-summary.json"
).read_bytes()
_EMPTY_VECTOR = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
_DOWN: set[str] = set()
_FAILED_AT: dict[str, list[float]] = {}
_SERVED = [0]


def _response(status: int, body: bytes, content_type: bytes = b"text/plain") -> bytes:
    reason = {200: b"OK", 404: b"Not Found", 503: b"Service Unavailable"}[status]
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (status, reason, content_type, len(body))
    ) + body


def _answer(method: str, path: str) -> bytes:
    if path.startswith("/ok"):
        return _response(200, b"ok")
    if path.startswith("/sp/"):
        return _response(200, _SUMMARY, b"application/json")
    if path.startswith("/api/v1/query"):
        return _response(200, _EMPTY_VECTOR, b"application/json")
    if path.startswith("/ch/"):
        name = path[4:]
        if name in _DOWN:
            _FAILED_AT.setdefault(name, []).append(time.time())
            return _response(503, b"down")
        return _response(200, b"ok")
    if method == "POST" and path.startswith("/_down/"):
        _DOWN.add(path[7:])
        return _response(200, b"down")
    if method == "POST" and path.startswith("/_up/"):
        _DOWN.discard(path[5:])
        return _response(200, b"up")
    if path.startswith("/_log/"):
        body = json.dumps(_FAILED_AT.get(path[6:], [])).encode()
        return _response(200, body, b"application/json")
    if path == "/_count":
        return _response(200, json.dumps({"served": _SERVED[0]}).encode(), b"application/json")
    return _response(404, b"no such path")


class _Http(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            _SERVED[0] += 1
            assert self._transport is not None
            self._transport.write(_answer(method, path.split("?", 1)[0]))


async def _serve(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    server = await asyncio.get_running_loop().create_server(_Http, sock=sock)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
