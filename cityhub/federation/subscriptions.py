"""Distributed subscriptions (ETSI GS CIM 009 v1.9.1 clauses 5.8.1.4, 5.8.5.4, 5.8.6): a
local Subscription is forwarded to the sources of the matching registrations that take
``createSubscription`` (a reduced copy, :mod:`cityhub.ngsild.distributed_subscription`), its
deletion follows it there, and what those sources notify is relayed to the local subscriber.

The copies are kept in the database (:mod:`cityhub.store.remote_subscriptions`), so any
worker relays and forgets them. A source is asked through :meth:`Federation.exchange`: the
allowed hosts, the circuit breaker, the timeout, ``Via`` and the registration's tenant and
``contextSourceInfo`` apply as to any forwarded request; a source that fails is left out
with an ``NGSILD-Warning``, never failing the local subscription.

A relayed Notification goes through the local notification outbox (the dispatcher renders
it with the local subscription's format and @context and delivers it, with its retries).
With ``splitEntities`` each notified fragment is merged with this broker's part of the
entity and kept only when the merged entity passes the subscription's q, scopeQ and geoQ.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cityhub.errors import BadRequestData, CityhubError, ResourceNotFound
from cityhub.federation.reader import SourceReader
from cityhub.federation.service import Ask, Federation
from cityhub.ngsild import distributed_subscription as ds
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.federation import (
    ADDITIVE,
    PERSISTENT_WARNING,
    forwards_to,
    merge_lists,
    rank,
    warning,
)
from cityhub.ngsild.query.ast import expand_q
from cityhub.ngsild.query.geo import GeoQuery, parse_geo_query
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.registration_query import matches_registration
from cityhub.ngsild.split import entity_filter
from cityhub.ngsild.subscription import subscription_q
from cityhub.store.base import Store
from cityhub.store.remote_subscriptions import RemoteSubscription, RemoteSubscriptionStore
from cityhub.store.subscriptions import SubscriptionStore

Document = dict[str, Any]
_DEFAULT_GEOPROPERTY = "https://uri.etsi.org/ngsi-ld/location"
#: every subscription of a tenant (a new registration may match any)
_EVERY = 1_000_000


class SubscriptionForwarding:
    """Forwards subscriptions and relays what comes back (one per app).

    Args:
        federation: sends to the sources (and finds the registrations).
        remote: the copies made at sources.
        subscriptions: the local subscriptions.
        store: the local entities (split entities merge with them) and the outbox.
        contexts: resolves a @context to its terms.
        wake: tells the notification dispatcher a relayed notification is queued.
    """

    def __init__(
        self,
        federation: Federation,
        remote: RemoteSubscriptionStore,
        subscriptions: SubscriptionStore,
        store: Store,
        contexts: Callable[[Any], Awaitable[TermMap]],
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.federation = federation
        self.remote = remote
        self.subscriptions = subscriptions
        self.store = store
        self.contexts = contexts
        self.wake = wake

    async def forward(self, ask: Ask, doc: Document, base_url: str) -> list[str]:
        """Send the copies of new local subscription ``doc`` (stored form) to the sources of
        its matching registrations; the warnings of the sources that did not take it."""
        if not ds.is_forwarded(doc, ask.local):
            return []
        found: dict[str, Document] = {}
        for query in ds.registration_queries(doc):
            for reg in await self.federation.matching(ask, query):
                found.setdefault(reg["id"], reg)
        sources = [r for r in found.values() if _takes(r)]
        if not sources:
            return []
        return await self._send_copies(ask, doc, sources, base_url)

    async def registration_created(self, ask: Ask, reg: Document, base_url: str) -> list[str]:
        """Send a copy of each forwarded local subscription that new registration ``reg``
        matches (and takes); the warnings of a source that did not take one."""
        if ask.local or not _takes(reg):
            return []
        docs, _ = await self.subscriptions.query(ask.tenant, _EVERY)
        wanted = [
            d
            for d in docs
            if ds.is_forwarded(d)
            and any(matches_registration(reg, q) for q in ds.registration_queries(d))
        ]
        warnings = []
        for doc in wanted:
            warnings += await self._send_copies(ask, doc, [reg], base_url)
        return warnings

    async def registration_deleted(self, ask: Ask, registration_id: str) -> list[str]:
        """Delete the copies a deleted registration's source held (at the endpoint they were
        sent to); the warnings of a source that failed."""
        copies = await self.remote.forget_registration(ask.tenant, registration_id)
        return await self._delete_copies(ask, copies)

    async def _send_copies(
        self, ask: Ask, doc: Document, sources: list[Document], base_url: str
    ) -> list[str]:
        """Send a copy to each source; each is recorded before it is sent (a source may
        notify before it answers: its first notification must find the copy) and forgotten
        again when the source does not take it (201)."""
        notify_uri = base_url.rstrip("/") + ds.NOTIFY_PATH
        split = bool(doc.get("splitEntities"))
        context = doc.get("jsonldContext") or doc.get("@context")
        copies = [
            RemoteSubscription(
                ds.new_remote_id(), ask.tenant, doc["id"], reg["id"], reg["endpoint"]
            )
            for reg in sources
        ]
        await self.remote.add(copies, _now())

        async def send(reg: Document, copy: RemoteSubscription) -> str | None:
            body = ds.remote_copy(doc, copy.remote_id, notify_uri, split)
            if context is not None:
                body["@context"] = context
            got = await self.federation.exchange(reg, ask, "POST", "/subscriptions", (), body)
            if got.warning is None and got.status == 201:
                return None
            await self.remote.forget_copy(copy.remote_id)
            return got.warning or _warning(
                reg, f"answered HTTP {got.status} to the subscription's copy"
            )

        answers = await asyncio.gather(*(send(r, c) for r, c in zip(sources, copies, strict=True)))
        return [w for w in answers if w is not None]

    async def forget(self, ask: Ask, subscription_id: str) -> list[str]:
        """Delete the copies of a deleted local subscription at their sources (clause
        5.8.5.4: "with the mapped subscriptionId"); the warnings of the sources that failed."""
        return await self._delete_copies(ask, await self.remote.forget(ask.tenant, subscription_id))

    async def _delete_copies(self, ask: Ask, copies: list[RemoteSubscription]) -> list[str]:
        async def delete(copy: RemoteSubscription) -> str | None:
            # the registration as it is now (its tenant, headers); gone: where it was
            reg = await self.federation.registration(ask.tenant, copy.registration_id) or {
                "id": copy.registration_id,
                "endpoint": copy.endpoint,
            }
            path = f"/subscriptions/{copy.remote_id}"
            got = await self.federation.exchange(reg, ask, "DELETE", path, ())
            return got.warning

        answers = await asyncio.gather(*(delete(c) for c in copies))
        return [w for w in answers if w is not None]

    async def relay(self, body: Any, context: Any) -> int:
        """A source's Notification of one of the copies, queued for the local subscriber
        under the local subscription's id; how many entities are notified.

        Raises:
            BadRequestData: ``body`` is not a Notification.
            ResourceNotFound: it names no copy this broker made (or its subscription is gone).
        """
        if not isinstance(body, dict) or not isinstance(body.get("subscriptionId"), str):
            raise BadRequestData("a Notification (clause 5.3.1) with a subscriptionId is needed")
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
            raise BadRequestData("a Notification's data must be an array of entities")
        copy = await self.remote.by_remote_id(body["subscriptionId"])
        if copy is None:
            raise ResourceNotFound(f"no subscription {body['subscriptionId'][:100]} is relayed")
        sub = await self.subscriptions.get(copy.tenant, copy.subscription_id)
        if sub is None:
            raise ResourceNotFound(f"subscription {copy.subscription_id} is gone")
        own = sub.get("jsonldContext") or sub.get("@context")
        terms = await self.contexts(context if context is not None else own)
        reader = SourceReader(terms)
        try:
            entities = [reader.entity(e) for e in data]
        except CityhubError as exc:
            raise BadRequestData(f"a notified entity is not valid NGSI-LD: {exc.detail}") from exc
        if sub.get("splitEntities"):
            entities = await self._merged(copy, sub, entities, await self.contexts(own))
        if not entities:
            return 0
        now = datetime.now(UTC)
        payload: Document = {
            "id": f"urn:ngsi-ld:Notification:{_token()}",
            "type": "Notification",
            "subscriptionId": copy.subscription_id,
            "notifiedAt": format_datetime(now),
            "data": entities,
            "trigger": "entityUpdated",
        }
        await self.store.write(
            copy.tenant, lambda tx: tx.enqueue(copy.subscription_id, payload, now.timestamp())
        )
        self.wake()
        return len(entities)

    async def _merged(
        self, copy: RemoteSubscription, sub: Document, entities: list[Entity], terms: TermMap
    ) -> list[Entity]:
        """The notified fragments merged with this broker's part of each entity, those the
        subscription's filters keep (clause 5.8.6 with splitEntities)."""
        keep = entity_filter(*_filters(sub, terms))
        reg = await self.federation.registration(copy.tenant, copy.registration_id)
        source_rank = rank(reg) if reg is not None else ADDITIVE
        out = []
        for fragment in entities:
            local = await self.store.get_entity(copy.tenant, fragment["id"])
            parts = [([local], ADDITIVE)] if local is not None else []
            merged = merge_lists([*parts, ([fragment], source_rank)])[0]
            if keep(merged):
                out.append(merged)
        return out


def _filters(sub: Document, terms: TermMap) -> tuple[Any, Any, GeoQuery | None]:
    q = expand_q(parse_q(subscription_q(sub["q"])), terms.expand) if sub.get("q") else None
    scope_q = parse_scope_q(sub["scopeQ"]) if sub.get("scopeQ") else None
    geo = None
    raw = sub.get("geoQ")
    if raw:
        parsed = parse_geo_query(
            raw.get("georel"), raw.get("geometry"), raw.get("coordinates"), None
        )
        if parsed is not None:
            geo = GeoQuery(
                parsed.georel,
                parsed.geometry,
                parsed.coordinates,
                raw.get("geoproperty") or _DEFAULT_GEOPROPERTY,
                parsed.max_distance,
                parsed.min_distance,
            )
    return q, scope_q, geo


def _takes(reg: Document) -> bool:
    return forwards_to(reg, ds.OPERATION)


def _warning(reg: Document, text: str) -> str:
    return warning(PERSISTENT_WARNING, reg["endpoint"], f"context source {reg['id']} {text}")


def _now() -> str:
    return format_datetime(datetime.now(UTC))


def _token() -> str:
    return str(uuid.uuid4())


__all__ = ["SubscriptionForwarding"]
