"""``/ngsi-ld/v1/temporal/*`` routes: temporal provision (clauses 5.6.11-5.6.16) and
consumption (5.7.3-5.7.4); HTTP binding 6.18-6.22 and 6.24 (POST query).

The history itself is written by the backend in the transaction of every entity change (see
``cityhub.store.temporal``); these routes add to it, correct it, and read it through the
``TemporalStore`` on ``request.app.state.temporal``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.federated import ask_of, warning_headers
from cityhub.api.guard import access_of, narrowed, require_new
from cityhub.api.location import created as created_response
from cityhub.api.params import (
    attrs_of,
    entity_query_of,
    expand_attribute_name,
    projection_of,
    split_list,
)
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, ResourceNotFound
from cityhub.federation import Ask
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import expand_instance
from cityhub.ngsild.names import check_uri
from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.ngsild.temporal import (
    TemporalQuery,
    TemporalRepresentation,
    aggregation_query_of,
    expand_temporal_entity,
    representation_of,
    temporal_query_of,
)
from cityhub.ngsild.temporal_merge import merge_temporal, merge_temporal_lists
from cityhub.ngsild.temporal_render import (
    TemporalProjection,
    paginate,
    render_aggregated_entities,
    render_temporal_entity,
)
from cityhub.store.temporal import TemporalEntity, TemporalStore

BASE = "/ngsi-ld/v1/temporal"


def _temporal(request: Request) -> TemporalStore:
    temporal: TemporalStore = request.app.state.temporal
    return temporal


def _entity_id(request: Request) -> str:
    raw = request.path_params["entity_id"]
    sent: bytes = request.scope.get("raw_path") or raw.encode()
    # an id that ends in a literal /attrs[/...] is a mistyped attribute path; sent as %2F, data
    if ("/attrs/" in raw or raw.endswith("/attrs")) and b"/attrs" in sent:
        raise BadRequestData(f"the URL {request.url.path} names no attribute after /attrs/")
    return check_uri(raw, "entity id in the URL")


def _attr(request: Request, terms: TermMap) -> str:
    return expand_attribute_name(request.path_params["attr_id"], terms, "attribute name in the URL")


def _instance_id(request: Request) -> str:
    return check_uri(request.path_params["instance_id"], "instanceId in the URL")


def _dataset_ids(params: Mapping[str, str]) -> list[str | None] | None:
    raw = params.get("datasetId")
    if raw is None:
        return None
    return [None if d == "@none" else check_uri(d, "datasetId") for d in split_list(raw)]


def _entity_params(params: Mapping[str, str]) -> dict[str, str]:
    """The parameters the entity-query parsers know: the temporal options/format are ours."""
    out = {k: v for k, v in params.items() if k not in ("options", "format")}
    opts = {o.strip() for o in params.get("options", "").split(",")}
    if "count" in opts and "count" not in out:
        out["count"] = "true"
    return out


def _projection(
    params: Mapping[str, str], terms: TermMap, attrs: list[str] | None
) -> TemporalProjection:
    base = projection_of(_entity_params(params), terms, attrs=attrs)
    dataset_ids = _dataset_ids(params)
    return TemporalProjection(
        pick=base.pick,
        omit=base.omit or None,
        attrs=frozenset(attrs) if attrs is not None else None,
        dataset_ids=frozenset(dataset_ids) if dataset_ids is not None else None,
    )


def _render_all(
    found: list[TemporalEntity],
    terms: TermMap,
    rep: TemporalRepresentation,
    proj: TemporalProjection,
) -> list[dict[str, Any]]:
    return [render_temporal_entity(head, hist, terms, rep, proj) for head, hist in found]


# ---- provision -------------------------------------------------------------------------


async def create_or_update(request: Request) -> Response:
    """Clause 5.6.11 (POST /temporal/entities): 201 for a new entity, 204 for instances added
    to an existing one."""
    body, media = await neg.read_json(request)
    if not isinstance(body, dict) or not body:
        raise BadRequestData("the body must be a temporal entity with at least id and type")
    terms = await neg.body_terms(request, body, media)
    entity = expand_temporal_entity(body, terms)
    tenant = neg.tenant_of(request)
    await require_new(request, tenant, "write", entity)
    created = await _temporal(request).create_or_update(tenant, entity)
    await _history_written(request, tenant, entity)
    if not created:
        return Response(status_code=204)
    return created_response(f"{BASE}/entities", entity["id"], tenant)


async def append_attributes(request: Request) -> Response:
    """Clause 5.6.12 (POST /temporal/entities/{id}/attrs)."""
    entity_id = _entity_id(request)
    body, media = await neg.read_json(request)
    terms = await neg.body_terms(request, body, media)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object of attributes")
    if "id" in body and body["id"] != entity_id:
        raise BadRequestData(f"the body's id {body['id']!r} differs from the URL's {entity_id}")
    fragment = expand_temporal_entity(body, terms, need_id=False, need_type=False)
    if not fragment["attrs"]:
        raise BadRequestData("the body has no attributes")
    tenant = await neg.require_tenant(request)
    await _temporal(request).append_attributes(tenant, entity_id, fragment["attrs"])
    await _history_written(request, tenant, {"id": entity_id, "type": [], **fragment})
    return Response(status_code=204)


async def _history_written(request: Request, tenant: str, entity: dict[str, Any]) -> None:
    """Tell the city services (the air-quality service recomputes the CAI of an observation
    whose history was added to)."""
    runner = getattr(request.app.state, "services", None)
    if runner is not None:
        await runner.history_written(
            tenant,
            {"id": entity["id"], "type": list(entity.get("type") or ()), "attrs": entity["attrs"]},
        )


async def delete_attribute(request: Request) -> Response:
    """Clause 5.6.13 (DELETE /temporal/entities/{id}/attrs/{attrId}, datasetId, deleteAll)."""
    entity_id = _entity_id(request)
    terms = await neg.query_terms(request)
    attr = _attr(request, terms)
    params = request.query_params
    delete_all = params.get("deleteAll")
    if delete_all not in (None, "true", "false"):
        raise BadRequestData(f"deleteAll must be true or false, got {delete_all!r}")
    dataset_id = params.get("datasetId")
    if dataset_id is not None:
        check_uri(dataset_id, "datasetId")
    tenant = await neg.require_tenant(request)
    await _temporal(request).delete_attribute(
        tenant, entity_id, attr, dataset_id=dataset_id, delete_all=delete_all == "true"
    )
    return Response(status_code=204)


async def modify_instance(request: Request) -> Response:
    """Clause 5.6.14 (PATCH /temporal/entities/{id}/attrs/{attrId}/{instanceId})."""
    entity_id = _entity_id(request)
    body, media = await neg.read_json(request)
    terms = await neg.body_terms(request, body, media)
    attr = _attr(request, terms)
    instance_id = _instance_id(request)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "@context"}
    fragment = expand_instance(attr, body, terms, label=request.path_params["attr_id"])
    tenant = await neg.require_tenant(request)
    await _temporal(request).modify_instance(tenant, entity_id, attr, instance_id, fragment)
    return Response(status_code=204)


async def delete_instance(request: Request) -> Response:
    """Clause 5.6.15 (DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId})."""
    entity_id = _entity_id(request)
    terms = await neg.query_terms(request)
    attr = _attr(request, terms)
    instance_id = _instance_id(request)
    tenant = await neg.require_tenant(request)
    await _temporal(request).delete_instance(tenant, entity_id, attr, instance_id)
    return Response(status_code=204)


async def delete_entity(request: Request) -> Response:
    """Clause 5.6.16 (DELETE /temporal/entities/{id})."""
    entity_id = _entity_id(request)
    tenant = await neg.require_tenant(request)
    await _temporal(request).delete_entity(tenant, entity_id)
    return Response(status_code=204)


# ---- consumption -----------------------------------------------------------------------


async def retrieve_entity(request: Request) -> Response:
    """Clause 5.7.3 (GET /temporal/entities/{id})."""
    media = neg.accept_of(request)
    entity_id = _entity_id(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    tq = temporal_query_of(params)
    rep = representation_of(params)
    attrs = attrs_of(params, terms)
    proj = _projection(params, terms, attrs)
    dataset_ids = sorted(proj.dataset_ids, key=str) if proj.dataset_ids else None
    temporal = _temporal(request)
    limit = temporal.instance_limit
    content_range: str | None
    if rep.format == "aggregatedValues":
        agg = aggregation_query_of(rep, tq, limit)
        aggregated = await temporal.aggregate_entity(tenant, entity_id, tq, agg, attrs, dataset_ids)
        if aggregated is None:
            raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
        head, periods, known = aggregated
        _check_attrs(entity_id, attrs, known, params)
        docs, content_range = render_aggregated_entities(
            [(head, periods)], terms, rep, proj, agg, limit
        )
        doc = docs[0]
    else:
        found, (remote, warnings) = await asyncio.gather(
            temporal.get_entity(tenant, entity_id, tq, attrs, dataset_ids),
            request.app.state.federation.temporal(
                _ask(request, tenant),
                "retrieveTemporal",
                RegistrationQuery(ids=(entity_id,), attrs=tuple(attrs or ())),
                "/temporal/entities/" + quote(entity_id, safe=":"),
                params.multi_items(),
                many=False,
            ),
        )
        remote = [(d, r) for d, r, _ in remote if d["id"] == entity_id]
        if found is None and not remote:
            raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
        content_range = None
        local_doc = None
        if found is not None:
            head, history, known = found
            if not remote:
                _check_attrs(entity_id, attrs, known, params)
            content_range = paginate([history], limit, tq)
            local_doc = render_temporal_entity(head, history, terms, rep, proj)
        doc = merge_temporal(local_doc, remote, tq.timeproperty) or {}
    if not doc:
        raise ResourceNotFound(f"nothing of entity {entity_id} is left after pick/omit")
    headers = neg.context_headers(terms, media)
    if rep.format != "aggregatedValues":
        headers.update(warning_headers(warnings))
    if content_range is not None:
        headers["Content-Range"] = content_range
    return neg.json_response(
        neg.with_context(doc, terms, media),
        status=206 if content_range else 200,
        media=media,
        headers=headers,
    )


def _ask(request: Request, tenant: str, *, narrowed: bool | None = None) -> Ask:
    """Who asks the sources of a temporal read: a caller narrowed to some entities asks none
    (what a source answers could not be checked against its permission)."""
    if narrowed is None:
        narrowed = access_of(request).targets("read") is not None
    return ask_of(request, tenant, narrowed=narrowed)


def _check_attrs(
    entity_id: str, attrs: list[str] | None, known: set[str], params: Mapping[str, str]
) -> None:
    if attrs is not None and not set(attrs) & known:
        raise ResourceNotFound(f"entity {entity_id} has no history of {params['attrs']}")


def _respond_query(
    docs: list[dict[str, Any]],
    count: int | None,
    content_range: str | None,
    terms: TermMap,
    media: str,
    warnings: list[str] | None = None,
) -> Response:
    headers = neg.context_headers(terms, media)
    headers.update(warning_headers(warnings or []))
    if count is not None:
        headers["NGSILD-Results-Count"] = str(count)
    if content_range is not None:
        headers["Content-Range"] = content_range
    body = [neg.with_context(doc, terms, media) for doc in docs]
    return neg.json_response(
        body, status=206 if content_range else 200, media=media, headers=headers
    )


async def _run_query(
    request: Request,
    params: Mapping[str, str],
    tq: TemporalQuery,
    terms: TermMap,
    tenant: str,
    media: str,
) -> Response:
    """The part of GET and POST temporal queries after their parameters are read."""
    rep = representation_of(params)
    query = entity_query_of(_entity_params(params), terms, request.app.state.settings)
    query = narrowed(request, query)
    attrs = list(query.attrs) or None
    proj = _projection(params, terms, attrs)
    dataset_ids = sorted(proj.dataset_ids, key=str) if proj.dataset_ids is not None else None
    temporal = _temporal(request)
    limit = temporal.instance_limit
    content_range: str | None
    if rep.format == "aggregatedValues":
        agg = aggregation_query_of(rep, tq, limit)
        aggregated, count = await temporal.aggregate_entities(tenant, query, tq, agg, dataset_ids)
        docs, content_range = render_aggregated_entities(
            list(aggregated), terms, rep, proj, agg, limit
        )
    else:
        (found, count), (remote, warnings) = await asyncio.gather(
            temporal.query_entities(tenant, query, tq, dataset_ids),
            request.app.state.federation.temporal(
                _ask(request, tenant, narrowed=query.permitted is not None),
                "queryTemporal",
                RegistrationQuery(
                    ids=query.ids, types=query.types, id_pattern=query.id_pattern, attrs=query.attrs
                ),
                "/temporal/entities",
                list(params.items()),
                many=True,
            ),
        )
        content_range = paginate([h for _, h in found], limit, tq)
        docs = _render_all(found, terms, rep, proj)
        if remote:
            lists = [(d, r) for d, r, _ in remote]
            docs = merge_temporal_lists(docs, lists, tq.timeproperty)[: query.limit]
            if count is not None:
                count = max(count, len(docs))
        return _respond_query(docs, count, content_range, terms, media, warnings)
    return _respond_query(docs, count, content_range, terms, media)


async def query_entities(request: Request) -> Response:
    """Clause 5.7.4 (GET /temporal/entities)."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    tq = temporal_query_of(params)
    return await _run_query(request, params, tq, terms, tenant, media)


