"""The hub over HTTP: uvicorn, configured once for ``cityhub serve``, ``cityhub demo`` and the
worker processes.

- :func:`bind`: the listening socket, bound before the hub starts, so that a port in use or
  an address that is not this machine's is one sentence (:class:`BindError`) and nothing was
  started in vain.
- :class:`HubHttpProtocol`: uvicorn's httptools protocol, except for the requests the server
  refuses before the hub sees them. httptools parses a URL of at most 65,535 bytes (its URL
  parser keeps offsets in 16 bits), so a longer one is a 414 ProblemDetails naming that limit
  (uvicorn answers a plain-text 400), and the protocol stops collecting it there (uvicorn
  keeps appending: a URL of 32 MB held the event loop for 4.6 s). Any other request that is
  not HTTP/1.1 is a 400 ProblemDetails.
- :func:`server_config`: the uvicorn configuration of a hub (the protocol above, the
  lifespan on, no access log).
"""

from __future__ import annotations

import asyncio
import copy
import errno
import logging
import socket
from typing import Any

import orjson
import uvicorn
import uvicorn.config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cityhub.api.front import MAX_URL_BYTES, url_too_long
from cityhub.errors import CityhubError, InvalidRequest
from cityhub.settings import Settings


class BindError(Exception):
    """The listening socket could not be had; the message is one sentence for the user."""


class StartupFailed(Exception):
    """uvicorn did not start the hub (it has logged why, e.g. a store that cannot open)."""


class HubServer(uvicorn.Server):
    """uvicorn's server, saying where it listens once it does (uvicorn says it only when it
    binds the socket itself; the hub binds it first, :func:`bind`), and ending the app's
    endless responses (the dashboard's live feeds: ``app.state.before_shutdown``) when it
    shuts down, since uvicorn waits for every open response to end first."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        for fn in getattr(state, "before_shutdown", ()):
            fn()
        await super().shutdown(sockets=sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            logging.getLogger("uvicorn.error").info(
                "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", host, port
            )


async def serve(server: uvicorn.Server, sock: socket.socket) -> None:
    """``server.serve`` on ``sock``, for a task beside others: uvicorn exits the process
    (``SystemExit``) when the hub does not start, and ``SystemExit`` in an asyncio task tears
    the loop down under the other tasks ("Task exception was never retrieved"); here it is an
    ordinary exception.

    Raises:
        StartupFailed: the hub did not start.
    """
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:
        raise StartupFailed(f"the hub did not start (exit status {exc.code})") from exc


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (inheritable, for worker processes).

    Raises:
        BindError: the port is in use, the address is not this machine's, the host is
            unknown, or binding needs privileges.
    """
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise BindError(f"cannot listen on {host}:{port}: unknown host ({exc})") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            why = "the port is in use (by another program or cityhub); choose another --port"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = "the address is not one of this machine's; choose another --host"
        elif exc.errno == errno.EACCES:
            why = "no permission (ports below 1024 need privileges); choose another --port"
        else:
            why = str(exc)
        raise BindError(f"cannot listen on {host}:{port}: {why}") from exc
    sock.set_inheritable(True)
    return sock


def _problem_bytes(err: CityhubError) -> bytes:
    return orjson.dumps(err.to_problem())


#: After answering a request it refuses, the server reads (and drops) what the client still
#: sends for at most this long, or this many bytes, before it closes the connection: closing
#: with unread data makes the kernel reset the connection, and a client still sending its
#: 8 MB URL would see "connection reset" instead of the 414 (Apache's "lingering close").
LINGER_SECONDS = 2.0
LINGER_BYTES = 16 * 1024 * 1024


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ProblemDetails for the requests it refuses itself
    (see the module's docstring)."""

    _url_too_long = False
    _lingering = -1  # bytes dropped since the answer; -1: not lingering

    def data_received(self, data: bytes) -> None:
        if self._lingering < 0:
            super().data_received(data)
            return
        self._lingering += len(data)
        if self._lingering > LINGER_BYTES:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > MAX_URL_BYTES:
            self._url_too_long = True
            raise ValueError("URL too long")  # httptools stops parsing; answered below
        self.url += url

    def send_400_response(self, msg: str) -> None:
        err: CityhubError
        if self._url_too_long:
            err = url_too_long()
        else:
            err = InvalidRequest(
                "the hub could not read this request as HTTP/1.1 (a malformed request line "
                "or header)"
            )
        body = _problem_bytes(err)
        head = [f"HTTP/1.1 {err.status} {_REASONS[err.status]}\r\n".encode("ascii")]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: " + str(len(body)).encode("ascii") + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is complete: the client may stop sending
        self._lingering = 0
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)


_REASONS = {400: "Bad Request", 414: "URI Too Long"}


def run(app: Any, settings: Settings) -> None:
    """Serve ``app`` on ``settings.host``:``settings.port`` until SIGINT or SIGTERM.

    Raises:
        BindError: the port could not be had (nothing was started).
        SystemExit: uvicorn did not start the hub (status 3; it has logged why).
    """
    sock = bind(settings.host, settings.port)
    try:
        HubServer(server_config(app, settings)).run(sockets=[sock])
    finally:
        sock.close()


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration that serves ``app`` with ``settings`` (``options`` are more
    ``uvicorn.Config`` arguments). The hub's own log (the ``cityhub`` logger: a store that
    became unavailable and recovered, failed notifications...) goes where uvicorn's does, in
    its format, from ``log_level`` up."""
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["cityhub"] = {
        "handlers": ["default"],
        "level": settings.log_level.upper(),
        "propagate": False,
    }
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,
        http=HubHttpProtocol,
        lifespan="on",
        **options,
    )


__all__ = [
    "BindError",
    "HubHttpProtocol",
    "HubServer",
    "StartupFailed",
    "bind",
    "run",
    "serve",
    "server_config",
]
