"""Linked entity retrieval (clause 4.5.23, ``join=inline|flat``, ``joinLevel``): the response
of retrieval with the linked entities inline or appended. Fetching them is the service
:func:`cityhub.linked.fetch_linked` (one store query per level), shared with notifications."""

from __future__ import annotations

from typing import Any

from cityhub.linked import fetch_linked
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.render import Projection, render_entity
from cityhub.store.base import Store


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
