"""A raw TCP server that misbehaves on purpose, one way per path (HTTP/1.1 spoken by hand)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Behaviour = Callable[[asyncio.StreamWriter, str], Awaitable[None]]
HTML = "text/html; charset=utf-8"
BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # 200 MiB in ~200 KiB


def head(status: str, content_type: str, *extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(body: bytes, content_type: str = HTML, *extra: str) -> Behaviour:
    async def behaviour(writer: asyncio.StreamWriter, _: str) -> None:
        writer.write(head("200 OK", content_type, f"Content-Length: {len(body)}", *extra) + body)
        await writer.drain()

    return behaviour


def untyped(body: bytes) -> Behaviour:
    """`body` with no Content-Type header at all, as old servers send files."""

    async def behaviour(writer: asyncio.StreamWriter, _: str) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()

    return behaviour


async def slow_loris(writer: asyncio.StreamWriter, path: str) -> None:
    """Headers at once, then the body one byte at a time, never finishing in time."""
    writer.write(head("200 OK", HTML, "Content-Length: 100000"))
    for _ in range(10_000):
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.1)


async def never_answers(writer: asyncio.StreamWriter, _: str) -> None:
    await asyncio.sleep(3600)


async def reset_mid_body(writer: asyncio.StreamWriter, _: str) -> None:
    writer.write(head("200 OK", HTML, "Content-Length: 100000") + b"<html>" + b"x" * 5000)
    await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # SO_LINGER 0: the peer gets a RST, not a FIN


async def short_body(writer: asyncio.StreamWriter, _: str) -> None:
    writer.write(head("200 OK", HTML, "Content-Length: 1000") + b"<html>only this")
    await writer.drain()
    writer.close()


async def bad_chunks(writer: asyncio.StreamWriter, _: str) -> None:
    writer.write(head("200 OK", HTML, "Transfer-Encoding: chunked") + b"5\r\nhello\r\nzz\r\n")
    await writer.drain()
    await asyncio.sleep(0.5)
    writer.close()


async def huge_headers(writer: asyncio.StreamWriter, _: str) -> None:
    writer.write(head("200 OK", HTML, "X-Huge: " + "a" * 200_000, "Content-Length: 2") + b"hi")
    await writer.drain()


async def endless(writer: asyncio.StreamWriter, path: str) -> None:
    """A chunked body that never ends."""
    writer.write(head("200 OK", HTML, "Transfer-Encoding: chunked"))
    chunk = b"%x\r\n%s\r\n" % (65536, b"<p>" + b"y" * 65533)
    with contextlib.suppress(ConnectionError):
        for _ in range(100_000):
            writer.write(chunk)
            await writer.drain()


async def bomb(writer: asyncio.StreamWriter, _: str) -> None:
    extra = ("Content-Encoding: gzip", f"Content-Length: {len(BOMB)}")
    writer.write(head("200 OK", HTML, *extra) + BOMB)
    await writer.drain()


def binary_page() -> Behaviour:
    return respond(os.urandom(200_000) + b"\0" * 1000 + b'<a href="/x">', HTML)


def many_links(count: int) -> Behaviour:
    anchors = "".join(f'<a href="/many/{n}">{n}</a>' for n in range(count))
    return respond(f"<html><body>{anchors}</body></html>".encode())


def long_link(length: int) -> Behaviour:
    return respond(f'<a href="/long/{"a" * length}">long</a>'.encode())


def redirect_to(location: str) -> Behaviour:
    async def behaviour(writer: asyncio.StreamWriter, _: str) -> None:
        writer.write(head("302 Found", "text/plain", f"Location: {location}", "Content-Length: 0"))
        await writer.drain()

    return behaviour


@dataclass
class HostileServer:
    """Serves each path with its behaviour; everything else is an empty 404."""

    behaviours: dict[str, Behaviour]
    port: int = 0
    requests: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                path = request.split(b" ", 2)[1].decode("latin-1")
                self.requests.append(path)
                behaviour = self.behaviours.get(path) or self._prefix_behaviour(path)
                if behaviour is None:
                    writer.write(head("404 Not Found", "text/plain", "Content-Length: 0"))
                    await writer.drain()
                    continue
                await behaviour(writer, path)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            return
        finally:
            writer.close()

    def _prefix_behaviour(self, path: str) -> Behaviour | None:
        for prefix, behaviour in self.behaviours.items():
            if prefix.endswith("*") and path.startswith(prefix[:-1]):
                return behaviour
        return None


async def calendar(writer: asyncio.StreamWriter, path: str) -> None:
    """/calendar/YEAR/MONTH links to the next month, forever: no path limit catches it."""
    year, month = (int(part) for part in path.split("/")[2:4])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    await respond(f'<a href="/calendar/{year}/{month}">next</a>'.encode())(writer, path)
