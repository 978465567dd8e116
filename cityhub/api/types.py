"""``/types`` and ``/attributes``: what the hub holds (clauses 5.7.5-5.7.10, HTTP 6.25-6.28)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.names import check_name

BASE = "/ngsi-ld/v1"


def _details(request: Request) -> bool:
    raw = request.query_params.get("details")
    if raw not in (None, "true", "false"):
        raise BadRequestData(f"details must be true or false, got {raw!r}")
    return raw == "true"


async def _rows(
    request: Request, type_name: str | None = None
) -> tuple[list[tuple[str, str | None, str | None]], TermMap, str]:
    """The type/attribute rows of every entity, or of those of ``type_name`` (expanded)."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    type_iri = None if type_name is None else terms.expand(type_name)
    rows = await request.app.state.store.type_attribute_rows(tenant, type_iri)
    return rows, terms, media


def _send(doc: Any, terms: TermMap, media: str) -> Response:
    if isinstance(doc, list):
        doc = [neg.with_context(d, terms, media) for d in doc]
    else:
        doc = neg.with_context(doc, terms, media)
    return neg.json_response(doc, media=media, headers=neg.context_headers(terms, media))


async def list_types(request: Request) -> Response:
    if not _details(request):  # the plain list needs the type index only, not every entity
        media = neg.accept_of(request)
        terms = await neg.query_terms(request)
        tenant = await neg.require_tenant(request)
        names = await request.app.state.store.entity_types(tenant)
        plain = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": sorted(terms.compact(t) for t in names),
        }
        return _send(plain, terms, media)
    rows, terms, media = await _rows(request)
    attrs_by_type: dict[str, set[str]] = defaultdict(set)
    for type_iri, attr, _kind in rows:
        attrs_by_type[type_iri]
        if attr:
            attrs_by_type[type_iri].add(attr)
    doc: Any = [
        {
            "id": t,
            "type": "EntityType",
            "typeName": terms.compact(t),
            "attributeNames": sorted(terms.compact(a) for a in attrs),
        }
        for t, attrs in sorted(attrs_by_type.items())
    ]
    return _send(doc, terms, media)


async def retrieve_type(request: Request) -> Response:
    name = check_name(request.path_params["type"], "entity type")
    rows, terms, media = await _rows(request, name)
    type_iri = terms.expand(name)
    kinds: dict[str, set[str]] = defaultdict(set)
    found = False
    for t, attr, kind in rows:
        if t != type_iri:
            continue
        found = True
        if attr and kind:
            kinds[attr].add(kind)
    if not found:
        raise ResourceNotFound(f"there are no entities of type {name}")
    count = await request.app.state.store.count_by_type(neg.tenant_of(request), type_iri)
    doc = {
        "id": type_iri,
        "type": "EntityTypeInfo",
        "typeName": terms.compact(type_iri),
        "entityCount": count,
        "attributeDetails": [
            {
                "id": a,
                "type": "Attribute",
                "attributeName": terms.compact(a),
                "attributeTypes": sorted(k),
            }
            for a, k in sorted(kinds.items())
        ],
    }
    return _send(doc, terms, media)


async def list_attributes(request: Request) -> Response:
    rows, terms, media = await _rows(request)
    types_by_attr: dict[str, set[str]] = defaultdict(set)
    for t, attr, _kind in rows:
        if attr:
            types_by_attr[attr].add(t)
    if _details(request):
        doc: Any = [
            {
                "id": a,
                "type": "Attribute",
                "attributeName": terms.compact(a),
                "typeNames": sorted(terms.compact(t) for t in ts),
            }
            for a, ts in sorted(types_by_attr.items())
        ]
    else:
        doc = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": sorted(terms.compact(a) for a in types_by_attr),
        }
    return _send(doc, terms, media)


async def retrieve_attribute(request: Request) -> Response:
    rows, terms, media = await _rows(request)
    name = check_name(request.path_params["attr"], "attribute name")
    attr_iri = terms.expand(name)
    type_names: set[str] = set()
    kinds: set[str] = set()
    count = 0
    for t, attr, kind in rows:
        if attr == attr_iri:
            type_names.add(t)
            count += 1
            if kind:
                kinds.add(kind)
    if not type_names:
        raise ResourceNotFound(f"no entity has an attribute {name}")
    doc = {
        "id": attr_iri,
        "type": "Attribute",
        "attributeName": terms.compact(attr_iri),
        "attributeCount": count,
        "attributeTypes": sorted(kinds),
        "typeNames": sorted(terms.compact(t) for t in type_names),
    }
    return _send(doc, terms, media)


routes = [
    Route(BASE + "/types", list_types, methods=["GET"]),
    Route(BASE + "/types/{type:path}", retrieve_type, methods=["GET"]),
    Route(BASE + "/attributes", list_attributes, methods=["GET"]),
    Route(BASE + "/attributes/{attr:path}", retrieve_attribute, methods=["GET"]),
]
