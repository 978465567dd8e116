"""The federation's HTTP/1.1 transport (cityhub/federation/http11.py) against a scripted server
on 127.0.0.1: each way an answer's body ends, connections kept alive and given back only when
read to their end, a source that closed an idle connection, and the answers that are protocol
errors, not hangs or crashes."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from cityhub.federation.http11 import MAX_HEAD, StreamTransport

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]


class Server:
    """Answers each request with ``script(reader, writer, request) -> keep the connection``;
    counts connections and keeps the requests' raw bytes."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                if not await self.script(reader, writer, request):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answer(raw: bytes, keep: bool = True) -> Script:
    async def script(r: Any, w: asyncio.StreamWriter, request: bytes) -> bool:
        w.write(raw)
        await w.drain()
        return keep

    return script


async def get(
    transport: StreamTransport, url: str, method: str = "GET", **kw: Any
) -> tuple[int, bytes, httpx.Headers]:
    request = httpx.Request(method, url, **kw)
    response = await transport.handle_async_request(request)
    try:
        data = b"".join([c async for c in response.aiter_bytes()])
    finally:
        await response.aclose()
    return response.status_code, data, response.headers


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))  # type: ignore[arg-type]


def test_content_length_chunked_and_close_delimited_bodies() -> None:
    async def main() -> None:
        bodies = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
        ]
        async with Server(answer(b"")) as srv:
            queue = list(bodies)

            async def script(r: Any, w: asyncio.StreamWriter, request: bytes) -> bool:
                w.write(queue.pop(0))
                await w.drain()
                return True

            srv.script = script
            t = StreamTransport()
            assert (await get(t, srv.url + "/a"))[:2] == (200, b"hello")
            assert (await get(t, srv.url + "/b"))[:2] == (200, b"abcde")
            assert srv.connections == 1  # kept alive between them
            await t.aclose()
        async with Server(answer(b"HTTP/1.0 200 OK\r\n\r\nto the end", keep=False)) as srv:
            t = StreamTransport()
            assert (await get(t, srv.url))[:2] == (200, b"to the end")
            assert (await get(t, srv.url))[:2] == (200, b"to the end")
            assert srv.connections == 2  # an HTTP/1.0 answer ends with its connection
            await t.aclose()

    run(main())


def test_the_request_is_sent_as_written_with_identity_encoding() -> None:
    async def main() -> None:
        async with Server(answer(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")) as srv:
            t = StreamTransport()
            status, data, _ = await get(
                t, srv.url + "/ngsi-ld/v1/subscriptions?x=a%20b&y=1,2", "POST",
                content=b'{"a": 1}', headers={"Via": "1.1 hub", "Accept-Encoding": "gzip"},
            )  # fmt: skip
            assert (status, data) == (201, b"")
            (sent,) = srv.requests
            head, _, body = sent.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"POST /ngsi-ld/v1/subscriptions?x=a%20b&y=1,2 HTTP/1.1"
            assert b"Via: 1.1 hub" in lines and b"Accept-Encoding: identity" in lines
            assert b"Content-Length: 8" in lines and body == b'{"a": 1}'
            assert not any(line.lower().startswith(b"accept-encoding: gzip") for line in lines)
            await t.aclose()

    run(main())


def test_a_compressed_answer_is_decoded_and_no_body_answers_have_none() -> None:
    async def main() -> None:
        packed = gzip.compress(b'[{"id": "urn:a"}]')
        raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(
            packed
        )
        async with Server(answer(raw + packed)) as srv:
            t = StreamTransport()
            assert (await get(t, srv.url))[1] == b'[{"id": "urn:a"}]'
            await t.aclose()
        async with Server(
            answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        ) as srv:
            t = StreamTransport()
            assert (await get(t, srv.url, "DELETE"))[:2] == (204, b"")
            assert (await get(t, srv.url, "DELETE"))[:2] == (204, b"")
            assert srv.connections == 1
            await t.aclose()

    run(main())


def test_a_body_not_read_to_its_end_closes_its_connection() -> None:
    """What the federation does with an answer over federation_max_bytes."""

    async def main() -> None:
        big = b"x" * 200_000
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big
        async with Server(answer(raw)) as srv:
            t = StreamTransport()
            response = await t.handle_async_request(httpx.Request("GET", srv.url))
            async for _ in response.aiter_bytes():
                break
            await response.aclose()
            assert (await get(t, srv.url))[1] == big
            assert srv.connections == 2
            await t.aclose()

    run(main())


def test_a_kept_alive_connection_the_source_drops_is_replaced_for_a_get_only() -> None:
    """A source that closes a kept-alive connection when the next request arrives: a GET is
    sent again on a new connection; a POST is not (it may have been received), and says so."""

    async def main() -> None:
        served: dict[Any, int] = {}

        async def first_only(r: Any, w: asyncio.StreamWriter, request: bytes) -> bool:
            peer = w.get_extra_info("peername")
            n = served[peer] = served.get(peer, 0) + 1
            if n > 1:
                return False  # read the request, close without an answer
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
            return True

        async with Server(first_only) as srv:
            t = StreamTransport()
            assert (await get(t, srv.url))[1] == b"ok"
            assert (await get(t, srv.url))[1] == b"ok"  # dropped, then sent again
            assert srv.connections == 2 and len(srv.requests) == 3
            with pytest.raises(httpx.RemoteProtocolError):
                await get(t, srv.url, "POST", content=b"{}")
            assert len(srv.requests) == 4  # not sent twice
            await t.aclose()

    run(main())


@pytest.mark.parametrize(
    "raw",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * (MAX_HEAD + 10) + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"HTTP/1.1 200 OK\r\nContent-Length: +4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9" + b"9" * 30 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-4\r\nabcd\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x4\r\nabcd\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\n",
    ],
    ids=[
        "not-http",
        "status",
        "header",
        "length",
        "huge-head",
        "chunk",
        "short",
        "cut",
        "length-sign",
        "length-huge",
        "chunk-sign",
        "chunk-0x",
        "chunk-huge",
    ],
)
def test_a_broken_answer_is_an_httpx_error(raw: bytes) -> None:
    async def main() -> None:
        async with Server(answer(raw, keep=False)) as srv:
            t = StreamTransport()
            with pytest.raises(httpx.HTTPError):
                await get(t, srv.url)
            await t.aclose()

    run(main())


def test_a_refused_connection_and_an_unknown_scheme() -> None:
    async def main() -> None:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        t = StreamTransport()
        with pytest.raises(httpx.ConnectError):
            await get(t, f"http://127.0.0.1:{port}/")
        with pytest.raises(httpx.UnsupportedProtocol):
            await get(t, "ftp://127.0.0.1/")
        await t.aclose()

    run(main())


def test_a_timeout_closes_the_connection() -> None:
    async def main() -> None:
        async def silent(r: Any, w: asyncio.StreamWriter, request: bytes) -> bool:
            await asyncio.sleep(5)
            return False

        async with Server(silent) as srv:
            t = StreamTransport()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await get(t, srv.url)
            assert (
                t._idle.get(("http", "127.0.0.1", srv.server.sockets[0].getsockname()[1]), []) == []
            )  # type: ignore[union-attr]
            await t.aclose()

    run(main())
