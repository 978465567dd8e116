"""The HTTP/1.1 client the federation asks context sources with: an ``httpx`` transport over
plain asyncio streams, kept-alive connections per origin.

Why not httpx's own transport: a distributed query makes one exchange per source, and
``httpx.AsyncHTTPTransport`` (httpcore, h11, anyio) spends about 1.0-1.2 ms of the hub's CPU
on one of them (a 70 KB answer of 100 entities, measured on loopback), this one about 0.2 ms:
a sixth of what a federated query costs the hub beyond the local one. It keeps the httpx
request and response types, so the federation, its tests' ``httpx.MockTransport`` and the IoT
agent's in-process transport are unchanged.

What it does and does not do, deliberately small:

- HTTP/1.1 only (``http`` and ``https``, certificates verified), no proxies (the federation
  never used the environment's), no redirects (the federation follows none), no cookies;
- requests carry ``Content-Length`` (the federation's bodies are bytes); answers are read by
  ``Content-Length``, ``Transfer-Encoding: chunked`` or to the connection's end, and streamed
  to the caller, which stops reading past its own limit (``federation_max_bytes``): a
  connection whose answer was not read to its end is closed, never reused;
- a status line or header block larger than :data:`MAX_HEAD` bytes, a malformed one or a
  bad chunk is an ``httpx.RemoteProtocolError``; a refused connection an
  ``httpx.ConnectError``; the caller's timeout cancels the exchange and closes its connection;
- ``Accept-Encoding: identity`` is asked (a source that compresses anyway is decoded by
  httpx's response, gzip and deflate);
- a kept-alive connection the source closed while idle is noticed before reuse, or, when a
  request that may be repeated (GET, HEAD, PUT, DELETE, OPTIONS) finds it closed before any
  answer, the request is sent again once on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from typing import Final

import httpx

#: the largest status line and header block read (more is a protocol error)
MAX_HEAD: Final = 65_536
#: a kept-alive connection idle longer than this is closed rather than reused (uvicorn, for
#: one, closes them after 5 s)
MAX_IDLE: Final = 4.0
_REPEATABLE: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_CHUNK: Final = 65_536
#: the digits of a chunk size
_HEX: Final = b"0123456789abcdefABCDEF"
_Origin = tuple[str, str, int]


class _Connection:
    __slots__ = ("reader", "writer", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    def usable(self) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and time.monotonic() - self.idle_since < MAX_IDLE
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Stale(Exception):
    """A reused connection was closed by the source before it answered."""


class StreamTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams (see the module docstring).

    Args:
        max_idle_per_origin: kept-alive connections kept per origin.
        ssl_context: for ``https`` (None: the system's trusted certificates, verified).
    """

    def __init__(
        self, max_idle_per_origin: int = 32, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._max_idle = max_idle_per_origin
        self._ssl = ssl_context
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"{scheme!r} is not http or https", request=request)
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        head = _head(request)
        content = request.content
        conn = self._checkout(origin)
        if conn is not None:
            try:
                return await self._exchange(origin, conn, request, head, content, reused=True)
            except _Stale:
                if request.method not in _REPEATABLE:
                    raise httpx.RemoteProtocolError(
                        "the source closed the connection before answering", request=request
                    ) from None
        conn = await self._connect(origin, request)
        try:
            return await self._exchange(origin, conn, request, head, content, reused=False)
        except _Stale:
            raise httpx.RemoteProtocolError(
                "the source closed the connection without answering", request=request
            ) from None

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    # ---- connections ---------------------------------------------------------------------

    def _checkout(self, origin: _Origin) -> _Connection | None:
        conns = self._idle.get(origin)
        while conns:
            conn = conns.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def _checkin(self, origin: _Origin, conn: _Connection) -> None:
        conns = self._idle.setdefault(origin, [])
        if self._closed or len(conns) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    async def _connect(self, origin: _Origin, request: httpx.Request) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=host if context else None, limit=MAX_HEAD
            )
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return _Connection(reader, writer)

    # ---- one exchange --------------------------------------------------------------------

    async def _exchange(
        self,
        origin: _Origin,
        conn: _Connection,
        request: httpx.Request,
        head: bytes,
        content: bytes,
        *,
        reused: bool,
    ) -> httpx.Response:
        done = False
        try:
            try:
                conn.writer.write(head + content if len(content) < _CHUNK else head)
                if len(content) >= _CHUNK:
                    conn.writer.write(content)
                await conn.writer.drain()
                raw = await conn.reader.readuntil(b"\r\n\r\n")
                while raw[9:10] == b"1" and raw[9:12] != b"101":  # 1xx: the answer follows
                    raw = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Stale from exc
                raise httpx.RemoteProtocolError(
                    "the answer's head ended early", request=request
                ) from exc
            except (ConnectionError, BrokenPipeError) as exc:
                if reused:
                    raise _Stale from exc
                raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
            except asyncio.LimitOverrunError as exc:
                raise httpx.RemoteProtocolError(
                    f"the answer's head is larger than {MAX_HEAD} bytes", request=request
                ) from exc
            status, headers, keep_alive = _parse_head(raw, request)
            body = _Body(self, origin, conn, request, status, headers, keep_alive)
            done = True
            return httpx.Response(status, headers=headers, stream=body, request=request)
        finally:
            if not done:
                conn.close()


