"""Which subscriptions can a change concern? An index, so matching does not scan them all.

A change to entity E (types T, attributes A) can only trigger a subscription that

- has an entity selector with ``id`` = E's id (indexed by id), or
- has a selector whose type query names one of T (indexed by every type name the query holds:
  for ``a;b`` the entity needs both, for ``a|b`` either, so each name is a superset key), or
- has no ``entities`` but ``watchedAttributes`` naming one of A (indexed by attribute), or
- none of those keys (kept in ``rest`` and always tried).

Lookups return each candidate once, in subscription creation order, and the full check is
still :func:`cityhub.notify.matcher.triggered`: the index only drops subscriptions that cannot
match. With 10,000 subscriptions spread over types, a change looks at the few that share its
type or id instead of all of them (``bench/notify_bench.py`` measures it).
"""

from __future__ import annotations

from collections.abc import Iterable

from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import And, Node, Or, TypeName
from cityhub.notify.matcher import Prepared


def _type_names(node: Node) -> list[str]:
    if isinstance(node, TypeName):
        return [node.name]
    if isinstance(node, And | Or):
        return [n for item in node.items for n in _type_names(item)]
    return []


class SubscriptionIndex:
    """Prepared subscriptions of one tenant, keyed by entity id, type name and attribute."""

    def __init__(self, subscriptions: Iterable[Prepared]) -> None:
        self.subscriptions = [s for s in subscriptions if not s.periodic]
        self._by_id: dict[str, list[int]] = {}
        self._by_type: dict[str, list[int]] = {}
        self._by_attr: dict[str, list[int]] = {}
        self._rest: list[int] = []
        for pos, sub in enumerate(self.subscriptions):
            self._add(pos, sub)

    def _add(self, pos: int, sub: Prepared) -> None:
        keys: list[tuple[dict[str, list[int]], str]] = []
        if sub.selectors:
            for sel in sub.selectors:
                if sel.id is not None:
                    keys.append((self._by_id, sel.id))
                    continue
                names = _type_names(sel.types) if sel.types is not None else []
                if not names:  # an idPattern alone, or a selector we cannot key
                    self._rest.append(pos)
                    return
                keys.extend((self._by_type, n) for n in names)
        elif sub.watched:
            keys.extend((self._by_attr, a) for a in sub.watched)
        else:
            self._rest.append(pos)
            return
        for table, key in keys:
            bucket = table.setdefault(key, [])
            if not bucket or bucket[-1] != pos:
                bucket.append(pos)

    def __len__(self) -> int:
        return len(self.subscriptions)

    def candidates(self, before: Entity | None, after: Entity | None) -> list[Prepared]:
        """Subscriptions the change from ``before`` to ``after`` may trigger."""
        found: set[int] = set(self._rest)
        for entity in (before, after):
            if entity is None:
                continue
            found.update(self._by_id.get(entity["id"], ()))
            for t in entity["type"]:
                found.update(self._by_type.get(t, ()))
            if self._by_attr:
                for name in entity["attrs"]:
                    found.update(self._by_attr.get(name, ()))
        return [self.subscriptions[i] for i in sorted(found)]


__all__ = ["SubscriptionIndex"]
