"""Paged distributed queries kept consistent by an EntityMap (ETSI GS CIM 009 v1.9.1 clauses
5.5.14 and 5.14.4; ``cityhub.ngsild.entity_map`` holds the rules, ``cityhub.store.entity_maps``
the maps).

:func:`create_map` runs the query over this broker and the matching sources (the whole
window a source is asked for, ``max_limit`` entities) and records, in the merged order, which
of them holds each entity. :func:`query_with_map` answers a later page from the map: only
the entities it lists are considered, in its order, and an entity that no longer matches
the query is dropped from the map, unless its source did not answer (then nothing can be
inferred about it, clause 5.5.14). A map whose sources were asked through a query keeps
no ``linkedMaps``: the sources are not asked for maps of their own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.federation.service import Ask, Federated, Federation
from cityhub.ngsild import entity_map as em
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import format_datetime
from cityhub.store.base import EntityQuery, Store
from cityhub.store.entity_maps import EntityMapStore

#: parameters of the caller that are not the query's (its paging, and the map's own)
_NOT_QUERY = frozenset({"limit", "offset", "count", "entityMap", "entityMapLifetime"})


def _wide(
    federation: Federation, query: EntityQuery, params: Sequence[tuple[str, str]]
) -> tuple[EntityQuery, list[tuple[str, str]]]:
    """The query over its whole window: from the first entity, ``max_limit`` of them."""
    window = federation.max_window
    wide = dataclasses.replace(query, offset=0, limit=window, count=False)
    forwarded = [(k, v) for k, v in params if k not in _NOT_QUERY]
    return wide, [*forwarded, ("limit", str(window))]


def _page(query: EntityQuery, matched: list[Any], warnings: list[str]) -> Federated:
    end = query.offset + query.limit
    page = matched[query.offset : end]
    count = len(matched) if query.count else None
    return Federated(page, count, warnings, more=bool(query.limit) and len(matched) > end)


async def create_map(
    federation: Federation,
    store: Store,
    maps: EntityMapStore,
    ask: Ask,
    query: EntityQuery,
    terms: TermMap,
    params: Sequence[tuple[str, str]],
    life: timedelta,
) -> tuple[dict[str, Any], Federated]:
    """Clause 5.14.4: a new, stored map of the entities matching ``query`` here and at the
    sources, and the page of ``query`` it gives (the first page the map fixes)."""
    wide, forwarded = _wide(federation, query, params)
    result = await federation.query_entities(store, ask, wide, terms, params=forwarded)
    now = datetime.now(UTC)
    doc = em.new_map(f"urn:ngsi-ld:EntityMap:{uuid.uuid4()}", now, life, result.sources)
    await maps.create(ask.tenant, doc, format_datetime(now))
    return doc, _page(query, result.entities, result.warnings)


async def query_with_map(
    federation: Federation,
    store: Store,
    maps: EntityMapStore,
    ask: Ask,
    doc: dict[str, Any],
    query: EntityQuery,
    terms: TermMap,
    params: Sequence[tuple[str, str]],
) -> Federated:
    """Clause 5.5.14: ``query`` answered over the entities map ``doc`` lists (narrowed to the
    query's ids, if it names some), in the map's order; the ones that no longer match are
    removed from the stored map."""
    ids = em.candidates(doc, query.ids)
    if not ids:
        return _page(query, [], [])
    wide, forwarded = _wide(federation, dataclasses.replace(query, ids=tuple(ids)), params)
    result = await federation.query_entities(store, ask, wide, terms, params=forwarded)
    order = {eid: i for i, eid in enumerate(ids)}
    matched = sorted((e for e in result.entities if e["id"] in order), key=lambda e: order[e["id"]])
    found = {e["id"] for e in matched}
    held = doc["entityMap"]
    gone = [eid for eid in ids if eid not in found and not set(held.get(eid, ())) & result.failed]
    if gone:
        now = format_datetime(datetime.now(UTC))
        await maps.change(ask.tenant, doc["id"], now, lambda d: em.prune(d, gone))
    return _page(query, matched, result.warnings)
