"""The ``entities`` table in PostgreSQL: decoding its rows, and the WHERE and ORDER BY of an
entity query (clause 5.7.2; ``orderBy``, v1.9 clause 4.24) with bound parameters. The store's
reads, the write transaction's ``query_ids`` and the temporal store's entity selection share
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import has_pattern
from cityhub.store.base import EntityQuery, OrderItem
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import geo, qindex
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.regex import to_postgres

#: the columns :func:`row_to_entity` decodes, of ``entities e``
COLUMNS = "e.id, e.types::text, e.scopes::text, e.created_at, e.modified_at, e.attrs::text"


def row_to_entity(row: Sequence[Any]) -> Entity:
    entity: Entity = {"id": row[0], "type": orjson.loads(row[1])}
    if row[2]:
        scopes = orjson.loads(row[2])
        if scopes:
            entity["scope"] = scopes
    entity["createdAt"] = row[3]
    entity["modifiedAt"] = row[4]
    entity["attrs"] = orjson.loads(row[5])
    return entity


def where_clause(tenant: str, query: EntityQuery, params: Params, *, q_index: bool = True) -> str:
    """The WHERE clause of a query; its values go to ``params`` (the tenant first).

    ``q_index``: ``e`` is a row of ``entities``, whose q value index (``qindex.driver``) may
    list the candidates; False for rows of another table (the temporal store's heads)."""
    tenant_param = params.add(tenant)
    clauses = [f"e.tenant = {tenant_param}"]
    types_done = False
    if query.q is not None and q_index:
        # an equality term of q that the value index serves lists the candidates, of the
        # query's types already (qindex.py); the compiled q below still decides
        driven = qindex.driver(query.q, tenant_param, query.types, params)
        if driven is not None:
            clauses.append(driven)
            types_done = True
    if query.ids:
        clauses.append(f"e.id = ANY({params.add(list(query.ids), 'text[]')})")
    if query.id_pattern is not None:
        clauses.append(f"e.id ~ {params.add(to_postgres(query.id_pattern))}")
    if query.types and not types_done:
        clauses.append(
            # uncorrelated (the tenant parameter, not e.tenant): a hashed semi-join, not a
            # sub-plan run for every row
            f"e.id IN (SELECT t.id FROM entity_types t WHERE t.tenant = {tenant_param} AND "
            f"t.type = ANY({params.add(list(query.types), 'text[]')}))"
        )
    if query.type_query is not None:
        clauses.append(qcompile.compile_type_query(query.type_query, params, "e"))
    if query.attrs:
        clauses.append(f"e.attrs ?| {params.add(list(query.attrs), 'text[]')}")
    if query.q is not None:
        clauses.append(qcompile.compile_q(query.q, params, "e"))
    if query.geo is not None:
        clauses.append(geo.compile_geo(query.geo, params, "e", tenant_param))
    if query.scope_q is not None:
        clauses.append(qcompile.compile_scope_q(query.scope_q, params, "e"))
    if query.permitted is not None:
        # access control: any of the selectors, each compiled as a query
        parts = [where_clause(tenant, s, params, q_index=q_index) for s in query.permitted]
        clauses.append(" OR ".join(f"({p})" for p in parts) if parts else "false")
    return " AND ".join(f"({c})" for c in clauses)


def carries_pattern(query: EntityQuery) -> bool:
    """Whether a query holds a caller's regular expression (idPattern, ``~=`` in q)."""
    return (
        query.id_pattern is not None
        or has_pattern(query.q)
        or any(carries_pattern(s) for s in query.permitted or ())
    )


_ORDER_COLUMNS = {
    "id": 'e.id COLLATE "C"',
    "type": 'e.types::text COLLATE "C"',
    "createdAt": 'e.created_at COLLATE "C"',
    "modifiedAt": 'e.modified_at COLLATE "C"',
}
_MEMBER_KEYS = {"createdAt", "modifiedAt", "observedAt", "unitCode", "datasetId", "value", "object"}


def order_clause(items: tuple[OrderItem, ...], params: Params) -> str:
    """ORDER BY for ``orderBy`` (v1.9 clause 4.24); insertion order breaks ties.

    Values sort as on SQLite: missing and null first, then numbers (booleans as 0 and 1), then
    text byte-wise, then arrays and objects by their JSON text.
    """
    parts: list[str] = []
    for item in items:
        direction = "DESC" if item.descending else "ASC"
        if item.name in _ORDER_COLUMNS and not item.path:
            parts.append(f"{_ORDER_COLUMNS[item.name]} {direction}")
            continue
        path = [item.name, "0", *item.path]
        if not item.path or item.path[-1] not in _MEMBER_KEYS:
            value = params.add([*path, "value"], "text[]")
            obj = params.add([*path, "object"], "text[]")
            key = f"COALESCE(e.attrs #> {value}, e.attrs #> {obj})"
        else:
            key = f"(e.attrs #> {params.add(path, 'text[]')})"
        kind = f"jsonb_typeof({key})"
        parts.extend(
            (
                f"(CASE WHEN {kind} IS NULL OR {kind} = 'null' THEN 0 "
                f"WHEN {kind} IN ('number', 'boolean') THEN 1 "
                f"WHEN {kind} = 'string' THEN 2 ELSE 3 END) {direction}",
                f"(CASE {kind} WHEN 'number' THEN ({key})::numeric WHEN 'boolean' THEN "
                f"(CASE WHEN {key} = 'true'::jsonb THEN 1 ELSE 0 END) END) {direction}",
                f"(CASE WHEN {kind} = 'string' THEN {key} #>> '{{}}' ELSE {key}::text END) "
                f'COLLATE "C" {direction}',
            )
        )
    parts.append("e.seq")
    return ", ".join(parts)


__all__ = ["COLUMNS", "carries_pattern", "order_clause", "row_to_entity", "where_clause"]
