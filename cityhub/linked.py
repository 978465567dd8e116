"""Linked entities (clause 4.5.23, ``join=inline|flat`` and ``joinLevel``, for retrieval and
for a subscription's ``notification.join``): the entities the given ones point to through
their relationships, level by level, one store query per level (no N+1).

A service: it reads through the store protocol only, so the delivery layer
(``cityhub.api.linking`` renders the retrieval response) and the notifications
(``cityhub.notify.dispatcher``, for ``notification.join``) share this one traversal. May
import ``cityhub.ngsild`` and ``cityhub.store``.
"""

from __future__ import annotations

from cityhub.ngsild.entity import Entity
from cityhub.ngsild.render import Projection, linked_ids
from cityhub.store.base import EntityQuery, Store

_MAX_LINKED = 1000  # entities fetched per level at most


async def fetch_linked(
    store: Store,
    tenant: str,
    roots: list[Entity],
    proj: Projection,
    level: int,
    permitted: tuple[EntityQuery, ...] | None = None,
) -> tuple[dict[str, Entity], list[tuple[Entity, Projection]]]:
    """Every entity reachable from ``roots`` within ``level`` hops.

    Args:
        store: where the linked entities are read.
        tenant: the tenant of ``roots``.
        roots: the entities to start from (never fetched again).
        proj: the projection ``roots`` are shown in; ``linked_ids`` derives each linked
            entity's own projection from it.
        level: ``joinLevel``; 0 or less fetches nothing.
        permitted: only the entities the caller may read (access control; None: all).

    Returns:
        The linked entities by id (for ``inline``), and in visiting order each with the
        projection it is shown in (for ``flat``).
    """
    found: dict[str, Entity] = {e["id"]: e for e in roots}
    linked: dict[str, Entity] = {}
    order: list[tuple[Entity, Projection]] = []
    frontier = [(e, proj) for e in roots]
    for _ in range(max(0, level)):
        wanted: dict[str, Projection] = {}
        for entity, p in frontier:
            for target, sub in linked_ids(entity, p):
                if target not in wanted and target not in linked:
                    wanted[target] = sub
        missing = [i for i in wanted if i not in found][:_MAX_LINKED]
        if missing:
            result = await store.query_entities(
                tenant, EntityQuery(ids=tuple(missing), limit=len(missing), permitted=permitted)
            )
            found.update((e["id"], e) for e in result.entities)
        frontier = [(found[t], sub) for t, sub in wanted.items() if t in found]
        for entity, sub in frontier:
            linked[entity["id"]] = entity
            order.append((entity, sub))
        if not frontier:
            break
    return linked, order


__all__ = ["fetch_linked"]
