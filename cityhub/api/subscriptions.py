"""``/ngsi-ld/v1/subscriptions`` routes (clauses 5.8.1-5.8.5; HTTP binding 6.10-6.11).

The subscription store is ``request.app.state.subscriptions`` (a ``SubscriptionStore``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import subscriptions as service
from cityhub.api import negotiation as neg
from cityhub.api.location import created
from cityhub.api.params import paging_of
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.names import check_uri
from cityhub.ngsild.subscription import (
    expand_fragment,
    expand_merge_patch,
    expand_subscription,
    render_subscription,
)
from cityhub.store.subscriptions import SubscriptionStore

BASE = "/ngsi-ld/v1"
PATH = f"{BASE}/subscriptions"


def _store(request: Request) -> SubscriptionStore:
    store: SubscriptionStore = request.app.state.subscriptions
    return store


def _sub_id(request: Request) -> str:
    return check_uri(request.path_params["subscription_id"], "subscription id in the URL")


def _context_value(request: Request, body: Any, media: str) -> Any:
    """The @context the request's names are in (None: the core context only)."""
    if media == neg.JSONLD:
        return body.get("@context") if isinstance(body, dict) else None
    return neg.link_context(request)


def _render(doc: dict[str, Any], terms: TermMap, media: str) -> dict[str, Any]:
    return neg.with_context(render_subscription(doc, terms, service.now()), terms, media)


async def create_subscription(request: Request) -> Response:
    """Clause 5.8.1 (POST /subscriptions): 201 with Location, 409 on a taken id."""
    body, media = await neg.read_json(request)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object (a Subscription, clause 5.2.12)")
    terms = await neg.body_terms(request, body, media)
    tenant = neg.tenant_of(request)
    sub = expand_subscription(body, terms, now=service.now())
    sub_id = await service.create_subscription(
        _store(request),
        request.app.state.contexts,
        tenant,
        sub,
        _context_value(request, body, media),
    )
    return created(PATH, sub_id, tenant)


def _page_links(offset: int, limit: int, total: int, media: str) -> list[str]:
    """``prev``/``next`` links of a page (clause 6.3.13 pagination)."""
    links = []
    if offset > 0 and limit > 0:
        prev = max(0, offset - limit)
        links.append(f'<{PATH}?limit={limit}&offset={prev}>;rel="prev";type="{media}"')
    if limit > 0 and offset + limit < total:
        links.append(f'<{PATH}?limit={limit}&offset={offset + limit}>;rel="next";type="{media}"')
    return links


async def query_subscriptions(request: Request) -> Response:
    """Clause 5.8.4 (GET /subscriptions): limit, offset, count."""
    media = neg.accept_of(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    limit, offset, count = paging_of(request.query_params, request.app.state.settings)
    docs, total = await _store(request).query(tenant, limit, offset, count=True)
    assert total is not None
    body = [_render(d, terms, media) for d in docs]
    headers = neg.context_headers(terms, media)
    links = [
        *([headers["Link"]] if "Link" in headers else []),
        *_page_links(offset, limit, total, media),
    ]
    if links:
        headers["Link"] = ",".join(links)
    if count:
        headers["NGSILD-Results-Count"] = str(total)
    return neg.json_response(body, media=media, headers=headers)


async def retrieve_subscription(request: Request) -> Response:
    """Clause 5.8.3 (GET /subscriptions/{id})."""
    media = neg.accept_of(request)
    sub_id = _sub_id(request)
    terms = await neg.query_terms(request)
    tenant = await neg.require_tenant(request)
    doc = await _store(request).get(tenant, sub_id)
    if doc is None:
        raise ResourceNotFound(f"there is no subscription with id {sub_id}")
    return neg.json_response(
        _render(doc, terms, media), media=media, headers=neg.context_headers(terms, media)
    )


async def update_subscription(request: Request) -> Response:
    """Clause 5.8.2 (PATCH /subscriptions/{id}): 204; members replaced, null removes.

    With ``application/merge-patch+json`` the ``notification`` member is merged (RFC 7396).
    """
    sub_id = _sub_id(request)
    deep = request.headers.get("content-type", "").split(";")[0].strip().lower() == neg.MERGE_PATCH
    body, media = await neg.read_json(request, merge_patch=True)
    terms = await neg.body_terms(request, body, media)
    tenant = await neg.require_tenant(request)
    if isinstance(body, dict) and "id" in body and body["id"] != sub_id:
        raise BadRequestData(f"the body's id {body['id']!r} differs from the URL's {sub_id}")
    now = service.now()
    fragment = (
        expand_merge_patch(body, terms, now=now) if deep else expand_fragment(body, terms, now=now)
    )
    await service.update_subscription(
        _store(request),
        request.app.state.contexts,
        tenant,
        sub_id,
        fragment,
        _context_value(request, body, media),
        deep=deep,
    )
    return Response(status_code=204)


async def delete_subscription(request: Request) -> Response:
    """Clause 5.8.5 (DELETE /subscriptions/{id})."""
    sub_id = _sub_id(request)
    tenant = await neg.require_tenant(request)
    if not await _store(request).delete(tenant, sub_id):
        raise ResourceNotFound(f"there is no subscription with id {sub_id}")
    return Response(status_code=204)


routes: list[Route] = [
    Route(PATH, create_subscription, methods=["POST"]),
    Route(PATH, query_subscriptions, methods=["GET"]),
    Route(f"{PATH}/{{subscription_id:path}}", retrieve_subscription, methods=["GET"]),
    Route(f"{PATH}/{{subscription_id:path}}", update_subscription, methods=["PATCH"]),
    Route(f"{PATH}/{{subscription_id:path}}", delete_subscription, methods=["DELETE"]),
]

__all__ = ["routes"]
