"""``/ngsi-ld/v1/csourceRegistrations`` and ``/ngsi-ld/v1/csourceSubscriptions`` (clauses 5.9-5.11;
HTTP binding 6.8-6.9 and 6.12-6.13).

Registrations are stored and discovered here; reads forwarded to the registered context
sources (distributed operations) are ``cityhub.federation``'s, called by the entity routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.federated import ask_of, later, public_base_url, subscription_forwarding
from cityhub.api.location import created
from cityhub.api.params import expand_attribute_name, options_of, paging_of, split_list
from cityhub.api.routing import Route
from cityhub.api.subscriptions import delivery_settled
from cityhub.errors import BadRequestData, InvalidRequest, ResourceNotFound, UnsupportedMediaType
from cityhub.ngsild import csource_notification as cn
from cityhub.ngsild import csource_subscription as csub
from cityhub.ngsild import registration as reg
from cityhub.ngsild import registration_query as rq
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity_info import check_regex
from cityhub.ngsild.names import check_name, check_uri
from cityhub.ngsild.query import ast as qast
from cityhub.ngsild.query.geo import expand_geo, parse_geo_query
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.query.types import parse_type_query
from cityhub.ngsild.temporal import parse_temporal_query
from cityhub.store.registrations import RegistrationStore

BASE = "/ngsi-ld/v1"
REGISTRATIONS = BASE + "/csourceRegistrations"
SUBSCRIPTIONS = BASE + "/csourceSubscriptions"


def _store(request: Request) -> RegistrationStore:
    store: RegistrationStore = request.app.state.registrations
    return store


def _now() -> datetime:
    return datetime.now(UTC)


def _path_id(request: Request, collection: str, what: str) -> str:
    raw: str = request.path_params["resource_id"]
    # A client that pastes the Location header after the collection URL (the ETSI suite does,
    # 038_02) sends ".../csourceSubscriptions//ngsi-ld/v1/csourceSubscriptions/<id>". Such a
    # path can never be an id (ids are absolute URIs), so it is read as the id it ends with.
    prefix = collection.lstrip("/") + "/"
    stripped = raw.lstrip("/")
    if stripped.startswith(prefix):
        raw = stripped[len(prefix) :]
    return check_uri(raw, f"{what} id in the URL")


async def _read_body(request: Request, *, merge_patch: bool = False) -> tuple[Any, str]:
    """The JSON body (clause 6.3.5). Without a Content-Type, a body that is not even JSON is an
    InvalidRequest (a syntax error whatever its type); otherwise 415 as on every route."""
    if not request.headers.get("content-type"):
        raw = await request.body()
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
        raise UnsupportedMediaType(
            "the request has no Content-Type; send application/json or application/ld+json"
        )
    return await neg.read_json(request, merge_patch=merge_patch)


def _render_headers(terms: TermMap, media: str) -> dict[str, str]:
    return neg.context_headers(terms, media)


def _page_response(
    request: Request,
    docs: list[dict[str, Any]],
    terms: TermMap,
    media: str,
    *,
    limit: int,
    offset: int,
    total: int,
    count: bool,
) -> Response:
    """A page of results with its Link headers: @context (6.3.6) and prev/next (5.5.9)."""
    body = [neg.with_context(d, terms, media) for d in docs]
    headers = _render_headers(terms, media)
    if count:
        headers["NGSILD-Results-Count"] = str(total)
    response = neg.json_response(body, media=media, headers=headers)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]

    def link(rel: str, at: int) -> str:
        query = urlencode([*kept, ("limit", str(limit)), ("offset", str(at))], safe=",;:=")
        return f'<{request.url.path}?{query}>;rel="{rel}";type="application/ld+json"'

    if offset > 0 and limit > 0:
        response.headers.append("Link", link("prev", max(0, offset - limit)))
    if limit > 0 and offset + limit < total:
        response.headers.append("Link", link("next", offset + limit))
    return response


# ---- registrations ----------------------------------------------------------------------------


async def create_registration(request: Request) -> Response:
    """Clause 5.9.2 Register Context Source (POST /csourceRegistrations)."""
    body, media = await _read_body(request)
    terms = await neg.body_terms(request, body, media)
    tenant = neg.tenant_of(request)
    doc = reg.expand_registration(body, terms, _now())
    await _store(request).create_registration(tenant, doc)
    request.app.state.federation.breakers.reset(doc["endpoint"])
    response = created(REGISTRATIONS, doc["id"], tenant)
    stored = await _store(request).get_registration(tenant, doc["id"])
    if stored is not None:  # the subscriptions it matches get a copy (v1.9.1 5.8.1.4)
        ask, base = ask_of(request, tenant, narrowed=False), public_base_url(request)
        forwarding = subscription_forwarding(request)
        later(
            response,
            lambda: forwarding.registration_created(ask, stored, base),
            f"registration {doc['id']}",
        )
    return response


def _types(raw: str | None, terms: TermMap) -> tuple[str, ...]:
    """``type``: names separated by ``,`` or ``|`` (an entity has one type per EntityInfo, so
    a type query with ``;`` could never match two at once)."""
    if raw is None:
        return ()
    if not any(c in raw for c in ";|()"):
        return tuple(terms.expand(check_name(t, "entity type")) for t in split_list(raw))
    names: list[str] = []

    def flatten(node: qast.Node) -> None:
        if isinstance(node, qast.Or):
            for item in node.items:
                flatten(item)
        elif isinstance(node, qast.TypeName):
            names.append(terms.expand(node.name))
        else:
            raise BadRequestData(
                "type: discovery takes alternatives only (A|B or A,B); an EntityInfo has "
                "one type, so A;B can match no registration"
            )

    flatten(parse_type_query(raw))
    return tuple(names)


def registration_query_of(params: Mapping[str, str], terms: TermMap) -> rq.RegistrationQuery:
    """Discovery parameters (clause 6.9.3.1) → a query; at least one filter is needed."""
    ids = tuple(check_uri(i, "id") for i in split_list(params.get("id")))
    id_pattern = params.get("idPattern")
    if id_pattern is not None:
        check_regex(id_pattern, "idPattern")
    types = _types(params.get("type"), terms)
    attrs = tuple(expand_attribute_name(a, terms, "attrs") for a in split_list(params.get("attrs")))
    q = rq.parse_registration_q(params["q"], terms.expand) if params.get("q") else None
    csf = rq.parse_registration_q(params["csf"], terms.expand) if params.get("csf") else None
    scope_q = parse_scope_q(params["scopeQ"]) if params.get("scopeQ") else None
    geo = parse_geo_query(
        params.get("georel"), params.get("geometry"), params.get("coordinates"),
        params.get("geoproperty"),
    )  # fmt: skip
    temporal = rq.registration_temporal_query(
        parse_temporal_query(
            params.get("timerel"), params.get("timeAt"), params.get("endTimeAt"),
            params.get("timeproperty"),
        )
    )  # fmt: skip
    query = rq.RegistrationQuery(
        ids=ids,
        types=types,
        id_pattern=id_pattern,
        attrs=attrs,
        q=q,
        csf=csf,
        geo=expand_geo(geo, terms.expand) if geo is not None else None,
        temporal=temporal,
        scope_q=scope_q,
    )
    if not (ids or types or id_pattern or attrs or query.needs_filter):
        raise BadRequestData(
            "discovery needs at least one of type, attrs, id, idPattern, q, csf, scopeQ, a "
            "geo-query or a temporal query (clause 5.10.2)"
        )
    return query


async def query_registrations(request: Request) -> Response:
    """Clause 5.10.2 Query Context Source Registrations (GET /csourceRegistrations)."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    query = registration_query_of(params, terms)
    limit, offset, count = paging_of(params, request.app.state.settings)
    sys_attrs = "sysAttrs" in options_of(params)
    docs, total = await _store(request).query_registrations(
        tenant, query, limit=limit, offset=offset, count=True
    )
    assert total is not None
    rendered = [reg.compact_registration(d, terms, sys_attrs=sys_attrs) for d in docs]
    return _page_response(
        request, rendered, terms, media, limit=limit, offset=offset, total=total, count=count
    )


