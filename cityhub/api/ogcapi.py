"""OGC API - Features Part 1 Core (OGC 17-069r4) under ``/ogcapi`` (issue 19): every type a
publishing rule publishes is a collection of GeoJSON features in CRS84, with the rule's
public attributes only. Nothing else appears: an unpublished type is a 404 on every route,
as if absent.

The caller is access control's public (``api/guard.py``: the ``public`` action), the tenant
the ``NGSILD-Tenant`` header's (default: the default tenant). JSON by default; HTML with
``f=html`` or an ``Accept`` that prefers ``text/html``. Errors are ProblemDetails that carry
OGC API's ``code`` and ``description``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cityhub.api import negotiation as neg
from cityhub.api.publishing import publishing_of
from cityhub.api.routing import Route
from cityhub.errors import ResourceNotFound
from cityhub.ngsild.datetime import now_iso
from cityhub.opendata import html
from cityhub.opendata.features import feature
from cityhub.opendata.ogc_documents import (
    CONFORMANCE,
    GEOJSON,
    HTML,
    JSON,
    OPENAPI,
    collection,
    collections,
    landing,
    link,
    openapi,
)
from cityhub.opendata.ogc_params import ogc_error, read_items_request
from cityhub.opendata.rules import Publication

TITLE = "cityhub open data (OGC API - Features)"


def base_of(request: Request) -> str:
    """Where clients reach the hub: ``public_url`` when set, else the request's own."""
    settings = request.app.state.settings
    if settings.public_url:
        return str(settings.public_url).rstrip("/")
    return str(request.base_url).rstrip("/")


def _media(request: Request) -> str:
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html"):
            raise ogc_error(f"f must be json or html, got {f!r}")
        return f
    accept = request.headers.get("accept", "")
    if "text/html" in accept and "json" not in accept.split("text/html")[0]:
        return "html"
    return "json"


def _only(request: Request, *names: str) -> None:
    """/req/core/query-param-unknown: a parameter this resource does not define is a 400."""
    for name in request.query_params:
        if name not in names:
            raise ogc_error(f"unknown parameter {name!r}: this resource takes {', '.join(names)}")


def _json(doc: Any, media: str = JSON) -> Response:
    return Response(orjson.dumps(doc), media_type=media)


async def _published(request: Request) -> list[Publication]:
    return await publishing_of(request).published(neg.tenant_of(request))


async def _publication(request: Request) -> Publication:
    name = request.path_params["collection_id"]
    try:
        return await publishing_of(request).publication(neg.tenant_of(request), name)
    except ResourceNotFound as exc:
        raise ResourceNotFound(exc.detail, code="NotFound", description=exc.detail) from None


async def landing_page(request: Request) -> Response:
    _only(request, "f")
    doc = landing(base_of(request), TITLE)
    if _media(request) == "html":
        return HTMLResponse(
            html.page(doc["title"], f"<p>{doc['description']}</p>" + html.links(doc["links"]))
        )
    return _json(doc)


async def conformance(request: Request) -> Response:
    _only(request, "f")
    if _media(request) == "html":
        items = "".join(f"<li>{html.text(c)}</li>" for c in CONFORMANCE)
        return HTMLResponse(html.page("Conformance", f"<ul>{items}</ul>"))
    return _json({"conformsTo": CONFORMANCE})


async def api_definition(request: Request) -> Response:
    _only(request, "f")
    doc = openapi(
        base_of(request), TITLE, await _published(request), request.app.state.settings.max_limit
    )
    if _media(request) == "html":
        rows = [(path, op["get"]["summary"]) for path, op in doc["paths"].items()]
        return HTMLResponse(html.page("API", html.table(["path", "what"], rows)))
    return _json(doc, OPENAPI)


async def list_collections(request: Request) -> Response:
    _only(request, "f")
    doc = collections(base_of(request), await _published(request))
    if _media(request) == "html":
        rows = [(c["id"], c["title"], c["license"], c["attribution"]) for c in doc["collections"]]
        body = html.table(["collection", "title", "licence", "attribution"], rows)
        items = html.links(
            link(
                f"{base_of(request)}/ogcapi/collections/{c['id']}/items?f=html",
                "items",
                HTML,
                c["id"],
            )
            for c in doc["collections"]
        )
        return HTMLResponse(html.page("Collections", body + items))
    return _json(doc)


