"""Starlette's routing with less work per request (the hot path of every NGSI-LD call).

Each piece keeps Starlette's behaviour and removes work a profile of retrieve-by-id showed
(docs/performance.md, change 24):

- :class:`ApiRequest`: a Starlette ``Request`` whose ``query_params`` and ``headers`` answer
  ``get`` without an exception. Starlette's are ``Mapping`` subclasses that inherit ``get``
  from ``collections.abc``, which calls ``__getitem__`` and catches ``KeyError``; a retrieve
  asks for a dozen names it does not carry (``attrs``, ``pick``, ``join``, ``Link`` ...).
  Long query strings are parsed once per distinct text
  (:func:`cityhub.api.params.parsed_query`).
- :class:`Route`: hands its handler an :class:`ApiRequest`. Exceptions go to the app's
  exception middleware, whose handlers (ProblemDetails) are the ones Starlette's per-route
  wrapper would have used: one wrapper layer fewer per request, same answers.
- :class:`IndexedRouter`: tries only the routes whose method and first literal path segment
  fit (``GET /ngsi-ld/v1/entities/{id}`` was the twelfth of 53 regular expressions tried),
  in their original order, so the first full match is the one Starlette would pick. Anything
  else (404, lifespan) is Starlette's own code; a 405's ``Allow`` names every method of every
  route at that path (:meth:`IndexedRouter.allowed_methods`), not only the first route's. A
  path with percent-encoded octets is matched in its raw form and each parameter decoded
  once, so ``%2F`` inside an id is data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Router
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from cityhub.api.params import FastQueryParams, parsed_query
from cityhub.errors import BadRequestData

Endpoint = Callable[[Request], Awaitable[Response]]


class FastHeaders(Headers):
    """``get`` without raising: the first header of that name, as ``Headers.__getitem__``."""

    def get(self, key: str, default: Any = None) -> Any:
        wanted = key.lower().encode("latin-1")
        for name, value in self._list:
            if name == wanted:
                return value.decode("latin-1")
        return default


_NO_PARAMS = FastQueryParams()


class ApiRequest(Request):
    @property
    def query_params(self) -> QueryParams:
        params: QueryParams | None = self.__dict__.get("_query_params")
        if params is None:
            raw: bytes = self.scope.get("query_string", b"")
            if not raw:
                params = _NO_PARAMS
            else:
                params = parsed_query(raw)
            self._query_params = params
        return params

    @property
    def headers(self) -> Headers:
        headers: Headers | None = self.__dict__.get("_headers")
        if headers is None:
            headers = self._headers = FastHeaders(scope=self.scope)
        return headers


class Route(StarletteRoute):
    """A Starlette ``Route`` for an ``async def handler(request) -> Response``.

    ``refuses``: the route exists to answer 405 for its methods at its path (with a detail of
    its own), before a later route with a wider template would take them; the methods are
    then not in that path's ``Allow`` (:meth:`IndexedRouter.allowed_methods`).
    """

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        methods: Sequence[str],
        name: str | None = None,
        refuses: bool = False,
    ) -> None:
        super().__init__(path, endpoint, methods=list(methods), name=name)
        self.refuses = refuses
        self.handler = endpoint
        self.app = self._serve

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(ApiRequest(scope, receive, send))
        await response(scope, receive, send)


_METHOD_ORDER = {m: i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))}


def _segment(path: str, prefix: str) -> tuple[str, bool] | None:
    """The first path segment after ``prefix`` and whether more follows; None elsewhere."""
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    head, slash, _ = rest.partition("/")
    return head, bool(slash)


def _raw_scope(scope: Scope, raw: bytes) -> Scope:
    """The scope with its still percent-encoded path, for matching: RFC 3986 section 2.2 makes
    ``%2F`` data, not a delimiter, so an id sent as ``urn:x:a%2Fattrs%2Fb`` stays one path
    parameter (decoded by :func:`_decoded`) instead of being read as ``.../attrs/b``."""
    return {**scope, "path": raw.decode("latin-1")}


def _decoded(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in params.items():
        if isinstance(value, str):
            try:
                value = unquote(value, errors="strict")
            except UnicodeDecodeError:
                raise BadRequestData(
                    f"the URL's {name} {value!r} has percent-encoded octets that are not UTF-8 "
                    "(RFC 3987 section 3.1: encode each character as its UTF-8 octets)"
                ) from None
        out[name] = value
    return out


class IndexedRouter(Router):
    """A ``Router`` that tries, for an HTTP request, only the routes that can match it fully.

    Routes under ``prefix`` are indexed by method, by their first segment after it (when it
    is literal: ``/entities``, ``/temporal``...) and by whether their template goes on past
    it (a template that stops there matches no longer path; one that goes on, no shorter
    path). Candidates keep the order of ``routes``.
    """

    def __init__(self, routes: Sequence[BaseRoute], prefix: str, **kw: Any) -> None:
        super().__init__(routes=list(routes), **kw)
        self.prefix = prefix
        self._candidates: dict[tuple[str, str, bool], list[BaseRoute]] = {}

    def _for(self, method: str, head: str, more: bool) -> list[BaseRoute]:
        key = (method, head, more)
        found = self._candidates.get(key)
        if found is None:
            found = []
            for route in self.routes:
                if isinstance(route, StarletteRoute):
                    if route.methods is not None and method not in route.methods:
                        continue
                    template = _segment(route.path, self.prefix)
                    if template is None:
                        literal, brace, _ = route.path.partition("{")
                        if not brace or not (
                            literal.startswith(self.prefix) or self.prefix.startswith(literal)
                        ):
                            continue  # e.g. /health or /: cannot match a path under the prefix
                    else:
                        t_head, t_more = template
                        if "{" in t_head:  # not indexable: always a candidate
                            pass
                        elif t_head != head or t_more != more:
                            continue  # its literal segment differs, or it is longer/shorter
                found.append(route)
            if len(self._candidates) < 1024:  # bounded: methods are client-chosen text
                self._candidates[key] = found
        return found

    def full_match(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The first route that matches an HTTP request fully (path and method), with its
        child scope; None when there is none (or the request is not indexable)."""
        if scope["type"] != "http" or scope.get("root_path"):
            return None
        where = _segment(scope["path"], self.prefix)
        if where is None:
            return None
        raw: bytes | None = scope.get("raw_path")
        target = scope if raw is None or b"%" not in raw else _raw_scope(scope, raw)
        for route in self._for(scope["method"], *where):
            match, child_scope = route.matches(target)
            if match is Match.FULL:
                if target is not scope:
                    child_scope["path_params"] = _decoded(child_scope["path_params"])
                return route, child_scope
        return None

    def allowed_methods(self, scope: Scope) -> list[str]:
        """Every method the routes take at this request's path (the ``Allow`` of a 405, RFC
        9110 section 15.5.6): for each method, the first route whose path matches and that
        takes it decides, unless it ``refuses`` it. Starlette named only the methods of the
        first route whose path matches, and ``/entities`` is four routes."""
        raw: bytes | None = scope.get("raw_path")
        target = scope if raw is None or b"%" not in raw else _raw_scope(scope, raw)
        decided: dict[str, bool] = {}
        for route in self.routes:
            if isinstance(route, StarletteRoute) and route.methods:
                match, _ = route.matches(target)
                if match is not Match.NONE:
                    for method in route.methods:
                        decided.setdefault(method, not getattr(route, "refuses", False))
        methods = [m for m, taken in decided.items() if taken]
        return sorted(methods, key=lambda m: (_METHOD_ORDER.get(m, len(_METHOD_ORDER)), m))

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.full_match(scope)
        if found is None:
            try:
                await super().app(scope, receive, send)
            except HTTPException as exc:
                if exc.status_code != 405 or scope["type"] != "http":
                    raise
                allow = ", ".join(self.allowed_methods(scope))
                raise HTTPException(405, headers={"Allow": allow}) from None
            return
        route, child_scope = found
        scope.setdefault("router", self)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)


__all__ = ["ApiRequest", "FastHeaders", "FastQueryParams", "IndexedRouter", "Route"]