async def query_via_post(request: Request) -> Response:
    """Clause 5.7.4 via POST /temporal/entityOperations/query (HTTP 6.24): a Query with a
    ``temporalQ`` member (clause 5.2.23)."""
    media = neg.accept_of(request)
    body, body_media = await neg.read_json(request)
    terms = await neg.body_terms(request, body, body_media)
    tenant = await neg.require_tenant(request)
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('the body must be a Query object: {"type": "Query", ...}')
    params = _query_params(body, dict(request.query_params))
    temporal_q = body.get("temporalQ") or {}
    if not isinstance(temporal_q, dict):
        raise BadRequestData("temporalQ must be an object with timerel, timeAt, endTimeAt...")
    tq = temporal_query_of({**params, **{k: str(v) for k, v in temporal_q.items()}})
    return await _run_query(request, params, tq, terms, tenant, media)


def _query_params(body: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
    """The members of a Query body as the URL parameters they stand for."""
    ids: list[str] = []
    types: list[str] = []
    for sel in body.get("entities") or []:
        if not isinstance(sel, dict):
            raise BadRequestData("entities must be an array of EntitySelector objects")
        if "id" in sel:
            ids.append(str(sel["id"]))
        if "idPattern" in sel:
            params["idPattern"] = str(sel["idPattern"])
        if "type" in sel:
            types.append(str(sel["type"]))
    if ids:
        params["id"] = ",".join(ids)
    if types:
        params["type"] = ",".join(types)
    attrs = body.get("attrs")
    if attrs is not None:
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise BadRequestData("attrs must be an array of attribute names")
        if attrs:
            params["attrs"] = ",".join(attrs)
    for member in ("q", "scopeQ"):
        if isinstance(body.get(member), str):
            params[member] = body[member]
    geo_q = body.get("geoQ")
    if isinstance(geo_q, dict):
        for key in ("georel", "geometry", "geoproperty"):
            if key in geo_q:
                params[key] = str(geo_q[key])
        if "coordinates" in geo_q:
            coords = geo_q["coordinates"]
            params["coordinates"] = coords if isinstance(coords, str) else _json(coords)
    return params


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


routes = [
    Route(BASE + "/entities", create_or_update, methods=["POST"]),
    Route(BASE + "/entities", query_entities, methods=["GET"]),
    Route(
        BASE + "/entities/{entity_id:path}/attrs/{attr_id}/{instance_id}",
        modify_instance,
        methods=["PATCH"],
    ),
    Route(
        BASE + "/entities/{entity_id:path}/attrs/{attr_id}/{instance_id}",
        delete_instance,
        methods=["DELETE"],
    ),
    Route(
        BASE + "/entities/{entity_id:path}/attrs/{attr_id}", delete_attribute, methods=["DELETE"]
    ),
    Route(BASE + "/entities/{entity_id:path}/attrs", append_attributes, methods=["POST"]),
    Route(BASE + "/entities/{entity_id:path}", retrieve_entity, methods=["GET"]),
    Route(BASE + "/entities/{entity_id:path}", delete_entity, methods=["DELETE"]),
    Route(BASE + "/entityOperations/query", query_via_post, methods=["POST"]),
]