async def describe_collection(request: Request) -> Response:
    _only(request, "f")
    doc = collection(base_of(request), await _publication(request))
    if _media(request) == "html":
        rows = [(k, v) for k, v in doc.items() if k != "links"]
        return HTMLResponse(
            html.page(doc["title"], html.table(["", ""], rows) + html.links(doc["links"]))
        )
    return _json(doc)


def _page_link(
    base: str, name: str, params: dict[str, str], offset: int, rel: str
) -> dict[str, str]:
    query = {**params, "offset": str(offset)}
    query.pop("f", None)
    return link(f"{base}/ogcapi/collections/{name}/items?{urlencode(query)}", rel, GEOJSON)


async def get_items(request: Request) -> Response:
    publication = await _publication(request)
    settings = request.app.state.settings
    params = dict(request.query_params)
    if len(params) != len(request.query_params.multi_items()):
        raise ogc_error("each parameter may be given once")
    if "f" not in params and _media(request) == "html":
        params["f"] = "html"
    items = read_items_request(params, publication, settings.max_limit)
    tenant = neg.tenant_of(request)
    result = await request.app.state.store.query_entities(tenant, items.query)
    features = [feature(e, publication) for e in result.entities]
    matched = result.count if result.count is not None else len(features)
    base = base_of(request)
    self_query = urlencode({k: v for k, v in params.items() if k != "f"})
    items_url = f"{base}/ogcapi/collections/{publication.name}/items"
    links = [
        link(f"{items_url}?{self_query}", "self", GEOJSON),
        link(f"{items_url}?{urlencode({**params, 'f': 'html'})}", "alternate", HTML),
        link(f"{base}/ogcapi/collections/{publication.name}", "collection", JSON),
    ]
    if items.offset + len(features) < matched:
        links.append(_page_link(base, publication.name, params, items.offset + items.limit, "next"))
    if items.offset > 0:
        links.append(
            _page_link(base, publication.name, params, max(0, items.offset - items.limit), "prev")
        )
    if items.media == "html":
        rows = [
            (
                f["id"],
                *(f["properties"].get(k) for k in sorted(_columns(features))),
            )
            for f in features
        ]
        body = (
            f"<p>{len(features)} of {matched} features; licence {html.text(publication.license)}"
            f"{'; ' + html.text(publication.attribution) if publication.attribution else ''}</p>"
            + html.table(["id", *sorted(_columns(features))], rows)
            + html.links(links)
        )
        return HTMLResponse(html.page(publication.title, body))
    doc = {
        "type": "FeatureCollection",
        "features": features,
        "links": links,
        "timeStamp": now_iso(),
        "numberMatched": matched,
        "numberReturned": len(features),
    }
    return _json(doc, GEOJSON)


def _columns(features: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for f in features:
        found.update(f["properties"])
    return found


async def get_item(request: Request) -> Response:
    _only(request, "f")
    publication = await _publication(request)
    feature_id = request.path_params["feature_id"]
    entity = await request.app.state.store.get_entity(neg.tenant_of(request), feature_id)
    if entity is None or publication.type not in entity.get("type", ()):
        raise ResourceNotFound(
            f"there is no feature {feature_id!r} in collection {publication.name!r}",
            code="NotFound",
            description=f"no feature {feature_id!r}",
        )
    doc = feature(entity, publication)
    base = base_of(request)
    url = f"{base}/ogcapi/collections/{publication.name}/items/{quote(feature_id, safe=':')}"
    doc["links"] = [
        link(url, "self", GEOJSON),
        link(f"{url}?f=html", "alternate", HTML),
        link(f"{base}/ogcapi/collections/{publication.name}", "collection", JSON),
    ]
    if _media(request) == "html":
        rows = [("id", doc["id"]), ("geometry", doc["geometry"]), *doc["properties"].items()]
        return HTMLResponse(
            html.page(doc["id"], html.table(["", ""], rows) + html.links(doc["links"]))
        )
    return _json(doc, GEOJSON)


routes = [
    Route("/ogcapi", landing_page, methods=["GET"]),
    Route("/ogcapi/", landing_page, methods=["GET"]),
    Route("/ogcapi/conformance", conformance, methods=["GET"]),
    Route("/ogcapi/api", api_definition, methods=["GET"]),
    Route("/ogcapi/collections", list_collections, methods=["GET"]),
    Route("/ogcapi/collections/{collection_id}", describe_collection, methods=["GET"]),
    Route("/ogcapi/collections/{collection_id}/items", get_items, methods=["GET"]),
    Route("/ogcapi/collections/{collection_id}/items/{feature_id}", get_item, methods=["GET"]),
]

__all__ = ["base_of", "routes"]
