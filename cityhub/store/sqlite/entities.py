"""The ``entities`` table in SQLite: decoding its rows, and the WHERE and ORDER BY of an entity
query (clause 5.7.2; ``orderBy``, v1.9 clause 4.24) with bound parameters. The store's reads,
the write transaction's ``query_ids`` and the temporal store's entity selection share them.
"""

from __future__ import annotations

from typing import Any

import orjson

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.entity import Entity
from cityhub.store.base import EntityQuery, OrderItem
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import geo, qindex

#: the columns :func:`row_to_entity` decodes, of ``entities e`` (or a row shaped like it)
COLUMNS = "e.id, e.types, e.scopes, e.created_at, e.modified_at, e.attrs"

# decoded ``types`` texts: a city has few distinct type lists and every read decodes one
_TYPE_LISTS: dict[str, list[str]] = {}


def _type_list(text: str) -> list[str]:
    types = _TYPE_LISTS.get(text)
    if types is None:
        types = orjson.loads(text)
        if len(_TYPE_LISTS) < 4096:
            _TYPE_LISTS[text] = types
    return types.copy()  # callers may change the entity they get


def row_to_entity(row: tuple[Any, ...]) -> Entity:
    entity: Entity = {"id": row[0], "type": _type_list(row[1])}
    if row[2]:
        entity["scope"] = orjson.loads(row[2])
    entity["createdAt"] = row[3]
    entity["modifiedAt"] = row[4]
    entity["attrs"] = orjson.loads(row[5])
    return entity


def where_clause(
    tenant: str,
    query: EntityQuery,
    *,
    index_driven: bool = False,
    entity_rows: bool = False,
    q_index: bool = True,
) -> tuple[str, list[Any]]:
    """The WHERE clause of a query, with its bound parameters (public for EXPLAIN tests).

    ``entity_rows``: ``e`` is a row of ``entities`` itself (its ``rid`` links the geo index);
    otherwise any row with ``tenant`` and ``id`` (the temporal store's entity rows).

    ``index_driven``: the statement walks an index first (``geo.geo_driven_passes`` or
    ``qindex.driven_from``), which already restricts the geo-query and the types, so leave
    those out. Otherwise an equality term of ``q`` that can use the value index
    (``qindex.driver``) lists the candidates, of the query's types already.

    ``q_index``: False for rows the value index does not hold: the temporal store's entity
    rows include deleted entities, whose history stays queryable but whose values the index
    (of current entities) no longer lists.
    """
    clauses = ["e.tenant = ?"]
    params: list[Any] = [tenant]
    types_done = index_driven
    if query.q is not None and not index_driven and q_index:
        driven = qindex.driver(query.q, tenant, params, types=query.types)
        if driven is not None:
            clauses.append(driven)
            types_done = True
    if query.ids:
        clauses.append(f"e.id IN ({','.join('?' * len(query.ids))})")
        params.extend(query.ids)
    if query.id_pattern is not None:
        # refused here, as PostgreSQL refuses it, not matched as nothing (clause 5.7.2: a
        # query that is not valid is BadRequestData); ngsild_regexp itself never raises
        regex.compile_pattern(query.id_pattern, "idPattern")
        clauses.append("ngsild_regexp(?, e.id)")
        params.append(query.id_pattern)
    if query.types and not types_done:
        clauses.append(
            "e.id IN (SELECT t.id FROM entity_types t WHERE t.tenant = ? AND t.type IN "
            f"({','.join('?' * len(query.types))}))"
        )
        params.append(tenant)
        params.extend(query.types)
    if query.type_query is not None:
        clauses.append(qcompile.compile_type_query(query.type_query, params, "e"))
    if query.attrs:
        clauses.append(
            "EXISTS (SELECT 1 FROM json_each(e.attrs) a WHERE a.key IN "
            f"({','.join('?' * len(query.attrs))}))"
        )
        params.extend(query.attrs)
    if query.q is not None:
        clauses.append(qcompile.compile_q(query.q, params, "e"))
    if query.geo is not None and not index_driven:
        clauses.append(geo.compile_geo(query.geo, params, "e", tenant=tenant, by_rid=entity_rows))
    if query.scope_q is not None:
        clauses.append(qcompile.compile_scope_q(query.scope_q, params, "e"))
    if query.permitted is not None:
        clauses.append(_permitted(tenant, query.permitted, params, entity_rows))
    return " AND ".join(f"({c})" for c in clauses), params


def _permitted(
    tenant: str, selectors: tuple[EntityQuery, ...], params: list[Any], entity_rows: bool
) -> str:
    """``permitted`` (access control): any of its selectors, each compiled as a query."""
    if not selectors:
        return "0"
    parts = []
    for selector in selectors:
        sql, sub = where_clause(tenant, selector, entity_rows=entity_rows)
        parts.append(sql)
        params.extend(sub)
    return " OR ".join(f"({p})" for p in parts)


_ORDER_COLUMNS = {
    "id": "e.id",
    "type": "e.types",
    "createdAt": "e.created_at",
    "modifiedAt": "e.modified_at",
}
_MEMBER_KEYS = {"createdAt", "modifiedAt", "observedAt", "unitCode", "datasetId", "value", "object"}


def _json_key(key: str) -> str:
    if '"' in key or "\\" in key:
        raise BadRequestData(f"cannot order by {key!r}: it contains a quote or backslash")
    return f'"{key}"'


def order_clause(items: tuple[OrderItem, ...]) -> tuple[str, list[Any]]:
    """ORDER BY for ``orderBy`` (v1.9 clause 4.24); insertion order breaks ties."""
    parts: list[str] = []
    params: list[Any] = []
    for item in items:
        direction = "DESC" if item.descending else "ASC"
        if item.name in _ORDER_COLUMNS and not item.path:
            parts.append(f"{_ORDER_COLUMNS[item.name]} {direction}")
            continue
        path = "$." + _json_key(item.name) + "[0]"
        for step in item.path:
            path += "." + (step if step in _MEMBER_KEYS else _json_key(step))
        if not item.path or item.path[-1] not in _MEMBER_KEYS:
            parts.append(
                f"coalesce(json_extract(e.attrs, ? || '.value'), "
                f"json_extract(e.attrs, ? || '.object')) {direction}"
            )
            params.extend([path, path])
        else:
            parts.append(f"json_extract(e.attrs, ?) {direction}")
            params.append(path)
    parts.append("e.rowid")
    return ", ".join(parts), params


__all__ = ["COLUMNS", "order_clause", "row_to_entity", "where_clause"]
