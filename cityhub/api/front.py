"""What every HTTP request meets before its route, in one ASGI layer.

:class:`ApiFront` does, in this order:

0. a URL longer than :data:`MAX_URL_BYTES` is a 414 ProblemDetails (the HTTP server refuses
   longer ones the same way before the app sees them: ``cityhub/serving.py``);
1. ``/ngsi-ld/v1/entities/`` is ``/ngsi-ld/v1/entities``: a trailing slash is dropped (clients,
   the ETSI suite among them, add it; a redirect would lose the body of a POST);
2. an unknown URL parameter on the NGSI-LD API is a 400 InvalidRequest (clause 6.3.20, since
   v1.7.1), so a typo like ``limt=5`` is not silently ignored;
3. an exception from the route becomes a response: the app's handlers by exception class
   (NGSI-LD errors and Starlette's HTTP exceptions → ProblemDetails), anything else a logged
   500 ProblemDetails (Starlette's own server-error handler re-raises after answering; this
   one does not);
4. a path with a :data:`Shortcut` (the IoT agent's measures: ``cityhub.api.iot_measures``) is
   offered to it first, and goes on to the guard and the router only if it declines; its
   errors become responses as in 3.

At start-up, a failure the hub explains itself (a :class:`~cityhub.errors.CityhubError`, such
as a store that cannot be opened) reaches the server as its one sentence, not a traceback.

:class:`Hub` is a Starlette application whose middleware stack is just that layer in front of
the router: Starlette's default stack wraps every request in five layers (server errors, the
three above, exceptions), each with its own send wrapper, and a retrieve-by-id spent about a
sixth of its time passing through them (docs/performance.md, change 25).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.access.control import AccessControl
from cityhub.api.cors import cors_layer
from cityhub.api.guard import AccessGuard, action_of
from cityhub.api.problem import handle_http_exception, handle_unexpected, problem_response
from cityhub.errors import CityhubError, InvalidRequest, UriTooLong

Handler = Callable[[Request, Exception], Awaitable[Response]]
#: A request's short road (:class:`ApiFront`): answers it and returns True, or returns False
#: having read nothing of it, and the request goes on through the guard and the router.
Shortcut = Callable[[Scope, Receive, Send], Awaitable[bool]]

#: Every URL parameter the NGSI-LD API defines (clause 6.3.20: others are InvalidRequest).
KNOWN_PARAMETERS = frozenset(
    """id idPattern type attrs pick omit q scopeQ georel geometry coordinates geoproperty
    geometryProperty lang limit offset count options format details kind datasetId deleteAll
    join joinLevel containedBy orderBy local csf timerel timeAt endTimeAt timeproperty lastN
    aggrMethods aggrPeriodDuration keep drop reload entityMap entityMapLifetime expandValues collect
    doNotCompact jsonKeys via observedAt previousValue showChanges splitEntities""".split()
)


#: The longest request target (path and query) the hub reads, in bytes: the most the HTTP
#: server's parser (httptools) can parse; ``cityhub.serving`` answers longer ones itself.
MAX_URL_BYTES = 65535


def url_too_long() -> UriTooLong:
    """The error for a request target over :data:`MAX_URL_BYTES` (RFC 9110 section 15.5.15)."""
    return UriTooLong(
        f"the URL is longer than {MAX_URL_BYTES} bytes, the most the hub reads; send a long "
        "query in the body of POST /ngsi-ld/v1/entityOperations/query (or "
        "/ngsi-ld/v1/temporal/entityOperations/query) instead"
    )


def unknown_parameters(query_string: bytes) -> list[str]:
    """The parameter names of a query string the NGSI-LD API does not define (names only:
    values, such as a district's coordinates, are not decoded here)."""
    unknown = []
    for pair in query_string.split(b"&"):
        name = pair.partition(b"=")[0].decode("latin-1")
        if name not in KNOWN_PARAMETERS and pair:
            if "%" in name or "+" in name:
                name = unquote_plus(name)
                if name in KNOWN_PARAMETERS:
                    continue
            unknown.append(name)
    return sorted(set(unknown))


class ApiFront:
    """The one middleware of the hub (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        handlers: Mapping[type[Exception], Handler],
        shortcuts: Mapping[str, Shortcut] | None = None,
    ) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.shortcuts = dict(shortcuts or {})

    def _handler(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            handler = self.handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(self.app, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        target = len(scope.get("raw_path") or path) + (len(query) + 1 if query else 0)
        if target > MAX_URL_BYTES:  # the server refuses longer ones before this (serving.py)
            await problem_response(url_too_long(), None)(scope, receive, send)
            return
        if len(path) > 1 and path[-1] == "/":
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            # the raw path keeps its percent-encoding: a trailing %2F is part of an id
            raw: bytes = scope.get("raw_path") or path.encode()
            scope["raw_path"] = raw.rstrip(b"/") or b"/"
        if query and scope["path"].startswith("/ngsi-ld/"):
            unknown = unknown_parameters(query)
            if unknown:
                response = problem_response(
                    InvalidRequest(
                        f"unknown URL parameter(s) {', '.join(unknown)}; see the NGSI-LD API "
                        "(ETSI GS CIM 009) for the parameters of this operation"
                    ),
                    Request(scope),
                )
                await response(scope, receive, send)
                return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        shortcut = self.shortcuts.get(scope["path"])
        try:
            if shortcut is None or not await shortcut(scope, receive, send_wrapper):
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise
            request = Request(scope, receive)
            handler = self._handler(exc)
            response = await (handler or handle_unexpected)(request, exc)
            await response(scope, receive, send)


async def _lifespan(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Starlette's lifespan, except that a start-up failure the hub explains itself (a
    :class:`~cityhub.errors.CityhubError`, such as a store that cannot be opened) reaches the
    server as that one sentence instead of a traceback (uvicorn logs the message it gets)."""
    held: Message | None = None

    async def send_wrapper(message: Message) -> None:
        nonlocal held
        if message["type"] == "lifespan.startup.failed":
            held = message
            return
        await send(message)

    try:
        await app(scope, receive, send_wrapper)
    except CityhubError as exc:
        if held is None:
            raise
        await send({"type": "lifespan.startup.failed", "message": exc.detail})
        raise
    except BaseException:
        if held is not None:
            await send(held)
        raise
    if held is not None:  # pragma: no cover - Starlette raises after a failed start
        await send(held)


class Hub(Starlette):
    """A Starlette application whose middleware stack is :class:`ApiFront` and the router;
    ``exception_handlers`` are keyed by exception class (Starlette's HTTP exceptions, 404
    and 405 from the router, become ProblemDetails unless they name their own).

    ``cors_origins`` (``cityhub.api.cors.parse_origins``): when given, a CORS layer goes in
    front of ApiFront, so that every answer, ProblemDetails included, carries CORS headers;
    without it there is no such layer at all.

    ``access``: access control (``cityhub.api.guard.AccessGuard`` between ApiFront and the
    router).

    ``shortcuts``: by path, a short road ApiFront tries before the guard and the router (the
    IoT agent's measures: a device's every message, on a path the guard leaves open to
    devices); errors are rendered as any route's."""

    def __init__(
        self,
        *args: Any,
        cors_origins: Sequence[str] = (),
        access: AccessControl | None = None,
        shortcuts: Mapping[str, Shortcut] | None = None,
        **kwargs: Any,
    ) -> None:
        self.cors_origins = tuple(cors_origins)
        self.access = access
        self.shortcuts = dict(shortcuts or {})
        for path in self.shortcuts:
            if action_of("POST", path) is not None or action_of("GET", path) is not None:
                raise ValueError(f"a shortcut skips access control: {path} is not an open path")
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        if self.user_middleware:
            raise TypeError("Hub takes no middleware: ApiFront is its one layer")
        handlers: dict[type[Exception], Any] = {HTTPException: handle_http_exception}
        handlers |= {
            key: value
            for key, value in self.exception_handlers.items()
            if isinstance(key, type) and issubclass(key, Exception)
        }
        inner: ASGIApp = self.router
        if self.access is not None:
            inner = AccessGuard(inner, self.access)
        front = ApiFront(inner, handlers, self.shortcuts)
        return cors_layer(front, self.cors_origins) if self.cors_origins else front


__all__ = [
    "KNOWN_PARAMETERS",
    "MAX_URL_BYTES",
    "ApiFront",
    "Hub",
    "Shortcut",
    "unknown_parameters",
    "url_too_long",
]
