"""Every server we start sets TCP_NODELAY on the connections it accepts.

Without it a small HTTP response waits for the client's delayed ACK (~40 ms on Linux
loopback): every simulator answer, and so every benchmark and demo, paid it. The proof is
the option itself, read from the server's side of a live connection (this process's file
descriptors), not a timing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from inprocess import start_daemon, stop_daemon

from daemon.sim import serve_simulation

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc"),
]

Address = tuple[str, int]


def _server_side(*, local: Address, peer: Address) -> list[socket.socket]:
    """This process's sockets whose local end is `local` and remote end is `peer`."""
    found = []
    ours: set[int] = set()  # our duplicates may reuse a listed number (listdir's own fd)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in ours:
            continue
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            duplicate = os.dup(fd)
        except OSError:
            continue
        ours.add(duplicate)
        sock = socket.socket(fileno=duplicate)
        try:
            if sock.family == socket.AF_INET and (
                sock.getsockname()[:2] == local and sock.getpeername()[:2] == peer
            ):
                found.append(sock)
                continue
        except OSError:
            pass
        sock.close()
    return found


async def _nodelay_of_accepted(host: str, port: int, path: str) -> int:
    """Open a keep-alive connection, get one answer, read TCP_NODELAY on the server's end."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 "), status
        client: Address = writer.get_extra_info("sockname")[:2]
        accepted = _server_side(local=(host, port), peer=client)
        assert len(accepted) == 1, f"found {len(accepted)} server-side sockets for {client}"
        with accepted[0] as sock:
            return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_the_simulator_sets_tcp_nodelay_on_accepted_connections() -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    try:
        assert await _nodelay_of_accepted("127.0.0.1", simulation.port, "/_sim/state") == 1
        assert (
            await _nodelay_of_accepted(
                "127.0.0.1", simulation.port, "/providers/sendgrid/api/health"
            )
            == 1
        )
    finally:
        await simulation.stop()


async def test_the_daemon_api_sets_tcp_nodelay_on_accepted_connections(tmp_path: Path) -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""\
environments:
  production: {{api_url: {simulation.url}, api_key_env: NOVU_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{{http: {{url: {simulation.providers_url}/sendgrid/api/health}}}}]
"""
    )
    running, task = await start_daemon(simulation, rules=rules, state_dir=tmp_path / "state")
    try:
        port = int(running.url.rsplit(":", 1)[1])
        assert await _nodelay_of_accepted("127.0.0.1", port, "/healthz") == 1
    finally:
        await stop_daemon(running, task)
        await simulation.stop()


async def test_a_socket_without_its_protocol_named_would_not_get_it() -> None:
    """The check above can fail: a listener built the old way (proto 0) gets no NODELAY."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(answer, sock=sock)
    try:
        port = sock.getsockname()[1]
        assert await _nodelay_of_accepted("127.0.0.1", port, "/") == 0
    finally:
        server.close()
        await server.wait_closed()
