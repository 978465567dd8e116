"""``/ngsi-ld/v1/entities`` routes (clauses 5.6, 5.7; HTTP binding 6.4-6.7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from cityhub import provision
from cityhub.api import distributed
from cityhub.api import negotiation as neg
from cityhub.api.distributed import Forward, entity_path, subset
from cityhub.api.entity_maps import HEADER as ENTITY_MAP_HEADER
from cityhub.api.entity_maps import mapped_query
from cityhub.api.federated import ask_of, warning_headers
from cityhub.api.guard import access_of, narrowed, require_new
from cityhub.api.linking import render_geojson, render_with_links
from cityhub.api.location import created
from cityhub.api.params import (
    attrs_of,
    entity_query_of,
    join_of,
    local_of,
    options_of,
    projection_of,
    split_list,
    type_selection,
)
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, InvalidRequest, MethodNotAllowed, ResourceNotFound
from cityhub.ngsild import ops
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.distribution import Part
from cityhub.ngsild.entity import Entity, expand_attribute, expand_entity, expand_instance
from cityhub.ngsild.names import ATTRIBUTE_MEMBERS, check_name, check_uri

BASE = "/ngsi-ld/v1"


def _entity_id(request: Request) -> str:
    return check_uri(request.path_params["entity_id"], "entity id in the URL")


def _types_of(
    request: Request, tenant: str, entity_id: str, terms: TermMap
) -> Callable[[], Awaitable[list[str]]]:
    """The types a distributed write matches registrations by: the local entity's, else
    the request's ``type`` selector (clause 4.17), else none known (any type matches)."""

    async def types() -> list[str]:
        found = await request.app.state.store.get_entity(tenant, entity_id)
        if found is not None:
            return list(found["type"])
        wanted, _ = type_selection(request.query_params.get("type"), terms)
        return list(wanted)

    return types


def _only(fragment: Entity, keep: frozenset[str]) -> Entity:
    """``fragment`` with only the attributes ``keep`` (what is left to write here)."""
    return {**fragment, "attrs": {k: v for k, v in fragment["attrs"].items() if k in keep}}


def _no_content(_: object = None) -> Response:
    return Response(status_code=204)


def _update_result(result: ops.UpdateResult | None, terms: TermMap) -> Response:
    """204 when everything was done, else 207 with an UpdateResult (clause 5.2.18).

    The UpdateResult carries no @context, so attribute names are given as full IRIs.
    """
    if result is None or not result.not_updated:
        return Response(status_code=204)
    body = {
        "updated": list(result.updated),
        "notUpdated": [
            {"attributeName": iri, "reason": reason} for iri, reason in result.not_updated
        ],
    }
    return neg.json_response(body, status=207)


async def create_entity(request: Request) -> Response:
    body, media = await neg.read_json(request)
    if not isinstance(body, dict) or not body:
        raise InvalidRequest("the body must be a JSON object with at least id and type")
    terms = await neg.body_terms(request, body, media)
    tenant = neg.tenant_of(request)
    entity = expand_entity(body, terms)
    await require_new(request, tenant, "write", entity)
    store = request.app.state.store

    async def local(keep: frozenset[str]) -> None:
        await provision.create_entity(store, tenant, _only(entity, keep))

    async def types() -> list[str]:
        return list(entity["type"])

    answer = await distributed.write(
        request,
        tenant,
        "createEntity",
        entity["id"],
        list(entity["attrs"]),
        types=types,
        forward=lambda part: Forward("POST", "/entities", (), subset(body, terms, part.attrs)),
        local=local,
        success=lambda _: created(f"{BASE}/entities", entity["id"], tenant),
    )
    if answer is not None:
        return answer
    await provision.create_entity(store, tenant, entity)
    return created(f"{BASE}/entities", entity["id"], tenant)