async def retrieve_registration(request: Request) -> Response:
    """Clause 5.10.1 Retrieve Context Source Registration."""
    media = neg.accept_of(request)
    reg_id = _path_id(request, REGISTRATIONS, "registration")
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    sys_attrs = "sysAttrs" in options_of(request.query_params)
    doc = await _store(request).get_registration(tenant, reg_id)
    if doc is None:
        raise ResourceNotFound(f"there is no context source registration with id {reg_id}")
    body = neg.with_context(reg.compact_registration(doc, terms, sys_attrs=sys_attrs), terms, media)
    return neg.json_response(body, media=media, headers=_render_headers(terms, media))


async def update_registration(request: Request) -> Response:
    """Clause 5.9.3 Update Context Source Registration (PATCH, members replaced or removed)."""
    reg_id = _path_id(request, REGISTRATIONS, "registration")
    body, media = await _read_body(request, merge_patch=True)
    terms = await neg.body_terms(request, body, media)
    tenant = await neg.require_tenant(request)
    fragment = reg.expand_registration_fragment(body, terms, reg_id, _now())
    doc = await _store(request).update_registration(
        tenant, reg_id, lambda doc, now: reg.merge_registration(doc, fragment, now)
    )
    request.app.state.federation.breakers.reset(doc["endpoint"])
    return Response(status_code=204)


