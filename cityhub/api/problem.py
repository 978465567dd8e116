"""The one error renderer: every exception becomes an NGSI-LD ProblemDetails response."""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.errors import (
    CityhubError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    ResourceNotFound,
)

log = logging.getLogger("cityhub")

PROBLEM_MEDIA_TYPE = "application/json"


def problem_response(exc: CityhubError, request: Request | None = None) -> Response:
    body = exc.to_problem(instance=request.url.path if request is not None else None)
    headers = {}
    if exc.status == 405 and "allow" in exc.extra:
        headers["Allow"] = str(body.pop("allow"))
    return Response(
        orjson.dumps(body), status_code=exc.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


async def handle_cityhub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CityhubError)
    return problem_response(exc, request)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err: CityhubError = ResourceNotFound(
            f"there is no resource at {request.url.path}; see the NGSI-LD API under /ngsi-ld/v1"
        )
    elif exc.status_code == 405:
        err = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}",
            allow=(exc.headers or {}).get("Allow", ""),
        )
    else:
        err = InvalidRequest(str(exc.detail))
        err.status = exc.status_code  # type: ignore[misc]
    return problem_response(err, request)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(
        InternalError(
            f"the hub failed on this request ({type(exc).__name__});"
            " it was logged. Nothing was changed."
        ),
        request,
    )


class CatchUnexpected:
    """ASGI middleware: an unexpected exception becomes a 500 ProblemDetails, logged once.

    (Starlette's own server-error handler re-raises after answering; this one does not.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise
            request = Request(scope)
            response = await handle_unexpected(request, exc)
            await response(scope, receive, send)


class StripTrailingSlash:
    """ASGI middleware: ``/ngsi-ld/v1/entities/`` is ``/ngsi-ld/v1/entities`` (clients, the ETSI
    suite among them, add the slash; a redirect would lose the body of a POST)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


#: Every URL parameter the NGSI-LD API defines (clause 6.3.20: others are InvalidRequest).
KNOWN_PARAMETERS = frozenset(
    """id idPattern type attrs pick omit q scopeQ georel geometry coordinates geoproperty
    geometryProperty lang limit offset count options format details kind datasetId deleteAll
    join joinLevel containedBy orderBy local csf timerel timeAt endTimeAt timeproperty lastN
    aggrMethods aggrPeriodDuration keep drop reload entityMap expandValues collect
    doNotCompact jsonKeys via observedAt previousValue showChanges""".split()
)


class RejectUnknownParameters:
    """ASGI middleware: an unknown URL parameter on the NGSI-LD API is a 400 InvalidRequest
    (clause 6.3.20, since v1.7.1), so a typo like ``limt=5`` is not silently ignored."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith("/ngsi-ld/")
            and scope.get("query_string")
        ):
            # the names only: values (a district's coordinates) are not decoded twice
            names = {
                unquote_plus(pair.split(b"=", 1)[0].decode("latin-1"))
                for pair in scope["query_string"].split(b"&")
                if pair
            }
            unknown = sorted(names - KNOWN_PARAMETERS)
            if unknown:
                request = Request(scope)
                response = problem_response(
                    InvalidRequest(
                        f"unknown URL parameter(s) {', '.join(unknown)}; see the NGSI-LD API "
                        "(ETSI GS CIM 009) for the parameters of this operation"
                    ),
                    request,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