class _Body(httpx.AsyncByteStream):
    """A response body read from its connection as the caller iterates; the connection goes
    back to the pool once read to its end, and is closed otherwise."""

    def __init__(
        self,
        transport: StreamTransport,
        origin: _Origin,
        conn: _Connection,
        request: httpx.Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._conn: _Connection | None = conn
        self._request = request
        self._keep_alive = keep_alive
        self._length: int | None = None
        self._chunked = False
        names = {k.lower(): v for k, v in headers}
        if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._length = 0
        elif b"chunked" in names.get(b"transfer-encoding", b"").lower():
            self._chunked = True
        elif b"content-length" in names:
            length = names[b"content-length"].strip()
            # RFC 9110 section 8.6: 1*DIGIT (no sign, no underscores)
            if not 0 < len(length) <= 18 or not length.isdigit():
                raise httpx.RemoteProtocolError("a bad Content-Length", request=request)
            self._length = int(length)
        else:
            self._keep_alive = False  # the body ends with the connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        reader = conn.reader
        try:
            if self._chunked:
                async for chunk in self._chunks(reader):
                    yield chunk
            elif self._length is not None:
                left = self._length
                while left > 0:
                    data = await reader.read(min(left, _CHUNK))
                    if not data:
                        raise httpx.RemoteProtocolError(
                            "the answer ended before its Content-Length", request=self._request
                        )
                    left -= len(data)
                    yield data
            else:
                while data := await reader.read(_CHUNK):
                    yield data
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self._drop()
            raise httpx.ReadError(f"{type(exc).__name__}", request=self._request) from exc
        except BaseException:  # a protocol error, the caller's timeout: never reused
            self._drop()
            raise
        self._conn = None
        if self._keep_alive:
            self._transport._checkin(self._origin, conn)
        else:
            conn.close()

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await reader.readuntil(b"\r\n")
            size_text = line.split(b";", 1)[0].strip()
            # RFC 9112 section 7.1: 1*HEXDIG (Python's int() would also take a sign, "0x" and
            # underscores); at most 16 digits, a size no answer can have beyond
            if not 0 < len(size_text) <= 16 or size_text.strip(_HEX):
                raise httpx.RemoteProtocolError("a bad chunk size", request=self._request)
            size = int(size_text, 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return
            left = size
            while left > 0:
                data = await reader.read(min(left, _CHUNK))
                if not data:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(data)
                yield data
            if await reader.readexactly(2) != b"\r\n":
                raise httpx.RemoteProtocolError("a chunk without its CRLF", request=self._request)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        self._drop()  # not read to its end (or already given back): never reused


def _head(request: httpx.Request) -> bytes:
    """The request line and headers; Accept-Encoding identity, Connection keep-alive."""
    target = request.url.raw_path or b"/"
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower in (b"accept-encoding", b"connection", b"transfer-encoding"):
            continue
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise httpx.LocalProtocolError("a header with a line break", request=request)
        lines.append(name + b": " + value)
    lines.append(b"Accept-Encoding: identity")
    if request.content and b"content-length" not in (n.lower() for n, _ in request.headers.raw):
        lines.append(b"Content-Length: " + str(len(request.content)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _parse_head(raw: bytes, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bool]:
    """Status, headers and whether the connection stays open, from the answer's head."""
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError("not an HTTP/1.x status line", request=request)
    status = int(parts[1])
    if not 100 <= status <= 999:
        raise httpx.RemoteProtocolError("a bad status code", request=request)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise httpx.RemoteProtocolError("a malformed header line", request=request)
        headers.append((name, value.strip()))
    connection = b",".join(v for k, v in headers if k.lower() == b"connection").lower()
    keep_alive = parts[0] == b"HTTP/1.1" and b"close" not in connection
    return status, headers, keep_alive


__all__ = ["MAX_HEAD", "MAX_IDLE", "StreamTransport"]
