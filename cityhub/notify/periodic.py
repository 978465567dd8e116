"""Periodic notifications (clause 5.2.12 ``timeInterval``; behaviour clause 5.8.6): every
``timeInterval`` seconds, whatever changed, a notification with every entity the subscription
selects (``entities``, ``q``, ``scopeQ``, ``geoQ``).

The schedule lives in the database (``notify_periodic``), and the notification is queued in the
outbox in the same transaction that moves the schedule on, so a restart neither loses a round
nor sends one twice. The first round is due when the subscription is first seen; a paused or
expired subscription keeps its cadence but sends nothing; a round that selects no entity sends
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cityhub.access.control import AccessControl
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import TypeName
from cityhub.ngsild.subscription import subscription_status
from cityhub.notify.matcher import Prepared, TermMaps, prepare
from cityhub.notify.trigger import new_notification_id
from cityhub.store.base import EntityQuery, Store
from cityhub.store.outbox import PeriodicSchedule
from cityhub.store.subscriptions import SubscriptionStore

log = logging.getLogger("cityhub.notify")

Document = dict[str, Any]
#: the most entities one periodic notification carries
MAX_ENTITIES = 1000


def entity_queries(sub: Prepared) -> list[EntityQuery]:
    """The queries that select a subscription's entities, one per entity selector."""
    common: dict[str, Any] = {
        "q": sub.q,
        "scope_q": sub.scope_q,
        "geo": sub.geo,
        "limit": MAX_ENTITIES,
    }
    if not sub.selectors:
        return [EntityQuery(**common)]
    queries = []
    for sel in sub.selectors:
        kind: dict[str, Any] = {}
        if isinstance(sel.types, TypeName):
            kind["types"] = (sel.types.name,)
        elif sel.types is not None:
            kind["type_query"] = sel.types
        queries.append(
            EntityQuery(
                ids=(sel.id,) if sel.id else (),
                id_pattern=sel.id_pattern.pattern if sel.id_pattern else None,
                **kind,
                **common,
            )
        )
    return queries


class PeriodicNotifier:
    """Queues the periodic notifications that are due (called by the dispatcher each round).

    Args:
        store: where the subscriptions' entities are queried.
        subscriptions: where the periodic subscriptions are read.
        term_maps: the @context cache q is read with.
        schedule: the backend's schedule of rounds (its outbox).
        clock: seconds since the epoch (tests pass a fake).
        owners: access control: a round of a subscription with an owner selects only the
            entities its owner may read (in the store query).
    """

    def __init__(
        self,
        store: Store,
        subscriptions: SubscriptionStore,
        term_maps: TermMaps,
        schedule: PeriodicSchedule,
        clock: Callable[[], float] = time.time,
        owners: AccessControl | None = None,
    ) -> None:
        self.store = store
        self.owners = owners
        self.subscriptions = subscriptions
        self.term_maps = term_maps
        self.clock = clock
        self.schedule = schedule
        self._version = -1
        self._periodic: list[tuple[str, Document]] = []

    async def _load(self) -> None:
        version = await self.schedule.subscriptions_version()
        if version == self._version:
            return
        self._version = version
        self._periodic = [
            (tenant, doc)
            for tenant, doc in await self.subscriptions.all()
            if doc.get("timeInterval")
        ]

    async def _entities(self, tenant: str, doc: Document) -> list[Entity]:
        sub = prepare(tenant, doc, self.term_maps)
        permitted = None
        owner = doc.get("_owner")
        if owner is not None and self.owners is not None:
            permitted = (await self.owners.owner_access(tenant, owner)).permitted("read")
        found: dict[str, Entity] = {}
        for query in entity_queries(sub):
            if permitted is not None:
                query = replace(query, permitted=permitted)
            result = await self.store.query_entities(tenant, query)
            for entity in result.entities:
                found.setdefault(entity["id"], entity)
        return list(found.values())[:MAX_ENTITIES]

    async def run_due(self) -> float | None:
        """Queue every round that is due; returns when the next one is (None: no periodic
        subscription)."""
        await self._load()
        schedule = await self.schedule.periodic_schedule()
        keys = {(tenant, str(doc["id"])) for tenant, doc in self._periodic}
        stale = [k for k in schedule if k not in keys]
        if stale:
            await self.schedule.periodic_forget(stale)
        upcoming: float | None = None
        for tenant, doc in self._periodic:
            sub_id = str(doc["id"])
            interval = float(doc["timeInterval"])
            due = schedule.get((tenant, sub_id))
            now = self.clock()
            if due is None or due <= now:
                payload = None
                stamp = datetime.fromtimestamp(now, UTC)
                if subscription_status(doc, stamp) == "active":
                    try:
                        entities = await self._entities(tenant, doc)
                    except Exception:
                        log.exception("periodic subscription %s: its query failed", sub_id)
                        entities = []
                    if entities:
                        payload = {
                            "id": new_notification_id(),
                            "type": "Notification",
                            "subscriptionId": sub_id,
                            "notifiedAt": format_datetime(stamp),
                            "data": entities,
                            "trigger": "timeInterval",
                        }
                previous, due = due, now + interval
                if not await self.schedule.periodic_fire(
                    tenant, sub_id, payload, now, due, previous
                ):  # another worker sent this round: read its schedule next time
                    due = now
            upcoming = due if upcoming is None else min(upcoming, due)
        return upcoming


__all__ = [
    "MAX_ENTITIES",
    "PeriodicNotifier",
    "entity_queries",
]
