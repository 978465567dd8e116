"""cityhub.linked: the one traversal of linked entities (clause 4.5.23), for retrieval's
``join`` and a subscription's ``notification.join``."""

from __future__ import annotations

import asyncio
from typing import Any

from cityhub.linked import fetch_linked
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.render import Projection
from cityhub.store.base import EntityQuery, QueryResult

NEAR = "https://example.org/near"


def node(eid: str, *targets: str) -> Entity:
    attrs: dict[str, Any] = {}
    if targets:
        attrs[NEAR] = [{"type": "Relationship", "object": list(targets)}]
    return {"id": eid, "type": ["https://example.org/T"], "attrs": attrs}


class FakeStore:
    """Answers id queries from a dict and records them (one query per level, no N+1)."""

    def __init__(self, *entities: Entity) -> None:
        self.entities = {e["id"]: e for e in entities}
        self.queries: list[tuple[str, ...]] = []

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        self.queries.append(query.ids)
        return QueryResult([self.entities[i] for i in query.ids if i in self.entities])


def run(store: FakeStore, roots: list[Entity], level: int) -> tuple[list[str], list[str]]:
    linked, order = asyncio.run(fetch_linked(store, "t", roots, Projection(), level))  # type: ignore[arg-type]
    return sorted(linked), [e["id"] for e, _ in order]


def test_level_by_level_one_query_each() -> None:
    a, b, c, d = node("a", "b", "c"), node("b", "d"), node("c", "missing"), node("d", "a")
    store = FakeStore(a, b, c, d)
    assert run(store, [a], 1) == (["b", "c"], ["b", "c"])
    assert store.queries == [("b", "c")]
    store.queries.clear()
    # d points back to the root a: a is linked (shown inline under d) but never fetched again,
    # and the walk stops there (a was visited)
    assert run(store, [a], 5) == (["a", "b", "c", "d"], ["b", "c", "d", "a"])
    assert store.queries == [("b", "c"), ("d", "missing")]


def test_no_level_fetches_nothing() -> None:
    store = FakeStore(node("b"))
    for level in (0, -1):
        assert run(store, [node("a", "b")], level) == ([], [])
    assert store.queries == []
