"""An index of attribute values, so that ``q`` equality terms find their entities directly.

Without it a q term is a test run on each entity row that the other filters let through (see
``compile.py``): ``type=Sensor&q=name=="Jeongja"`` reads every Sensor. This table holds, per
entity and attribute, the scalar values that a q term on the attribute's top level compares
(the ``candidates`` of ``compile._Target`` for a path without sub-attributes or compound keys):
the elements of the first present value member (``value`` or its ``@value``, ``object``, ``vocab``,
``json``, ``valueList``; a scalar is its own element), every string of a ``languageMap``, every
``object`` of an ``objectList``. Only texts are indexed (up to :data:`MAX_TEXT` characters): names,
categories, states, relationship objects. Numbers are not: they are what sensors rewrite on
every update (indexing them made the index the largest cost of a write), equality on a
measured number is rare, and range terms (``pm25>35``) never used the index anyway; numeric
terms are tested on the rows the other filters select.

Each row also carries one of the entity's types, so that ``type=T&q=name=="x"`` reads exactly
the entities of type T with that value, however many others share it.

The index is only ever a *pre-filter*: :func:`driver` picks one equality term of the query's
top-level conjunction whose every possible match is in the table, and the compiled q still runs
on the rows it yields, so the results are exactly those of the query without the index. The
rows are written by a transaction hook, in the same transaction as the change.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cityhub.ngsild.query.ast import Node
from cityhub.store.base import Change
from cityhub.store.qvalues import MAX_TEXT, best_term, entity_values, instance_values

# The table is migration 0003's. Its layout's history, when ``meta['q_index']`` held its version
# (cityhub.store.sqlite.legacy still reads it): 2: the value index covers entity_id; 3: one row
# per entity type too; 4: texts only, and the table is keyed by entity (WITHOUT ROWID: one
# B-tree less to write per row). A later change is a numbered migration calling fill_q_index.
_INSERT = "INSERT OR IGNORE INTO q_index (tenant, attr, v, type, entity_id) VALUES (?, ?, ?, ?, ?)"


def _rows(
    tenant: str, entity_id: str, types: list[str], values: dict[str, set[Any]], attrs: Any
) -> list[tuple[Any, ...]]:
    return [
        (tenant, a, v, t, entity_id) for a in attrs if a in values for v in values[a] for t in types
    ]


def index_change(conn: sqlite3.Connection, change: Change) -> None:
    """Rewrite the rows of changed attributes (``SqliteTransaction`` calls it for each change)."""
    tenant, eid = change.tenant, change.entity_id
    types: list[str] = list(change.after["type"]) if change.after is not None else []
    if (
        change.kind != "entityCreated"
        and change.before is not None
        and change.after is not None
        and change.before["type"] == change.after["type"]
    ):
        # only the attributes whose instances differ can have other values (an update names
        # one or two of an entity's attributes): the others are compared, not indexed again
        was, now = change.before.get("attrs") or {}, change.after.get("attrs") or {}
        touched = [a for a in was.keys() | now.keys() if was.get(a) != now.get(a)]
        before = entity_values({"attrs": {a: was[a] for a in touched if a in was}})
        after = entity_values({"attrs": {a: now[a] for a in touched if a in now}})
        changed = [a for a in before.keys() | after.keys() if before.get(a) != after.get(a)]
        if not changed:
            return
        conn.execute(
            "DELETE FROM q_index WHERE tenant = ? AND entity_id = ? "
            f"AND attr IN ({','.join('?' * len(changed))})",
            (tenant, eid, *changed),
        )
        conn.executemany(_INSERT, _rows(tenant, eid, types, after, changed))
        return
    after = entity_values(change.after)
    if change.kind != "entityCreated":
        conn.execute("DELETE FROM q_index WHERE tenant = ? AND entity_id = ?", (tenant, eid))
    conn.executemany(_INSERT, _rows(tenant, eid, types, after, after.keys()))


def fill_q_index(conn: sqlite3.Connection) -> None:
    """Index every stored entity (the table is empty: new, or dropped for a new layout)."""
    rows = conn.execute("SELECT tenant, id, types, attrs FROM entities")
    for tenant, eid, types, attrs in rows:
        values = entity_values({"attrs": orjson.loads(attrs)})
        conn.executemany(_INSERT, _rows(tenant, eid, orjson.loads(types), values, values))


def _index_rows(
    attr: str, values: list[Any], tenant: str, types: tuple[str, ...], params: list[Any]
) -> str:
    params.extend([tenant, attr, *values])
    sql = f"x.tenant = ? AND x.attr = ? AND x.v IN ({','.join('?' * len(values))})"
    if types:  # the type is part of the index key: the candidates are of the type already
        sql += f" AND x.type IN ({','.join('?' * len(types))})"
        params.extend(types)
    return sql


def driver(
    node: Node,
    tenant: str,
    params: list[Any],
    alias: str = "e",
    types: tuple[str, ...] = (),
) -> str | None:
    """A condition ``alias.id IN (…q_index…)`` for the best equality term of the top-level
    conjunction, or None when no term can use the index. Appends its parameters.

    ``types``: the query's entity types, matched in the index key, so that only candidates of
    those types are ever looked up in ``entities``."""
    best = best_term(node)
    if best is None:
        return None
    rows = _index_rows(*best, tenant, types, params)
    return f"{alias}.id IN (SELECT x.entity_id FROM q_index x WHERE {rows})"


def driven_from(node: Node, tenant: str, types: tuple[str, ...], params: list[Any]) -> str | None:
    """``FROM … WHERE …`` walking the index first and joining each candidate's entity row ``e``
    (for a query in the default order: a page stops reading once it is full). Rows come in the
    index's order, by value, type and entity id; an entity may come once per matching value or
    type (callers keep the first). None when no term can use the index."""
    best = best_term(node)
    if best is None:
        return None
    rows = _index_rows(*best, tenant, types, params)
    return (
        "FROM q_index x CROSS JOIN entities e ON e.tenant = x.tenant AND e.id = x.entity_id "
        f"WHERE {rows}"
    )


__all__ = [
    "MAX_TEXT",
    "driven_from",
    "driver",
    "entity_values",
    "fill_q_index",
    "index_change",
    "instance_values",
]