async def delete_registration(request: Request) -> Response:
    """Clause 5.9.4 Delete Context Source Registration."""
    reg_id = _path_id(request, REGISTRATIONS, "registration")
    tenant = await neg.require_tenant(request)
    if not await _store(request).delete_registration(tenant, reg_id):
        raise ResourceNotFound(f"there is no context source registration with id {reg_id}")
    response = Response(status_code=204)
    ask, forwarding = ask_of(request, tenant, narrowed=False), subscription_forwarding(request)
    later(response, lambda: forwarding.registration_deleted(ask, reg_id), f"registration {reg_id}")
    return response


# ---- registration subscriptions -------------------------------------------------------------


async def create_subscription(request: Request) -> Response:
    """Clause 5.11.2 Create Context Source Registration Subscription."""
    body, media = await _read_body(request)
    terms = await neg.body_terms(request, body, media)
    tenant = neg.tenant_of(request)
    doc = csub.expand_csource_subscription(body, terms, _now())
    doc[cn.TERMS_MEMBER] = cn.query_terms(doc, terms.expand)
    await _store(request).create_subscription(tenant, doc)
    return created(SUBSCRIPTIONS, doc["id"], tenant)


async def query_subscriptions(request: Request) -> Response:
    """Clause 5.11.5 Query Context Source Registration Subscriptions."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    params = request.query_params
    limit, offset, count = paging_of(params, request.app.state.settings)
    sys_attrs = "sysAttrs" in options_of(params)
    docs, total = await _store(request).query_subscriptions(
        tenant, limit=limit, offset=offset, count=True
    )
    assert total is not None
    now = _now()
    rendered = [csub.compact_csource_subscription(d, terms, now, sys_attrs=sys_attrs) for d in docs]
    return _page_response(
        request, rendered, terms, media, limit=limit, offset=offset, total=total, count=count
    )


async def retrieve_subscription(request: Request) -> Response:
    """Clause 5.11.4 Retrieve Context Source Registration Subscription."""
    media = neg.accept_of(request)
    sub_id = _path_id(request, SUBSCRIPTIONS, "subscription")
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    sys_attrs = "sysAttrs" in options_of(request.query_params)
    await delivery_settled(request, tenant, sub_id)
    doc = await _store(request).get_subscription(tenant, sub_id)
    if doc is None:
        raise ResourceNotFound(
            f"there is no context source registration subscription with id {sub_id}"
        )
    view = csub.compact_csource_subscription(doc, terms, _now(), sys_attrs=sys_attrs)
    body = neg.with_context(view, terms, media)
    return neg.json_response(body, media=media, headers=_render_headers(terms, media))


async def update_subscription(request: Request) -> Response:
    """Clause 5.11.3 Update Context Source Registration Subscription."""
    sub_id = _path_id(request, SUBSCRIPTIONS, "subscription")
    body, media = await _read_body(request, merge_patch=True)
    terms = await neg.body_terms(request, body, media)
    tenant = await neg.require_tenant(request)
    fragment = csub.expand_csource_subscription_fragment(body, terms, sub_id, _now())
    used = cn.query_terms({k: v for k, v in fragment.items() if v is not None}, terms.expand)
    if used:
        fragment[cn.TERMS_MEMBER] = used
    await _store(request).update_subscription(
        tenant, sub_id, lambda doc, now: csub.merge_csource_subscription(doc, fragment, now)
    )
    return Response(status_code=204)


async def delete_subscription(request: Request) -> Response:
    """Clause 5.11.6 Delete Context Source Registration Subscription."""
    sub_id = _path_id(request, SUBSCRIPTIONS, "subscription")
    tenant = await neg.require_tenant(request)
    if not await _store(request).delete_subscription(tenant, sub_id):
        raise ResourceNotFound(
            f"there is no context source registration subscription with id {sub_id}"
        )
    return Response(status_code=204)


routes = [
    Route(REGISTRATIONS, create_registration, methods=["POST"]),
    Route(REGISTRATIONS, query_registrations, methods=["GET"]),
    Route(REGISTRATIONS + "/{resource_id:path}", retrieve_registration, methods=["GET"]),
    Route(REGISTRATIONS + "/{resource_id:path}", update_registration, methods=["PATCH"]),
    Route(REGISTRATIONS + "/{resource_id:path}", delete_registration, methods=["DELETE"]),
    Route(SUBSCRIPTIONS, create_subscription, methods=["POST"]),
    Route(SUBSCRIPTIONS, query_subscriptions, methods=["GET"]),
    Route(SUBSCRIPTIONS + "/{resource_id:path}", retrieve_subscription, methods=["GET"]),
    Route(SUBSCRIPTIONS + "/{resource_id:path}", update_subscription, methods=["PATCH"]),
    Route(SUBSCRIPTIONS + "/{resource_id:path}", delete_subscription, methods=["DELETE"]),
]
