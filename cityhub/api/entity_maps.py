"""``/ngsi-ld/v1/entityMaps`` (ETSI GS CIM 009 v1.9.1 clause 5.14, HTTP binding 6.32 and
6.34), the ``entityMap`` parameter and ``NGSILD-EntityMap`` header of Query Entities (clause
5.5.14, Table 6.4.3.2-1), and ``/ngsi-ld/v1/info/sourceIdentity`` (clause 5.15, 5.2.40).

The maps' rules are ``cityhub.ngsild.entity_map``'s and the distributed part
``cityhub.federation.entity_maps``'s; this module reads requests and writes answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import __version__
from cityhub.api import negotiation as neg
from cityhub.api.federated import ask_of
from cityhub.api.guard import narrowed
from cityhub.api.params import entity_query_of
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, ResourceNotFound
from cityhub.federation import Ask, Federated
from cityhub.federation.entity_maps import create_map, query_with_map
from cityhub.ngsild import entity_map as em
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.names import check_uri
from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.ngsild.temporal import temporal_query_of
from cityhub.store.base import EntityQuery

BASE = "/ngsi-ld/v1"
MAPS = BASE + "/entityMaps"
HEADER = "NGSILD-EntityMap"


def _now() -> datetime:
    return datetime.now(UTC)


def _map_id(request: Request) -> str:
    return check_uri(request.path_params["map_id"], "EntityMap id in the URL")


def _flag(value: str | None, name: str) -> bool:
    if value not in (None, "true", "false"):
        raise BadRequestData(f"{name} must be true or false, got {value!r}")
    return value == "true"


async def mapped_query(
    request: Request,
    ask: Ask,
    query: EntityQuery,
    terms: TermMap,
    params: Sequence[tuple[str, str]],
) -> tuple[Federated, str, bool] | None:
    """Query Entities through an EntityMap (clause 5.5.14), or None when the request asks
    for none: with an ``NGSILD-EntityMap`` header, the page of the map it names (a new map
    when that one expired or is unknown); with ``entityMap=true``, the page of a new map.
    Returns the answer, the map's location (the ``NGSILD-EntityMap`` of the response) and
    whether the map was (re)created (201 Created, Table 6.4.3.2-3; 200 OK for a map used)."""
    header = request.headers.get(HEADER)
    wanted = _flag(request.query_params.get("entityMap"), "entityMap")
    if header is None and not wanted:
        return None
    life = em.lifetime(request.query_params.get("entityMapLifetime"))
    state = request.app.state
    maps = state.backend.entity_maps
    if header is not None:
        doc = await maps.get(ask.tenant, em.id_of_location(header), format_datetime(_now()))
        if doc is not None:
            result = await query_with_map(
                state.federation, state.store, maps, ask, doc, query, terms, params
            )
            return result, em.location(doc["id"]), False
    doc, result = await create_map(
        state.federation, state.store, maps, ask, query, terms, params, life
    )
    return result, em.location(doc["id"]), True


def _render(doc: dict[str, Any], terms: TermMap, media: str, status: int = 200) -> Response:
    body = neg.with_context(em.view(doc), terms, media)
    headers = neg.context_headers(terms, media)
    if status == 201:
        headers[HEADER] = em.location(doc["id"])
    return neg.json_response(body, media=media, status=status, headers=headers)


async def create_entity_map(request: Request) -> Response:
    """Clause 5.14.4 Create EntityMap for Query Entities (GET /entityMaps, 6.34.3.1): the
    parameters of Query Entities; 201 with the map and its location in NGSILD-EntityMap."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    state = request.app.state
    query = narrowed(request, entity_query_of(params, terms, state.settings))
    life = em.lifetime(params.get("entityMapLifetime"))
    ask = ask_of(request, tenant, narrowed=query.permitted is not None)
    doc, _ = await create_map(
        state.federation,
        state.store,
        state.backend.entity_maps,
        ask,
        query,
        terms,
        params.multi_items(),
        life,
    )
    return _render(doc, terms, media, 201)


