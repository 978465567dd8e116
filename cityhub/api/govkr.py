"""The data.go.kr-style open API (issue 19 item 5; ``cityhub.opendata.govkr``):
``GET /data/api/{type}?serviceKey=...&pageNo=1&numOfRows=10&resultType=json``.

The guard lets these paths through (``api/guard.py``: open), because this API answers every
error in its own shape: the route itself asks access control about the ``serviceKey`` (as an
``ApiKey`` credential of the tenant) and spends the caller's quota, the public's per address,
as the guard does for the other open data routes.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.access.control import AccessControl
from cityhub.api import negotiation as neg
from cityhub.api.publishing import publishing_of
from cityhub.api.routing import Route
from cityhub.errors import (
    BadRequestData,
    CityhubError,
    Forbidden,
    NonexistentTenant,
    ResourceNotFound,
    TooManyRequests,
    Unauthorized,
)
from cityhub.opendata.govkr import RESULT_CODES, document, item, to_xml
from cityhub.store.base import EntityQuery

_PARAMS = ("serviceKey", "pageNo", "numOfRows", "resultType", "_type")


def _answer(doc: dict[str, Any], xml: bool, status: int = 200) -> Response:
    if xml:
        return Response(to_xml(doc), status_code=status, media_type="application/xml")
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


def _error(code: str, detail: str, xml: bool, headers: dict[str, str] | None = None) -> Response:
    response = _answer(document(code, detail=detail), xml, RESULT_CODES[code][1])
    response.headers.update(headers or {})
    return response


def _number(params: Any, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not low <= int(raw) <= high:
        raise BadRequestData(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def _code_of(exc: CityhubError) -> str:
    if isinstance(exc, TooManyRequests):
        return "22"
    if isinstance(exc, Unauthorized):
        return "31" if "expired" in exc.detail else "30"
    if isinstance(exc, Forbidden):
        return "20"
    if isinstance(exc, ResourceNotFound | NonexistentTenant):
        return "12"
    if isinstance(exc, BadRequestData):
        return "10"
    return "99"


async def get_items(request: Request) -> Response:
    params = request.query_params
    kind = params.get("resultType") or params.get("_type") or "xml"
    xml = kind != "json"
    try:
        if kind not in ("xml", "json"):
            raise BadRequestData(f"resultType must be xml or json, got {kind!r}")
        for name in params:
            if name not in _PARAMS:
                raise BadRequestData(
                    f"unknown parameter {name!r}: this API takes {', '.join(_PARAMS)}"
                )
        tenant = neg.tenant_of(request)
        control: AccessControl = request.app.state.access
        key = params.get("serviceKey")
        access = await control.authorize(tenant, f"ApiKey {key}" if key else None)
        if access.enforced and not access.admin and control.quotas.active(access.settings):
            caller = access.who.name
            if not access.who.authenticated:
                caller = f"anonymous@{(request.scope.get('client') or ('?', 0))[0]}"
            control.quotas.spend(caller, access.settings)
        settings = request.app.state.settings
        page = _number(params, "pageNo", 1, 1, 10**6)
        rows = _number(params, "numOfRows", 10, 1, settings.max_limit)
        publication = await publishing_of(request).publication(tenant, request.path_params["type"])
        result = await request.app.state.store.query_entities(
            tenant,
            EntityQuery(
                types=(publication.type,), limit=rows, offset=(page - 1) * rows, count=True
            ),
        )
    except TooManyRequests as exc:
        return _error("22", exc.detail, xml, {"Retry-After": str(exc.retry_after)})
    except CityhubError as exc:
        return _error(_code_of(exc), exc.detail, xml)
    items = [item(e, publication) for e in result.entities]
    total = result.count or 0
    code = "00" if items else "03"
    return _answer(document(code, items, page, rows, total), xml)


routes = [Route("/data/api/{type}", get_items, methods=["GET"])]

__all__ = ["routes"]
