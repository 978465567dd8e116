"""``/ngsi-ld/v1/entityOperations/*``.

Clauses 5.6.7-5.6.10, 5.6.20 and 5.7.2 via POST; HTTP binding 6.14-6.31.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import provision
from cityhub.api import distributed_batch
from cityhub.api import negotiation as neg
from cityhub.api.federated import ask_of, warning_headers
from cityhub.api.guard import access_of, narrowed, screen_batch
from cityhub.api.linking import render_geojson, render_with_links
from cityhub.api.params import (
    geo_query_of,
    join_of,
    options_of,
    paging_of,
    projection_of,
    split_list,
)
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, CityhubError
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import expand_entity
from cityhub.ngsild.json_limits import check_depth
from cityhub.ngsild.names import check_name, check_uri
from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.query.types import parse_type_query
from cityhub.ngsild.regex import compile_pattern
from cityhub.provision import BatchItem, BatchResult
from cityhub.store.base import EntityQuery

BASE = "/ngsi-ld/v1/entityOperations"


@dataclass
class _Batch:
    """A batch body read: each item, and each item's raw body and terms (what a context
    source is sent, cityhub.api.distributed_batch)."""

    items: list[BatchItem]
    raws: list[Any]
    terms: list[TermMap]


async def _entities(
    request: Request, *, need_type: bool = True, allow_null: bool = False
) -> _Batch:
    """The batch body: each entity validated on its own, so one bad entity is reported in the
    207 result (clause 5.6.7) instead of failing the whole request."""
    body, media = await neg.read_json(request, items=True)
    if not isinstance(body, list):
        raise BadRequestData("a batch operation's body must be a JSON array of entities")
    if not body:
        raise BadRequestData("the batch is empty")
    limit = request.app.state.settings.batch_max_entities
    if len(body) > limit:
        raise BadRequestData(
            f"the batch has {len(body)} entities; the limit is {limit} (setting batch_max_entities)"
        )
    link = neg.link_context(request)
    if media == neg.JSONLD and link is not None:
        raise BadRequestData("an application/ld+json request must not have a Link header")
    link_terms = await neg.terms_for(request, link)
    items: list[BatchItem] = []
    all_terms: list[TermMap] = []
    for raw in body:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        entity_id = raw_id if isinstance(raw_id, str) else None
        all_terms.append(link_terms)
        try:
            check_depth(raw, "the entity")
            terms = link_terms
            if media == neg.JSONLD:
                if not isinstance(raw, dict) or "@context" not in raw:
                    raise BadRequestData(
                        "in an application/ld+json batch every entity carries its @context"
                    )
                terms = await neg.terms_for(request, raw["@context"])
                all_terms[-1] = terms
            elif isinstance(raw, dict) and "@context" in raw:
                raise BadRequestData(
                    "an application/json entity must not carry @context; use a Link header "
                    "or application/ld+json"
                )
            entity = expand_entity(raw, terms, need_type=need_type, allow_null=allow_null)
        except CityhubError as exc:  # incl. LdContextNotAvailable: 207 (ETSI 043_01_04)
            items.append((entity_id, None, exc))
            continue
        items.append((entity["id"], entity, None))
    return _Batch(items, body, all_terms)


async def _distributed(
    request: Request,
    tenant: str,
    kind: str,
    read: _Batch,
    items: list[BatchItem],
    run: Callable[[list[BatchItem]], Awaitable[BatchResult]],
    *,
    created_status: bool,
    params: tuple[tuple[str, str], ...] = (),
) -> Response:
    """The batch distributed to the context sources its entities' registrations name
    (clauses 5.6.7.4-5.6.10.4, 5.6.20.4), or run here alone when none does."""
    answer = await distributed_batch.batch(
        request,
        tenant,
        kind,
        items,
        read.raws,
        read.terms,
        run,
        params=params,
        created_status=created_status,
    )
    if answer is not None:
        return answer
    return _respond(await run(items), created_status=created_status)


def _errors(result: BatchResult) -> list[dict[str, Any]]:
    return [{"entityId": entity_id, "error": exc.to_problem()} for entity_id, exc in result.errors]


def _respond(result: BatchResult, *, created_status: bool) -> Response:
    """Clause 6.14.3.1 etc.: 201 with created ids, 204 when nothing to report, 207 otherwise."""
    if result.errors:
        return neg.json_response({"success": result.success, "errors": _errors(result)}, status=207)
    if created_status and result.created:
        return neg.json_response(result.created, status=201)
    return Response(status_code=204)


async def batch_create(request: Request) -> Response:
    read = await _entities(request)
    tenant = neg.tenant_of(request)
    items = await screen_batch(request, tenant, read.items, payload=True)
    store = request.app.state.store
    return await _distributed(
        request,
        tenant,
        "create",
        read,
        items,
        lambda part: provision.batch_create(store, tenant, part),
        created_status=True,
    )


async def batch_upsert(request: Request) -> Response:
    opts = options_of(request.query_params)
    if {"update", "replace"} <= opts:
        raise BadRequestData("options update and replace exclude each other")
    read = await _entities(request)
    tenant = neg.tenant_of(request)
    items = await screen_batch(request, tenant, read.items, payload=True)
    store = request.app.state.store
    replace = "update" not in opts
    return await _distributed(
        request,
        tenant,
        "upsert",
        read,
        items,
        lambda part: provision.batch_upsert(store, tenant, part, replace=replace),
        created_status=True,
        params=() if replace else (("options", "update"),),
    )


async def batch_update(request: Request) -> Response:
    opts = options_of(request.query_params)
    read = await _entities(request, need_type=False)
    tenant = neg.tenant_of(request)
    items = await screen_batch(request, tenant, read.items, payload=False)
    store = request.app.state.store
    overwrite = "noOverwrite" not in opts
    return await _distributed(
        request,
        tenant,
        "update",
        read,
        items,
        lambda part: provision.batch_update(store, tenant, part, overwrite=overwrite),
        created_status=False,
        params=() if overwrite else (("options", "noOverwrite"),),
    )


async def batch_merge(request: Request) -> Response:
    read = await _entities(request, need_type=False, allow_null=True)
    tenant = neg.tenant_of(request)
    items = await screen_batch(request, tenant, read.items, payload=False)
    store = request.app.state.store
    return await _distributed(
        request,
        tenant,
        "merge",
        read,
        items,
        lambda part: provision.batch_merge(store, tenant, part),
        created_status=False,
    )


async def batch_delete(request: Request) -> Response:
    body, _media = await neg.read_json(request, items=True)
    if not isinstance(body, list) or not body:
        raise BadRequestData("a batch delete's body must be a non-empty JSON array of entity ids")
    items: list[BatchItem] = []
    for raw in body:
        try:
            entity_id = check_uri(raw, "entity id")
        except CityhubError as exc:
            items.append((raw if isinstance(raw, str) else None, None, exc))
            continue
        items.append((entity_id, {"id": entity_id}, None))
    tenant = await neg.require_tenant(request)
    screened = await screen_batch(request, tenant, items, payload=False)
    store = request.app.state.store
    terms = await neg.query_terms(request)
    return await _distributed(
        request,
        tenant,
        "delete",
        _Batch(items, body, [terms] * len(items)),
        screened,
        lambda part: provision.batch_delete(store, tenant, part),
        created_status=False,
    )


def _query_from_body(body: Any, terms: TermMap, request: Request) -> tuple[EntityQuery, Any]:
    """A Query data type (clause 5.2.23) → a store query."""
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('the body must be a Query object: {"type": "Query", ...}')
    ids: list[str] = []
    types: list[str] = []
    type_query: Any = None
    id_pattern = None
    for pos, sel in enumerate(body.get("entities") or []):
        if not isinstance(sel, dict):
            raise BadRequestData("entities must be an array of EntitySelector objects")
        if "id" in sel:
            ids.append(check_uri(sel["id"], "entities[].id"))
        if "idPattern" in sel:
            id_pattern = compile_pattern(sel["idPattern"], f"entities[{pos}].idPattern").pattern
        if "type" in sel:
            raw = sel["type"]
            if not isinstance(raw, str):
                raise BadRequestData("entities[].type must be a string")
            if any(c in raw for c in ";|()"):
                type_query = qast.expand_types(parse_type_query(raw), terms.expand)
            else:
                types.extend(terms.expand(check_name(t, "entity type")) for t in raw.split(","))
    attrs = body.get("attrs") or []
    if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
        raise BadRequestData("attrs must be an array of attribute names")
    q, scope_q = body.get("q"), body.get("scopeQ")
    geo_q = body.get("geoQ")
    if geo_q is not None and not isinstance(geo_q, dict):
        raise BadRequestData("geoQ must be an object with georel, geometry and coordinates")
    geo = (
        geo_query_of(
            geo_q.get("georel"),
            geo_q.get("geometry"),
            geo_q.get("coordinates"),
            geo_q.get("geoproperty"),
            terms,
        )
        if geo_q is not None
        else None
    )
    if not (ids or types or type_query or id_pattern or attrs or q or scope_q or geo):
        raise BadRequestData("a Query needs entities, attrs, q, scopeQ or geoQ")
    limit, offset, count = paging_of(request.query_params, request.app.state.settings)
    query = EntityQuery(
        ids=tuple(ids),
        id_pattern=id_pattern,
        types=tuple(types),
        type_query=type_query,
        attrs=tuple(terms.expand(check_name(a, "attribute name")) for a in attrs),
        q=qast.expand_q(parse_q(q), terms.expand) if isinstance(q, str) else None,
        scope_q=parse_scope_q(scope_q) if isinstance(scope_q, str) else None,
        geo=geo,
        limit=limit,
        offset=offset,
        count=count,
    )
    return query, attrs


async def batch_query(request: Request) -> Response:
    """Clause 5.7.2 via POST /entityOperations/query (HTTP 6.23)."""
    media = neg.accept_of(request, (neg.JSON, neg.JSONLD, neg.GEOJSON))
    body, body_media = await neg.read_json(request)
    terms = await neg.body_terms(request, body, body_media)
    tenant = await neg.require_tenant(request)
    query, attrs = _query_from_body(body, terms, request)
    query = narrowed(request, query)
    permitted = access_of(request).permitted("read")
    params = dict(request.query_params)
    if isinstance(body.get("lang"), str):
        params.setdefault("lang", body["lang"])
    proj = projection_of(params, terms, attrs=list(query.attrs) or None)
    result = await request.app.state.federation.query_entities(
        request.app.state.store,
        ask_of(request, tenant, narrowed=query.permitted is not None),
        query,
        terms,
        operation="queryBatch",
        params=request.query_params.multi_items(),
        body=body,
    )
    link_params = {k: str(body[k]) for k in ("join", "joinLevel") if k in body}
    join, level = join_of({**request.query_params, **link_params})
    geometry_property = params.get("geometryProperty")
    geometries = None
    if media == neg.GEOJSON:
        docs, geometries = await render_geojson(
            request.app.state.store,
            tenant,
            result.entities,
            terms,
            proj,
            join,
            level,
            geometry_property,
            permitted=permitted,
        )
    else:
        docs = await render_with_links(
            request.app.state.store,
            tenant,
            result.entities,
            terms,
            proj,
            join,
            level,
            permitted=permitted,
        )
    headers = warning_headers(result.warnings)
    if result.count is not None:
        headers["NGSILD-Results-Count"] = str(result.count)
    return neg.documents_response(
        docs,
        terms,
        media,
        geometry_property=geometry_property,
        geometries=geometries,
        headers=headers,
    )


routes = [
    Route(BASE + "/create", batch_create, methods=["POST"]),
    Route(BASE + "/upsert", batch_upsert, methods=["POST"]),
    Route(BASE + "/update", batch_update, methods=["POST"]),
    Route(BASE + "/merge", batch_merge, methods=["POST"]),
    Route(BASE + "/delete", batch_delete, methods=["POST"]),
    Route(BASE + "/query", batch_query, methods=["POST"]),
]

__all__ = ["routes", "split_list"]
