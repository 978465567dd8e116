"""The one error renderer: every exception becomes an NGSI-LD ProblemDetails response."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cityhub.errors import (
    CityhubError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    ResourceNotFound,
    StoreUnavailable,
    TooManyRequests,
    Unauthorized,
)

log = logging.getLogger("cityhub")

PROBLEM_MEDIA_TYPE = "application/json"


def problem_response(exc: CityhubError, request: Request | None = None) -> Response:
    body = exc.to_problem(instance=request.url.path if request is not None else None)
    headers = {}
    if exc.status == 405 and "allow" in exc.extra:
        headers["Allow"] = str(body.pop("allow"))
    elif isinstance(exc, StoreUnavailable):  # RFC 9110 section 10.2.3
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, TooManyRequests):  # RFC 6585 section 4
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, Unauthorized):  # RFC 9110 section 11.6.1
        headers["WWW-Authenticate"] = 'Bearer realm="cityhub", ApiKey realm="cityhub"'
    if "ngsild_warning" in exc.extra:  # a context source did not answer (clause 6.3.17)
        headers["NGSILD-Warning"] = str(body.pop("ngsild_warning"))
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
            f"there is no resource at {request.url.path}; GET /ngsi-ld/v1 lists the NGSI-LD "
            "API's resources"
        )
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        err = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}"
            + (f"; it takes {allow}" if allow else ""),
            allow=allow,
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
