"""Linked entity retrieval (clause 4.5.23, ``join=inline|flat``, ``joinLevel``): fetch the
entities relationships point to, level by level, one store query per level (no N+1)."""

from __future__ import annotations

from typing import Any

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.render import Projection, linked_ids, render_entity
from cityhub.store.base import EntityQuery, Store

_MAX_LINKED = 1000


async def fetch_linked(
    store: Store, tenant: str, roots: list[Entity], proj: Projection, level: int
) -> tuple[dict[str, Entity], list[tuple[Entity, Projection]]]:
    """Every entity reachable within ``level`` hops, and (for flat) each with its projection."""
    found: dict[str, Entity] = {e["id"]: e for e in roots}
    linked: dict[str, Entity] = {}
    flat: list[tuple[Entity, Projection]] = []
    frontier = [(e, proj) for e in roots]
    for _ in range(level):
        wanted: dict[str, Projection] = {}
        for entity, p in frontier:
            for target, sub in linked_ids(entity, p):
                if target not in wanted and target not in linked:
                    wanted[target] = sub
        missing = [i for i in wanted if i not in found][:_MAX_LINKED]
        if missing:
            result = await store.query_entities(
                tenant, EntityQuery(ids=tuple(missing), limit=len(missing))
            )
            for e in result.entities:
                found[e["id"]] = e
        frontier = []
        for target, sub in wanted.items():
            if target in found:
                linked[target] = found[target]
                frontier.append((found[target], sub))
                flat.append((found[target], sub))
        if not frontier:
            break
    return linked, flat


async def render_with_links(
    store: Store,
    tenant: str,
    entities: list[Entity],
    terms: TermMap,
    proj: Projection,
    join: str | None,
    level: int,
) -> list[dict[str, Any]]:
    """Rendered entities, with linked ones inline or appended (flat), empty ones dropped."""
    if join is None:
        docs = [render_entity(e, terms, proj) for e in entities]
        return [d for d in docs if d]
    linked, flat = await fetch_linked(store, tenant, entities, proj, level)
    if join == "inline":
        docs = [render_entity(e, terms, proj, linked, level) for e in entities]
        return [d for d in docs if d]
    docs = [render_entity(e, terms, proj) for e in entities]
    seen = {e["id"] for e in entities}
    for entity, sub in flat:
        if entity["id"] not in seen:
            seen.add(entity["id"])
            docs.append(render_entity(entity, terms, sub))
    return [d for d in docs if d]
