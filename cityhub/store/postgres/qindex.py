"""PostgreSQL's q value index (migration 0018): ``q`` equality terms find their entities by index.

Without it, ``type=T&q=name=="x"`` reads every entity of type T and walks its JSONB (measured:
28-43 ms for the 1,000 entities of a type in ``bench/suite.py``'s 10,000, one worker). The
table holds the rows SQLite's ``q_index`` holds (``cityhub.store.qvalues``: per entity,
attribute and type, the texts a top-level equality term compares), keyed by
(tenant, attr, v, type, entity_id), and :func:`driver` turns the best equality term of a query
into ``e.id IN (...)`` on it. The index is only a pre-filter: the compiled q still runs on the
candidates, so answers are those of the query without it, and a row too many (a value an entity
no longer has) costs a candidate, never a wrong answer; a row too few would, so every change
writes all the current rows of the attributes it touched.

Rows are written once per transaction, before it commits (``PostgresTransaction.flush_work``)
or before it queries (``query_ids``): one statement for a whole batch, from the changes'
``before`` and ``after`` (:func:`rows_of`). Migration 0018 fills the table for stored entities
with ``cityhub_q_values``, its SQL twin of :func:`cityhub.store.qvalues.entity_values`
(tests/postgres/test_pg_qindex.py holds them equal).
"""

from __future__ import annotations

from collections.abc import Sequence

from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import Node
from cityhub.store.base import Change
from cityhub.store.postgres.bridge import SyncConnection
from cityhub.store.postgres.params import Params
from cityhub.store.qvalues import best_term, entity_values

#: one q_index row: (entity_id, attr, v, type)
Row = tuple[str, str, str, str]

_WRITE = (
    "WITH gone AS (DELETE FROM q_index q USING unnest($2::text[], $3::text[], $4::text[], "
    "$5::text[]) AS d(entity_id, attr, v, type) WHERE q.tenant = $1 AND q.attr = d.attr AND "
    "q.v = d.v AND q.type = d.type AND q.entity_id = d.entity_id) "
    "INSERT INTO q_index (tenant, attr, v, type, entity_id) SELECT $1, n.attr, n.v, n.type, "
    "n.entity_id FROM unnest($6::text[], $7::text[], $8::text[], $9::text[]) AS "
    "n(entity_id, attr, v, type) ON CONFLICT DO NOTHING"
)


def _entity_rows(entity: Entity | None, attrs: Sequence[str] | None) -> set[Row]:
    """The rows of ``entity`` for ``attrs`` (None: every attribute)."""
    if entity is None:
        return set()
    stored = entity.get("attrs") or {}
    if attrs is not None:
        stored = {a: stored[a] for a in attrs if a in stored}
    values = entity_values({"attrs": stored})
    eid = entity["id"]
    return {(eid, a, v, t) for a, vs in values.items() for v in vs for t in entity["type"]}


def rows_of(changes: Sequence[Change]) -> tuple[list[Row], list[Row]]:
    """(rows to delete, rows to insert) for ``changes``, in order, as one net change per
    entity: from the first one's ``before`` to the last one's ``after``. The two lists never
    share a row (so one statement can do both). An update whose ``before`` is unknown deletes
    nothing (its old rows stay, a harmless pre-filter row each)."""
    first: dict[str, Change] = {}
    last: dict[str, Change] = {}
    for change in changes:
        first.setdefault(change.entity_id, change)
        last[change.entity_id] = change
    deletes: set[Row] = set()
    inserts: set[Row] = set()
    for eid, start in first.items():
        before, after = start.before, last[eid].after
        attrs: list[str] | None = None
        if before is not None and after is not None and before["type"] == after["type"]:
            # only the attributes whose instances differ can have other values
            was, now = before.get("attrs") or {}, after.get("attrs") or {}
            attrs = [a for a in was.keys() | now.keys() if was.get(a) != now.get(a)]
            if not attrs:
                continue
        new = _entity_rows(after, attrs)
        inserts |= new
        deletes |= _entity_rows(before, attrs) - new
    return sorted(deletes), sorted(inserts)


def write(conn: SyncConnection, tenant: str, changes: Sequence[Change]) -> None:
    """Bring the rows of ``changes``' entities up to date (nothing to send when no text of
    theirs changed: a sensor's new reading is a number)."""
    deletes, inserts = rows_of(changes)
    if not deletes and not inserts:
        return
    conn.execute(_WRITE, tenant, *_columns(deletes), *_columns(inserts))


def _columns(rows: list[Row]) -> list[list[str]]:
    return [[r[i] for r in rows] for i in range(4)]


def driver(node: Node, tenant_param: str, types: Sequence[str], params: Params) -> str | None:
    """``e.id IN (...)`` over q_index for the best equality term of ``node``'s top-level
    conjunction (of the query's ``types`` already, when it names some), or None when no term
    can use the index."""
    best = best_term(node)
    if best is None:
        return None
    attr, values = best
    sql = (
        f"SELECT x.entity_id FROM q_index x WHERE x.tenant = {tenant_param} AND "
        f"x.attr = {params.add(attr)} AND x.v = ANY({params.add(list(values), 'text[]')})"
    )
    if types:  # the type is part of the key: the candidates are of the type already
        sql += f" AND x.type = ANY({params.add(list(types), 'text[]')})"
    return f"e.id IN ({sql})"


__all__ = ["driver", "rows_of", "write"]
