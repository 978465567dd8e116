"""The DCAT-AP 3 catalogue of the published data (issue 19 item 3): ``/catalog.jsonld``,
``/catalog.ttl``, ``/catalog.rdf`` (``cityhub.opendata.catalog``), of the ``NGSILD-Tenant``
header's tenant; ``modified_since`` (a date-time with its zone, or a date) keeps the datasets
whose rule changed since; ``page`` (from 1) and ``pageSize`` (default 100, at most 1,000) page
the datasets (Hydra's PagedCollection says where the others are). Read by anyone, as access
control's public."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.ogcapi import base_of
from cityhub.api.publishing import publishing_of
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.opendata.catalog import Page, catalogue, modified_since

FORMATS = {
    "jsonld": ("json-ld", "application/ld+json"),
    "ttl": ("turtle", "text/turtle; charset=utf-8"),
    "rdf": ("xml", "application/rdf+xml"),
}


PARAMS = ("modified_since", "page", "pageSize")
DEFAULT_PAGE_SIZE = 100


def _whole(raw: str | None, name: str, default: int, high: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not 1 <= int(raw) <= high:
        raise BadRequestData(f"{name} must be a whole number from 1 to {high}, got {raw!r}")
    return int(raw)


async def get_catalog(request: Request, suffix: str) -> Response:
    params = request.query_params
    for name in params:
        if name not in PARAMS:
            raise BadRequestData(
                f"unknown parameter {name!r}: the catalogue takes {', '.join(PARAMS)}"
            )
    number = _whole(params.get("page"), "page", 1, 10**6)
    size = _whole(params.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE, 1000)
    tenant = neg.tenant_of(request)
    publications = await publishing_of(request).published(tenant)
    since = request.query_params.get("modified_since")
    if since is not None:
        text = since + "T00:00:00Z" if len(since) == 10 else since
        moment = parse_datetime(text, "modified_since", zone_required=True)
        publications = modified_since(publications, format_datetime(moment))
    rdf_format, media = FORMATS[suffix]
    base = base_of(request)

    def url(n: int) -> str:
        query = {k: v for k, v in params.items() if k != "page"}
        return f"{base}/catalog.{suffix}?{urlencode({**query, 'page': str(n)})}"

    graph = catalogue(base, tenant, publications, page=Page(number, size, url))
    body = graph.serialize(format=rdf_format, encoding="utf-8")
    return Response(body, media_type=media)


async def catalog_jsonld(request: Request) -> Response:
    return await get_catalog(request, "jsonld")


async def catalog_ttl(request: Request) -> Response:
    return await get_catalog(request, "ttl")


async def catalog_rdf(request: Request) -> Response:
    return await get_catalog(request, "rdf")


routes = [
    Route("/catalog.jsonld", catalog_jsonld, methods=["GET"]),
    Route("/catalog.ttl", catalog_ttl, methods=["GET"]),
    Route("/catalog.rdf", catalog_rdf, methods=["GET"]),
]

__all__ = ["routes"]
