"""``/data``: the public landing page of the published datasets, in the city's language as
the control tower opens in (``dashboard_language``: Korean by default) or the other one
(``?lang=en``, ``?lang=ko``: the page links to it), with a map preview of up to
:data:`PREVIEW` features of each (``cityhub.opendata.landing``). The browser's
``Accept-Language`` does not choose: most browsers send English, whatever their reader's."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cityhub.api import negotiation as neg
from cityhub.api.ogcapi import base_of
from cityhub.api.publishing import publishing_of
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData
from cityhub.opendata.features import geometry
from cityhub.opendata.landing import frame_of, landing_page, svg_preview
from cityhub.store.base import EntityQuery

PREVIEW = 300


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang")
    if lang is not None:
        if lang not in ("ko", "en"):
            raise BadRequestData(f"lang must be ko or en, got {lang!r}")
        return lang
    language: str = request.app.state.settings.dashboard_language
    return "en" if language == "en" else "ko"


async def data_page(request: Request) -> Response:
    for name in request.query_params:
        if name != "lang":
            raise BadRequestData(f"unknown parameter {name!r}: /data takes lang")
    lang = _lang(request)
    tenant = neg.tenant_of(request)
    publications = await publishing_of(request).published(tenant)
    store = request.app.state.store
    shapes: dict[str, list[dict[str, Any]]] = {}
    for p in publications:
        if p.geometry_attribute is None:
            continue
        found = await store.query_entities(tenant, EntityQuery(types=(p.type,), limit=PREVIEW))
        shapes[p.name] = [g for g in (geometry(e, p) for e in found.entities) if g is not None]
    frame = frame_of(g for found in shapes.values() for g in found)
    previews = {name: svg_preview(found, frame) for name, found in shapes.items()}
    return HTMLResponse(landing_page(base_of(request), publications, previews, lang))


routes = [Route("/data", data_page, methods=["GET"])]

__all__ = ["routes"]