async def create_temporal_entity_map(request: Request) -> Response:
    """Clause 5.14.5 Create EntityMap for Query Temporal Evolution of Entities (GET
    /temporal/entityMaps, 6.35.3.1): the entities with history in the temporal query's
    window, here (``"@none"``) and at the sources of the registrations that take
    queryTemporal; 201 with the map and its location in NGSILD-EntityMap."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    if not params.get("timerel"):
        raise BadRequestData(
            "a temporal EntityMap needs a temporal query (timerel and timeAt, clause 5.14.5.4)"
        )
    tq = temporal_query_of(params)
    state = request.app.state
    selection = {k: v for k, v in params.items() if k not in ("options", "format")}
    query = narrowed(request, entity_query_of(selection, terms, state.settings))
    wide = dataclasses.replace(query, offset=0, limit=state.settings.max_limit, count=False)
    life = em.lifetime(params.get("entityMapLifetime"))
    ask = ask_of(request, tenant, narrowed=query.permitted is not None)
    discovery = RegistrationQuery(
        ids=query.ids, types=query.types, id_pattern=query.id_pattern, attrs=query.attrs
    )
    forwarded = [(k, v) for k, v in params.multi_items() if k != "entityMapLifetime"]
    (found, _), (remote, _) = await asyncio.gather(
        state.temporal.query_entities(tenant, wide, tq),
        state.federation.temporal(
            ask, "queryTemporal", discovery, "/temporal/entities", forwarded, many=True
        ),
    )
    held: dict[str, list[str]] = {head["id"]: [em.LOCAL] for head, _ in found}
    for docs, _, registration_id in remote:
        for doc in docs[: state.settings.max_limit]:
            if isinstance(doc.get("id"), str):
                held.setdefault(doc["id"], []).append(registration_id)
    now = _now()
    doc = em.new_map(f"urn:ngsi-ld:EntityMap:{uuid.uuid4()}", now, life, held)
    await state.backend.entity_maps.create(tenant, doc, format_datetime(now))
    return _render(doc, terms, media, 201)


async def retrieve_entity_map(request: Request) -> Response:
    """Clause 5.14.1 Retrieve EntityMap (GET /entityMaps/{id}, 6.32.3.1)."""
    media = neg.accept_of(request)
    map_id = _map_id(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    doc = await request.app.state.backend.entity_maps.get(tenant, map_id, format_datetime(_now()))
    if doc is None:
        raise ResourceNotFound(f"there is no EntityMap with id {map_id} (or it has expired)")
    return _render(doc, terms, media)


async def update_entity_map(request: Request) -> Response:
    """Clause 5.14.2 Update EntityMap (PATCH /entityMaps/{id}, 6.32.3.2): only expiresAt
    changes, bounded by the broker; output-only members are ignored."""
    map_id = _map_id(request)
    body, _ = await neg.read_json(request, merge_patch=True)
    tenant = await neg.require_tenant(request)
    now = _now()
    em.update({"expiresAt": format_datetime(now)}, body, now)  # refuse a bad body first
    changed = await request.app.state.backend.entity_maps.change(
        tenant, map_id, format_datetime(now), lambda doc: em.update(doc, body, now)
    )
    if not changed:
        raise ResourceNotFound(f"there is no EntityMap with id {map_id} (or it has expired)")
    return Response(status_code=204)


async def delete_entity_map(request: Request) -> Response:
    """Clause 5.14.3 Delete EntityMap (DELETE /entityMaps/{id}, 6.32.3.3)."""
    map_id = _map_id(request)
    tenant = await neg.require_tenant(request)
    if not await request.app.state.backend.entity_maps.delete(
        tenant, map_id, format_datetime(_now())
    ):
        raise ResourceNotFound(f"there is no EntityMap with id {map_id} (or it has expired)")
    return Response(status_code=204)


def _uptime(seconds: float) -> str:
    """An ISO 8601 duration (``P1DT2H3M4S``) of whole seconds."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"P{days}DT{hours}H{minutes}M{secs}S"


async def source_identity(request: Request) -> Response:
    """Clause 5.15.1 Retrieve Context Source Identity Information (GET /info/sourceIdentity):
    a ContextSourceIdentity (5.2.40). Its ``contextSourceAlias`` is the name this hub puts in
    ``Via`` (``federation_id``), followed by the tenant's name for a tenant other than the
    default one, so a peer can tell the hub (and the tenant) it already went through."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    federation = request.app.state.federation
    alias = federation.identity if not tenant else f"{federation.identity}:{tenant}"
    body = {
        "id": f"urn:ngsi-ld:ContextSourceIdentity:{alias}",
        "type": "ContextSourceIdentity",
        "contextSourceAlias": alias,
        "contextSourceUptime": _uptime(time.monotonic() - federation.started),
        "contextSourceTimeAt": format_datetime(_now()),
        "contextSourceExtras": {"product": "cityhub", "version": __version__},
    }
    return neg.json_response(
        neg.with_context(body, terms, media),
        media=media,
        headers=neg.context_headers(terms, media),
    )


routes = [
    Route(MAPS, create_entity_map, methods=["GET"]),
    Route(BASE + "/temporal/entityMaps", create_temporal_entity_map, methods=["GET"]),
    Route(MAPS + "/{map_id:path}", retrieve_entity_map, methods=["GET"]),
    Route(MAPS + "/{map_id:path}", update_entity_map, methods=["PATCH"]),
    Route(MAPS + "/{map_id:path}", delete_entity_map, methods=["DELETE"]),
    Route(BASE + "/info/sourceIdentity", source_identity, methods=["GET"]),
]
