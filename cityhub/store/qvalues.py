"""The values of the q value index, for every backend: which texts an entity's attributes give a
q equality term to find (``entity_values``), and which term of a query can use them
(``best_term``). SQLite keeps them in its ``q_index`` table (``cityhub.store.sqlite.qindex``,
whose docstring explains the choice of values), PostgreSQL in its own (migration 0018,
``cityhub.store.postgres.qindex``); both only ever pre-filter: the compiled q still runs on
the rows the index yields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cityhub.ngsild.query.ast import And, Comparison, DateTimeValue, Node, ValueList

#: the longest text indexed (a longer one is tested on the rows the other filters select)
MAX_TEXT = 256

_FIRST_PRESENT = ("value", "object", "vocab", "json", "valueList")
_ENTITY_MEMBERS = {"id", "@id", "createdAt", "modifiedAt"}


def _scalars(value: Any) -> Iterator[str]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str) and len(item) <= MAX_TEXT:
            yield item


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        if len(node) <= MAX_TEXT:
            yield node
    elif isinstance(node, dict):
        for child in node.values():
            yield from _texts(child)
    elif isinstance(node, list):
        for child in node:
            yield from _texts(child)


def instance_values(instance: dict[str, Any]) -> set[Any]:
    """The indexed values of one attribute instance (see the module docstring)."""
    target = instance.get("value")
    if target is not None and "languageMap" not in instance and "objectList" not in instance:
        # the commonest instances, a number or a text in ``value``: no loop over the members
        kind = type(target)
        if kind is str:
            return {target} if len(target) <= MAX_TEXT else set()
        if kind is float or kind is int or kind is bool:
            return set()
    return _values(instance)


def _values(instance: dict[str, Any]) -> set[Any]:
    found: set[Any] = set()
    for name in _FIRST_PRESENT:
        target = instance.get(name)
        if name == "value" and isinstance(target, dict) and target.get("@value") is not None:
            target = target["@value"]
        if target is not None:
            if not isinstance(target, dict):
                found.update(_scalars(target))
            break
    if "languageMap" in instance:
        found.update(_texts(instance["languageMap"]))
    objects = instance.get("objectList")
    if isinstance(objects, list):
        for item in objects:
            if isinstance(item, dict) and isinstance(item.get("object"), str):
                found.update(_scalars(item["object"]))
    return found


def entity_values(entity: dict[str, Any] | None) -> dict[str, set[Any]]:
    """Attribute IRI -> its indexed values, over all instances."""
    out: dict[str, set[Any]] = {}
    for attr, instances in ((entity or {}).get("attrs") or {}).items():
        if not isinstance(instances, list):
            continue
        values: set[Any] | None = None
        for inst in instances:
            if isinstance(inst, dict) and inst.get("type") != "GeoProperty":
                found = instance_values(inst)  # a new set each time: safe to grow
                if found:
                    if values is None:
                        values = found
                    else:
                        values |= found
        if values:
            out[attr] = values
    return out


def _indexable(value: Any) -> bool:
    return (
        isinstance(value, str) and not isinstance(value, DateTimeValue) and len(value) <= MAX_TEXT
    )


def _candidate(node: Comparison) -> tuple[int, list[Any]] | None:
    """(rank, values) when the term can drive: lower rank first (fewer values)."""
    path = node.path
    if node.op != "==" or path.sub or path.compound or path.attr in _ENTITY_MEMBERS:
        return None
    items = list(node.value.items) if isinstance(node.value, ValueList) else [node.value]
    if not items or not all(_indexable(v) for v in items):
        return None
    return len(items) - 1, [str(v) for v in items]


def best_term(node: Node) -> tuple[str, list[Any]] | None:
    """(attribute, values) of the equality term of the top-level conjunction with the fewest
    values whose every possible match is indexed, or None when no term can use the index."""
    terms = node.items if isinstance(node, And) else (node,)
    best: tuple[int, str, list[Any]] | None = None
    for term in terms:
        if not isinstance(term, Comparison):
            continue
        found = _candidate(term)
        if found is not None and (best is None or found[0] < best[0]):
            best = (found[0], term.path.attr, found[1])
    return None if best is None else (best[1], best[2])


__all__ = ["MAX_TEXT", "best_term", "entity_values", "instance_values"]
