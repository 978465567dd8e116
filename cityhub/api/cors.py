"""CORS for the NGSI-LD API: a web app on another origin (a company's dashboard, a citizen's
map) may call the hub from a browser when the hub lists that origin in ``cors_origins``.

Off by default (no layer at all: the answers and their cost are those without CORS). On, it
is Starlette's ``CORSMiddleware`` in front of :class:`~cityhub.api.front.ApiFront`, so that
every answer, ProblemDetails included, carries the headers a browser needs to let the page
read it, with what NGSI-LD adds to plain HTTP:

- requests may send ``Link`` (the @context), ``NGSILD-Tenant``, ``NGSILD-EntityMap`` (the
  EntityMap a page keeps to), ``Content-Type`` with
  ``application/ld+json`` or ``application/merge-patch+json`` (not "simple" to a browser, so
  preflighted) and ``Authorization`` (for a proxy in front of the hub);
- pages may read ``Location``, ``Link``, ``NGSILD-Results-Count``, ``NGSILD-Tenant``,
  ``NGSILD-Warning``, ``NGSILD-EntityMap``, ``Content-Range``, ``Retry-After`` and ``Allow``.

A preflight the hub refuses (an origin it does not list, a method or header it does not
take) is a 400 ProblemDetails that says which.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.api.problem import problem_response
from cityhub.errors import InvalidRequest

#: the methods of the NGSI-LD API
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
#: request headers a page may send besides the CORS-safelisted ones
ALLOWED_HEADERS = ("Authorization", "Link", "NGSILD-EntityMap", "NGSILD-Tenant")
#: response headers a page may read besides the CORS-safelisted ones
EXPOSED_HEADERS = (
    "Allow",
    "Content-Range",
    "Link",
    "Location",
    "NGSILD-EntityMap",
    "NGSILD-Results-Count",
    "NGSILD-Tenant",
    "NGSILD-Warning",
    "Retry-After",
)
#: seconds a browser may keep a preflight's answer
MAX_AGE = 600
_VARY_ORIGIN = (b"vary", b"Origin")


def parse_origins(text: str) -> tuple[str, ...]:
    """The origins of the ``cors_origins`` setting: comma-separated ``scheme://host[:port]``,
    or ``*`` for any origin; empty: CORS off.

    Raises:
        ValueError: an item is not an origin (a path, a trailing slash, no scheme...).
    """
    origins: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "*":
            origins.append(item)
            continue
        try:
            parts = urlsplit(item)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ValueError(
                f"setting cors_origins: {item!r} is not an origin; write scheme://host[:port] "
                "(for example https://app.city.example, no path or trailing slash) or *"
            )
        origins.append(item.lower())
    return tuple(origins)


class HubCors(CORSMiddleware):
    """Starlette's CORS layer whose refused preflights are ProblemDetails, and which leaves a
    request without ``Origin`` (curl, servers, devices: most of a hub's traffic) to a cheaper
    path: the only header such an answer needs is ``Vary: Origin`` (so that a cache does not
    hand it to a browser), appended as it leaves; Starlette's own path parses the headers of
    request and response for it, a quarter of an in-process retrieve-by-id
    (bench/front_bench.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, _ in scope["headers"]:
                if name == b"origin":
                    break
            else:

                async def vary_origin(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        message["headers"] = [*message.get("headers", ()), _VARY_ORIGIN]
                    await send(message)

                await self.app(scope, receive, vary_origin)
                return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reasons = []
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin=origin):
            reasons.append(f"the origin {origin} is not one of the hub's cors_origins")
        method = request_headers["access-control-request-method"]
        if method not in self.allow_methods:
            reasons.append(f"the method {method} is not one of {', '.join(self.allow_methods)}")
        asked = request_headers.get("access-control-request-headers") or ""
        refused = [h.strip() for h in asked.split(",") if h.strip()]
        refused = [h for h in refused if h.lower() not in self.allow_headers]
        if refused:
            reasons.append(f"the header(s) {', '.join(refused)} are not accepted")
        if "access-control-request-private-network" in request_headers:
            reasons.append("private network access is not allowed")
        problem = problem_response(
            InvalidRequest("CORS preflight refused: " + "; ".join(reasons or ["see Vary"]))
        )
        for name, value in response.headers.items():
            if name.startswith("access-control-") or name == "vary":
                problem.headers[name] = value
        return problem


def cors_layer(app: ASGIApp, origins: tuple[str, ...]) -> ASGIApp:
    """``app`` behind the CORS layer for ``origins`` (see the module's docstring)."""
    return HubCors(
        app,
        allow_origins=origins,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=MAX_AGE,
    )


__all__ = [
    "ALLOWED_HEADERS",
    "ALLOWED_METHODS",
    "EXPOSED_HEADERS",
    "HubCors",
    "cors_layer",
    "parse_origins",
]
