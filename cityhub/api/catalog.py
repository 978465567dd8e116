"""The DCAT-AP 3 catalogue of the published data (issue 19 item 3): ``/catalog.jsonld``,
``/catalog.ttl``, ``/catalog.rdf`` (``cityhub.opendata.catalog``), of the ``NGSILD-Tenant``
header's tenant; ``modified_since`` (a date-time with its zone, or a date) keeps the datasets
whose rule changed since. Read by anyone, as access control's public."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.ogcapi import base_of
from cityhub.api.publishing import publishing_of
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.opendata.catalog import catalogue, modified_since

FORMATS = {
    "jsonld": ("json-ld", "application/ld+json"),
    "ttl": ("turtle", "text/turtle; charset=utf-8"),
    "rdf": ("xml", "application/rdf+xml"),
}


async def get_catalog(request: Request, suffix: str) -> Response:
    for name in request.query_params:
        if name != "modified_since":
            raise BadRequestData(f"unknown parameter {name!r}: the catalogue takes modified_since")
    tenant = neg.tenant_of(request)
    publications = await publishing_of(request).published(tenant)
    since = request.query_params.get("modified_since")
    if since is not None:
        text = since + "T00:00:00Z" if len(since) == 10 else since
        moment = parse_datetime(text, "modified_since", zone_required=True)
        publications = modified_since(publications, format_datetime(moment))
    rdf_format, media = FORMATS[suffix]
    graph = catalogue(base_of(request), tenant, publications)
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
