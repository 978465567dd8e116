"""The documents of OGC API - Features Part 1 Core (OGC 17-069r4) for the published types:
the landing page (/req/core/root-success), the conformance declaration
(/req/core/conformance-success), the collections (/req/core/fc-md-success,
/req/core/sfc-md-success) and the API definition in OpenAPI 3.0 (/req/oas30). Pure: given
the base URL the links start with and the publications.
"""

from __future__ import annotations

from typing import Any

from cityhub.opendata.ogc_params import CRS84, DEFAULT_LIMIT
from cityhub.opendata.rules import Publication, core_terms

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
]
JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


def link(href: str, rel: str, media: str, title: str = "") -> dict[str, str]:
    found = {"href": href, "rel": rel, "type": media}
    if title:
        found["title"] = title
    return found


def landing(base: str, title: str) -> dict[str, Any]:
    root = f"{base}/ogcapi"
    return {
        "title": title,
        "description": "The hub's published entity types as OGC API - Features collections "
        "(issue 19; what is public is what the publishing rules say).",
        "links": [
            link(f"{root}/", "self", JSON, "this document"),
            link(f"{root}/?f=html", "alternate", HTML, "this document as HTML"),
            link(f"{root}/api", "service-desc", OPENAPI, "the API definition"),
            link(f"{root}/api?f=html", "service-doc", HTML, "the API documentation"),
            link(f"{root}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{root}/collections", "data", JSON, "the collections"),
        ],
    }


def collection(base: str, publication: Publication) -> dict[str, Any]:
    items = f"{base}/ogcapi/collections/{publication.name}/items"
    doc: dict[str, Any] = {
        "id": publication.name,
        "title": publication.title,
        "description": publication.description or f"{publication.name} entities of the hub",
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "license": publication.license,
        "attribution": publication.attribution,
        "links": [
            link(f"{base}/ogcapi/collections/{publication.name}", "self", JSON),
            link(items, "items", GEOJSON, "the features"),
            link(f"{items}?f=html", "items", HTML, "the features as HTML"),
            link(publication.license_url, "license", HTML, publication.license),
        ],
    }
    if publication.keywords:
        doc["keywords"] = list(publication.keywords)
    return doc


def collections(base: str, publications: list[Publication]) -> dict[str, Any]:
    return {
        "links": [
            link(f"{base}/ogcapi/collections", "self", JSON),
            link(f"{base}/ogcapi/collections?f=html", "alternate", HTML),
        ],
        "collections": [collection(base, p) for p in publications],
    }


def _parameter(name: str, where: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "style": "form",
        "explode": False,
        "description": text,
    }


def _responses(media: str, ref: str) -> dict[str, Any]:
    return {
        "200": {"description": "found", "content": {media: {"schema": {"$ref": ref}}}},
        "400": {"$ref": "#/components/responses/InvalidParameter"},
        "404": {"$ref": "#/components/responses/NotFound"},
    }


def openapi(
    base: str, title: str, publications: list[Publication], max_limit: int
) -> dict[str, Any]:
    """The API definition (OpenAPI 3.0.3) of the landing page, conformance, collections and
    each published collection's items with its filters."""
    terms = core_terms()
    common = {
        "limit": _parameter(
            "limit",
            "query",
            {"type": "integer", "minimum": 1, "maximum": max_limit, "default": DEFAULT_LIMIT},
            "features per page (a larger value is taken as the maximum)",
        ),
        "offset": _parameter(
            "offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "features to skip"
        ),
        "bbox": _parameter(
            "bbox",
            "query",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "west,south,east,north in CRS84: features whose geometry intersects the box",
        ),
        "datetime": _parameter(
            "datetime",
            "query",
            {"type": "string"},
            "an RFC 3339 instant or interval (start/end, .. open): features whose time lies in it",
        ),
        "f": _parameter("f", "query", {"type": "string", "enum": ["json", "html"]}, "format"),
    }
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "landing page", "operationId": "getLandingPage",
                      "responses": _responses(JSON, "#/components/schemas/any")}},
        "/conformance": {"get": {"summary": "conformance classes",
                                 "operationId": "getConformanceDeclaration",
                                 "responses": _responses(JSON, "#/components/schemas/any")}},
        "/collections": {"get": {"summary": "the collections", "operationId": "getCollections",
                                 "responses": _responses(JSON, "#/components/schemas/any")}},
    }  # fmt: skip
    for p in publications:
        filters = [
            _parameter(terms.compact(a), "query", {"type": "string"}, "equals this value")
            for a in sorted(p.attributes or ())
            if a != p.geometry_attribute
        ]
        base_path = f"/collections/{p.name}"
        paths[base_path] = {
            "get": {
                "summary": f"the {p.name} collection",
                "operationId": f"describe{p.name}Collection",
                "responses": _responses(JSON, "#/components/schemas/any"),
            }
        }
        paths[f"{base_path}/items"] = {
            "get": {
                "summary": f"{p.name} features",
                "operationId": f"get{p.name}Features",
                "parameters": [
                    {"$ref": f"#/components/parameters/{n}"}
                    for n in ("limit", "offset", "bbox", "datetime", "f")
                ]
                + filters,
                "responses": _responses(GEOJSON, "#/components/schemas/featureCollection"),
            }
        }
        paths[f"{base_path}/items/{{featureId}}"] = {
            "get": {
                "summary": f"one {p.name} feature",
                "operationId": f"get{p.name}Feature",
                "parameters": [
                    _parameter("featureId", "path", {"type": "string"}, "the entity id")
                ],
                "responses": _responses(GEOJSON, "#/components/schemas/feature"),
            }
        }
    problem = {
        "description": "ProblemDetails with OGC API's code and description",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": "OGC API - Features Part 1 Core over the hub's published types",
        },
        "servers": [{"url": f"{base}/ogcapi"}],
        "paths": paths,
        "components": {
            "parameters": common,
            "responses": {"InvalidParameter": problem, "NotFound": problem},
            "schemas": {
                "any": {"type": "object"},
                "exception": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {
                        "code": {"type": "string"},
                        "description": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
                "feature": {"type": "object", "required": ["type", "geometry", "properties"]},
                "featureCollection": {"type": "object", "required": ["type", "features"]},
            },
        },
    }


__all__ = ["CONFORMANCE", "collection", "collections", "landing", "link", "openapi"]