def page_links(request: Request, offset: int, limit: int, more: bool, media: str) -> list[str]:
    """The ``prev`` and ``next`` links of a page of a query (clause 5.5.9; HTTP binding
    6.3.10): the request's own query with another ``offset`` (``limit`` kept), ``next`` when
    matching entities follow the page."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]

    def link(rel: str, at: int) -> str:
        query = urlencode([*kept, ("limit", str(limit)), ("offset", str(at))], safe=",;:=")
        return f'<{request.url.path}?{query}>;rel="{rel}";type="{media}"'

    links = []
    if offset > 0 and limit > 0:
        links.append(link("prev", max(0, offset - limit)))
    if more and limit > 0:
        links.append(link("next", offset + limit))
    return links


async def query_entities(request: Request) -> Response:
    media = neg.accept_of(request, (neg.JSON, neg.JSONLD, neg.GEOJSON))
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    query = narrowed(request, entity_query_of(params, terms, request.app.state.settings))
    permitted = query.permitted
    proj = projection_of(params, terms, attrs=list(query.attrs) or None)
    join, level = join_of(params)
    store = request.app.state.store
    ask = ask_of(request, tenant, narrowed=permitted is not None)
    mapped = await mapped_query(request, ask, query, terms, params.multi_items())
    created_map = False
    if mapped is not None:
        result, map_location, created_map = mapped
    else:
        map_location = None
        result = await request.app.state.federation.query_entities(
            store, ask, query, terms, params=params.multi_items()
        )
    geometry_property = params.get("geometryProperty")
    geometries = None
    if media == neg.GEOJSON:
        docs, geometries = await render_geojson(
            store,
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
            store, tenant, result.entities, terms, proj, join, level, permitted=permitted
        )
    headers = warning_headers(result.warnings)
    if result.count is not None:
        headers["NGSILD-Results-Count"] = str(result.count)
    if map_location is not None:
        headers[ENTITY_MAP_HEADER] = map_location
    response = neg.documents_response(
        docs,
        terms,
        media,
        geometry_property=geometry_property,
        geometries=geometries,
        headers=headers,
        status=201 if created_map else 200,
    )
    for link in page_links(request, query.offset, query.limit, result.more, media):
        response.headers.append("Link", link)
    return response


async def purge_entities(request: Request) -> Response:
    """Clause 5.6.21 Purge Entities (DELETE /entities with id/type/q/scopeQ, keep or drop)."""
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    keep, drop = params.get("keep"), params.get("drop")
    if keep is not None and drop is not None:
        raise BadRequestData("keep and drop cannot be used together")
    if not any(params.get(p) for p in ("id", "idPattern", "type", "q", "scopeQ")) and (
        not local_of(params)
    ):
        raise BadRequestData("purge needs at least one of id, idPattern, type, q, scopeQ or local")
    query = narrowed(
        request,
        entity_query_of(
            params, terms, request.app.state.settings, paging=False, require_filter=False
        ),
        "write",
    )
    names = keep if keep is not None else drop
    attrs = [terms.expand(check_name(a, "attribute name")) for a in split_list(names)]

    async def local() -> None:
        await provision.purge_entities(
            request.app.state.store,
            tenant,
            query,
            keep=attrs if keep is not None else None,
            drop=attrs if drop is not None else None,
        )

    answer = await distributed.purge(
        request, tenant, query.ids, query.types, query.id_pattern, local
    )
    if answer is not None:
        return answer
    await local()
    return Response(status_code=204)


async def retrieve_entity(request: Request) -> Response:
    media = neg.accept_of(request, (neg.JSON, neg.JSONLD, neg.GEOJSON))
    entity_id = _entity_id(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    attrs = attrs_of(params, terms)
    proj = projection_of(params, terms, attrs=attrs)
    join, level = join_of(params)
    store = request.app.state.store
    permitted = access_of(request).permitted("read")  # the guard checked this entity
    found = await request.app.state.federation.retrieve_entity(
        ask_of(request, tenant, narrowed=permitted is not None),
        entity_id,
        await store.get_entity(tenant, entity_id),
        params.multi_items(),
        terms,
        attrs or (),
    )
    headers = warning_headers(found.warnings)
    if not found.entities:
        raise ResourceNotFound(
            f"there is no entity with id {entity_id}",
            **({"ngsild_warning": headers["NGSILD-Warning"]} if headers else {}),
        )
    entity = found.entities[0]
    wanted_types = params.get("type")
    if wanted_types is not None:
        types, _ = type_selection(wanted_types, terms)
        if types and not set(types) & set(entity["type"]):
            raise ResourceNotFound(f"entity {entity_id} is not of type {wanted_types}")
    if attrs is not None and not set(attrs) & set(entity["attrs"]):
        raise ResourceNotFound(f"entity {entity_id} has none of the attributes {params['attrs']}")
    geometry_property = params.get("geometryProperty")
    geometries = None
    if media == neg.GEOJSON:
        docs, geometries = await render_geojson(
            store,
            tenant,
            [entity],
            terms,
            proj,
            join,
            level,
            geometry_property,
            permitted=permitted,
        )
    else:
        docs = await render_with_links(
            store, tenant, [entity], terms, proj, join, level, permitted=permitted
        )
    if not docs:
        raise ResourceNotFound(f"nothing of entity {entity_id} is left after pick/omit")
    return neg.documents_response(
        docs,
        terms,
        media,
        single=not (join == "flat" and len(docs) > 1),
        geometry_property=geometry_property,
        geometries=geometries,
        headers=headers,
    )


async def delete_entity(request: Request) -> Response:
    """Clause 5.6.6 (DELETE /entities/{id}), distributed by 5.6.6.4."""
    entity_id = _entity_id(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    store = request.app.state.store

    async def local(_: frozenset[str]) -> None:
        await provision.delete_entity(store, tenant, entity_id)

    answer = await distributed.write(
        request,
        tenant,
        "deleteEntity",
        entity_id,
        (),
        types=_types_of(request, tenant, entity_id, terms),
        forward=lambda part: Forward("DELETE", entity_path(entity_id)),
        local=local,
        success=_no_content,
    )
    if answer is not None:
        return answer
    await provision.delete_entity(store, tenant, entity_id)
    return Response(status_code=204)


async def _fragment(
    request: Request, *, merge_patch: bool = False, allow_null: bool = False
) -> tuple[Entity, TermMap, str, Any]:
    entity_id = _entity_id(request)
    body, media = await neg.read_json(request, merge_patch=merge_patch)
    terms = await neg.body_terms(request, body, media)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object of attributes")
    if "id" in body and body["id"] != entity_id:
        raise BadRequestData(f"the body's id {body['id']!r} differs from the URL's {entity_id}")
    fragment = expand_entity(body, terms, need_id=False, need_type=False, allow_null=allow_null)
    fragment["id"] = entity_id
    return fragment, terms, neg.tenant_of(request), body


async def _modify(
    request: Request,
    operation: str,
    fragment: Entity,
    terms: TermMap,
    tenant: str,
    change: Callable[[Entity], Callable[[Entity, str], Any]],
    forward: Callable[[Part], Forward],
    *,
    update_result: bool = False,
) -> Response:
    """A fragment write (merge, replace, update, append): distributed when registrations
    match it (clause 5.6.x.4), else this broker's alone. ``change(fragment)`` is the
    change of the stored entity by a fragment."""
    store = request.app.state.store
    entity_id = fragment["id"]

    async def local(keep: frozenset[str]) -> ops.UpdateResult | None:
        result = await provision.modify_entity(
            store, tenant, entity_id, change(_only(fragment, keep))
        )
        return result if isinstance(result, ops.UpdateResult) else None

    answer_of: Callable[[ops.UpdateResult | None], Response] = (
        (lambda result: _update_result(result, terms)) if update_result else _no_content
    )
    answer = await distributed.write(
        request,
        tenant,
        operation,
        entity_id,
        list(fragment["attrs"]),
        types=_types_of(request, tenant, entity_id, terms),
        forward=forward,
        local=local,
        success=answer_of,
        update_result=update_result,
    )
    if answer is not None:
        return answer
    result = await provision.modify_entity(store, tenant, entity_id, change(fragment))
    return answer_of(result if isinstance(result, ops.UpdateResult) else None)


async def merge_entity(request: Request) -> Response:
    """Clause 5.6.17 (PATCH /entities/{id})."""
    fragment, terms, tenant, body = await _fragment(request, merge_patch=True, allow_null=True)
    path = entity_path(fragment["id"])
    return await _modify(
        request,
        "mergeEntity",
        fragment,
        terms,
        tenant,
        lambda part: lambda e, now: ops.merge_entity(e, part, now),
        lambda part: Forward("PATCH", path, (), subset(body, terms, part.attrs)),
    )


async def replace_entity(request: Request) -> Response:
    """Clause 5.6.18 (PUT /entities/{id})."""
    fragment, terms, tenant, body = await _fragment(request)
    path = entity_path(fragment["id"])
    return await _modify(
        request,
        "replaceEntity",
        fragment,
        terms,
        tenant,
        lambda part: lambda e, now: ops.replace_entity(e, part, now),
        lambda part: Forward("PUT", path, (), subset(body, terms, part.attrs)),
    )


async def append_attributes(request: Request) -> Response:
    """Clause 5.6.3 (POST /entities/{id}/attrs, options=noOverwrite)."""
    fragment, terms, tenant, body = await _fragment(request)
    overwrite = "noOverwrite" not in options_of(request.query_params)
    path = entity_path(fragment["id"], "/attrs/")
    params = () if overwrite else (("options", "noOverwrite"),)
    return await _modify(
        request,
        "appendAttrs",
        fragment,
        terms,
        tenant,
        lambda part: lambda e, now: ops.append_attributes(e, part, now, overwrite=overwrite),
        lambda part: Forward("POST", path, params, subset(body, terms, part.attrs)),
        update_result=True,
    )


async def update_attributes(request: Request) -> Response:
    """Clause 5.6.2 (PATCH /entities/{id}/attrs); an NGSI-LD Null deletes (clause 4.5.0)."""
    fragment, terms, tenant, body = await _fragment(request, allow_null=True)
    if not fragment["attrs"] and "type" not in fragment and "scope" not in fragment:
        raise BadRequestData("the body has no attributes to update")
    path = entity_path(fragment["id"], "/attrs/")
    return await _modify(
        request,
        "updateEntity",
        fragment,
        terms,
        tenant,
        lambda part: lambda e, now: ops.update_attributes(e, part, now),
        lambda part: Forward("PATCH", path, (), subset(body, terms, part.attrs)),
        update_result=True,
    )


def _attr_path(request: Request, terms: TermMap) -> tuple[str, str]:
    name = check_name(request.path_params["attr_id"], "attribute name in the URL")
    return terms.expand(name), name


def _partial_instance(iri: str, body: Any, terms: TermMap, label: str) -> dict[str, Any]:
    """A partial attribute update body (clause 5.6.4): any members, sub-attributes expanded."""
    if not isinstance(body, dict):
        return expand_instance(iri, body, terms, label=label)
    if "type" in body or any(
        k in body
        for k in ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")
    ):
        full = expand_instance(iri, body, terms, label=label, allow_null=True)
        if "type" not in body:
            full.pop("type", None)
        return full
    out: dict[str, Any] = {}
    for key, val in body.items():
        if key in ATTRIBUTE_MEMBERS:
            out[key] = val
        else:
            sub = terms.expand(check_name(key, "sub-attribute name"))
            out[sub] = expand_instance(sub, val, terms, label=f"{label}.{key}", allow_null=True)
    if not out:
        raise BadRequestData(f"the update of attribute {label} is empty")
    return out


async def _attribute_write(
    request: Request,
    operation: str,
    entity_id: str,
    iri: str,
    terms: TermMap,
    tenant: str,
    forward: Forward,
    change: Callable[[Entity, str], Any],
) -> Response:
    """A write of one attribute (partial update, replace, delete): to the source of a
    registration that holds it (clauses 5.6.4.4, 5.6.19.4, 5.6.5.4) and here."""
    store = request.app.state.store

    async def local(_: frozenset[str]) -> None:
        await provision.modify_entity(store, tenant, entity_id, change)

    answer = await distributed.write(
        request,
        tenant,
        operation,
        entity_id,
        (iri,),
        types=_types_of(request, tenant, entity_id, terms),
        forward=lambda part: forward,
        local=local,
        success=_no_content,
    )
    if answer is not None:
        return answer
    await provision.modify_entity(store, tenant, entity_id, change)
    return Response(status_code=204)


def _attr_url(entity_id: str, label: str) -> str:
    return entity_path(entity_id, "/attrs/" + quote(label, safe=":"))


async def patch_attribute(request: Request) -> Response:
    """Clause 5.6.4 Partial Attribute Update (PATCH /entities/{id}/attrs/{attrId})."""
    entity_id = _entity_id(request)
    raw, media = await neg.read_json(request, merge_patch=True)
    terms = await neg.body_terms(request, raw, media)
    iri, label = _attr_path(request, terms)
    body = raw
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "@context"}
    fragment = _partial_instance(iri, body, terms, label)
    tenant = neg.tenant_of(request)
    return await _attribute_write(
        request,
        "updateAttrs",
        entity_id,
        iri,
        terms,
        tenant,
        Forward("PATCH", _attr_url(entity_id, label), (), raw),
        lambda e, now: ops.patch_attribute(e, iri, fragment, now, label),
    )


async def replace_attribute(request: Request) -> Response:
    """Clause 5.6.19 Replace Attribute (PUT /entities/{id}/attrs/{attrId})."""
    entity_id = _entity_id(request)
    raw, media = await neg.read_json(request)
    terms = await neg.body_terms(request, raw, media)
    iri, label = _attr_path(request, terms)
    body = raw
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "@context"}
    instances = expand_attribute(iri, body, terms, name=label)
    tenant = neg.tenant_of(request)
    return await _attribute_write(
        request,
        "replaceAttrs",
        entity_id,
        iri,
        terms,
        tenant,
        Forward("PUT", _attr_url(entity_id, label), (), raw),
        lambda e, now: ops.replace_attribute(e, iri, instances, now, label),
    )


async def delete_attribute(request: Request) -> Response:
    """Clause 5.6.5 Delete Attribute (DELETE /entities/{id}/attrs/{attrId})."""
    entity_id = _entity_id(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    iri, label = _attr_path(request, terms)
    params = request.query_params
    dataset_id = params.get("datasetId")
    if dataset_id is not None:
        check_uri(dataset_id, "datasetId")
    delete_all = params.get("deleteAll")
    if delete_all not in (None, "true", "false"):
        raise InvalidRequest(f"deleteAll must be true or false, got {delete_all!r}")
    forwarded = [("datasetId", dataset_id)] if dataset_id is not None else []
    if delete_all == "true":
        forwarded.append(("deleteAll", "true"))
    return await _attribute_write(
        request,
        "deleteAttrs",
        entity_id,
        iri,
        terms,
        tenant,
        Forward("DELETE", _attr_url(entity_id, label), forwarded),
        lambda e, now: ops.delete_attribute(
            e, iri, label, dataset_id=dataset_id, delete_all=delete_all == "true"
        ),
    )


async def missing_entity_id(request: Request) -> Response:
    raise BadRequestData(f"{request.method} needs an entity id: {BASE}/entities/{{entityId}}")


async def attrs_not_allowed(request: Request) -> Response:
    raise MethodNotAllowed(
        f"{request.method} is not allowed on {request.url.path}; name the "
        "attribute: .../attrs/{attrId}",
        allow="POST, PATCH",
    )


routes = [
    Route(BASE + "/entities", create_entity, methods=["POST"]),
    Route(BASE + "/entities", query_entities, methods=["GET"]),
    Route(BASE + "/entities", purge_entities, methods=["DELETE"]),
    Route(BASE + "/entities", missing_entity_id, methods=["PATCH", "PUT"]),
    Route(BASE + "/entities/{entity_id:path}/attrs/{attr_id}", patch_attribute, methods=["PATCH"]),
    Route(BASE + "/entities/{entity_id:path}/attrs/{attr_id}", replace_attribute, methods=["PUT"]),
    Route(
        BASE + "/entities/{entity_id:path}/attrs/{attr_id}", delete_attribute, methods=["DELETE"]
    ),
    Route(BASE + "/entities/{entity_id:path}/attrs", append_attributes, methods=["POST"]),
    Route(BASE + "/entities/{entity_id:path}/attrs", update_attributes, methods=["PATCH"]),
    Route(
        BASE + "/entities/{entity_id:path}/attrs",
        attrs_not_allowed,
        methods=["GET", "PUT", "DELETE"],
        refuses=True,
    ),
    Route(BASE + "/entities/{entity_id:path}", retrieve_entity, methods=["GET"]),
    Route(BASE + "/entities/{entity_id:path}", delete_entity, methods=["DELETE"]),
    Route(BASE + "/entities/{entity_id:path}", merge_entity, methods=["PATCH"]),
    Route(BASE + "/entities/{entity_id:path}", replace_entity, methods=["PUT"]),
]
