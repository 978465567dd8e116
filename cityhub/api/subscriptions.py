"""``/ngsi-ld/v1/subscriptions`` routes (clauses 5.8.1-5.8.5; HTTP binding 6.10-6.11).

The subscription store is ``request.app.state.subscriptions`` (a ``SubscriptionStore``).

While access control is on, a subscription remembers who made it (its owner): its
notifications carry only what the owner may read when they are delivered, and only its owner
(or an administrator: a hub administrator's key, or ``admin`` on the whole tenant) sees,
changes or deletes it; to anyone else it does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cityhub import subscriptions as service
from cityhub.access.control import owner_of, same_owner
from cityhub.api import negotiation as neg
from cityhub.api.federated import (
    ask_of,
    later,
    public_base_url,
    subscription_forwarding,
)
from cityhub.api.guard import access_of
from cityhub.api.location import created
from cityhub.api.params import paging_of
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.distributed_subscription import NOTIFY_PATH
from cityhub.ngsild.names import check_uri
from cityhub.ngsild.subscription import (
    expand_fragment,
    expand_merge_patch,
    expand_subscription,
    render_subscription,
)
from cityhub.store.subscriptions import SubscriptionStore

BASE = "/ngsi-ld/v1"
#: every subscription of a tenant (a narrowed caller's own are picked among them)
_ALL = 1_000_000
PATH = f"{BASE}/subscriptions"


def _ask(request: Request, tenant: str) -> Any:
    narrowed = access_of(request).permitted("read") is not None
    return ask_of(request, tenant, narrowed=narrowed)


def _store(request: Request) -> SubscriptionStore:
    store: SubscriptionStore = request.app.state.subscriptions
    return store


def _sees(request: Request, doc: dict[str, Any]) -> bool:
    """Whether the caller may see and change this subscription (see the module's docstring)."""
    access = access_of(request)
    if access.targets("admin") is None:  # off, a hub administrator, admin on the tenant
        return True
    return same_owner(doc.get("_owner"), owner_of(access))


async def _own(request: Request, tenant: str, sub_id: str) -> dict[str, Any]:
    """The stored subscription, if the caller may see it.

    Raises:
        ResourceNotFound: there is none, or it is someone else's (whether it exists is not
            told).
    """
    doc = await _store(request).get(tenant, sub_id)
    if doc is None or not _sees(request, doc):
        raise ResourceNotFound(f"there is no subscription with id {sub_id}")
    return doc


async def delivery_settled(request: Request, tenant: str, sub_id: str) -> None:
    """Wait until the notification of this subscription in flight, if any, has its outcome
    recorded (``cityhub.notify.dispatcher.Dispatcher.settled``): a receiver that reads the
    subscription right after answering sees ``status``/``lastSuccess`` (clause 5.8.6)."""
    notifier = getattr(request.app.state, "notifier", None)
    if notifier is not None:
        await notifier.settled(tenant, sub_id)


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
        owner_of(access_of(request)),
    )
    response = created(PATH, sub_id, tenant)
    doc = await _store(request).get(tenant, sub_id)
    if doc is not None:  # after the answer: a source never delays the subscriber
        forwarding, ask, base = (
            subscription_forwarding(request),
            _ask(request, tenant),
            public_base_url(request),
        )
        later(response, lambda: forwarding.forward(ask, doc, base), f"subscription {sub_id}")
    return response


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
    if access_of(request).targets("admin") is None:
        docs, total = await _store(request).query(tenant, limit, offset, count=True)
        assert total is not None
    else:  # the caller's own subscriptions only, paged and counted among themselves
        every, _ = await _store(request).query(tenant, _ALL)
        mine = [d for d in every if _sees(request, d)]
        docs, total = (mine[offset : offset + limit] if limit > 0 else []), len(mine)
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
    await delivery_settled(request, tenant, sub_id)
    doc = await _own(request, tenant, sub_id)
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
    await _own(request, tenant, sub_id)
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
    await _own(request, tenant, sub_id)
    if not await _store(request).delete(tenant, sub_id):
        raise ResourceNotFound(f"there is no subscription with id {sub_id}")
    response = Response(status_code=204)
    forwarding, ask = subscription_forwarding(request), _ask(request, tenant)
    later(response, lambda: forwarding.forget(ask, sub_id), f"subscription {sub_id}")
    return response


async def remote_notification(request: Request) -> Response:
    """A context source's Notification of a subscription's copy (v1.9.1 clause 5.8.6),
    relayed to the local subscriber. Open to sources without credentials: the copy's id it
    names is random and was only ever sent to that source."""
    body, media = await neg.read_json(request)
    await subscription_forwarding(request).relay(body, _context_value(request, body, media))
    return Response(status_code=200)


routes: list[Route] = [
    Route(PATH, create_subscription, methods=["POST"]),
    Route(PATH, query_subscriptions, methods=["GET"]),
    Route(f"{PATH}/{{subscription_id:path}}", retrieve_subscription, methods=["GET"]),
    Route(f"{PATH}/{{subscription_id:path}}", update_subscription, methods=["PATCH"]),
    Route(f"{PATH}/{{subscription_id:path}}", delete_subscription, methods=["DELETE"]),
    Route(NOTIFY_PATH, remote_notification, methods=["POST"]),
]

__all__ = ["delivery_settled", "routes"]
