"""The temporal store's SQL, written once over a :class:`TemporalDialect` (ETSI GS CIM 009
v1.9.1 clauses 4.5.19, 4.11, 5.6.11-5.6.16, 5.7.3-5.7.4): :class:`TemporalRows`, the rows
``cityhub.store.temporal.TemporalStore`` reads and writes in one tenant, and the statements.

A dialect says how its backend binds a value (``?`` marks in text order on SQLite, ``$n::cast``
on PostgreSQL: pieces bind in the order they appear, so both work), tests membership, and
writes the period index and the few aggregates that differ. Times bind as the hub's text with
the cast :data:`TIME` and are read back as that text (:meth:`TemporalDialect.time_text`):
PostgreSQL keeps ``timestamptz``, SQLite the text itself. A backend subclasses
:class:`TemporalRows` to run statements and for its own tricks.

Aggregation: a period index ``k`` per instance from its series' grid origin, then ``GROUP BY
entity, attribute, datasetId, k`` computes counts, sums, sums of squares and extremes over the
``value_number`` column (the numeric value, written with the instance), so numeric aggregation
parses no JSON. A window keeps at most ``max_periods`` periods per series.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import orjson

from cityhub.ngsild.aggregation import AggregationQuery, PeriodStats, Series
from cityhub.ngsild.duration import Duration
from cityhub.ngsild.entity import Instance
from cityhub.ngsild.query.ast import Node
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.base import EntityQuery, OrderItem

#: a temporal entity's head: id, type, scope, createdAt, modifiedAt, deletedAt
Head = dict[str, Any]
#: the cast of a bound time
TIME = "text::timestamptz"
#: (entity, attribute, the time its instances are read before, or None): see ``_instances``
Cuts = Sequence[tuple[str, str, str | None]]
#: what aggregation rows found: (entity, attribute, series, the seq of one of its instances)
Found = Sequence[tuple[str, str, Series, int | None]]
Row = Sequence[Any]


@dataclass(frozen=True)
class Reading:
    """What a temporal read takes of each entity's history: the window and ``lastN``, the
    attributes (None: all) and the datasetIds (None: all; None in it: the default)."""

    tq: TemporalQuery
    attrs: Sequence[str] | None = None
    dataset_ids: Sequence[str | None] | None = None


class Binds(Protocol):
    """The values bound to one statement, in placeholder order."""

    values: list[Any]

    def add(self, value: Any, cast: str = "text") -> str:
        """Bind ``value``; its placeholder."""


class TemporalDialect(Protocol):
    """What one backend writes its own way. ``h`` is an ``attribute_instances`` row, ``e`` a
    head; in aggregation ``b`` is an instance (``t`` its time, ``num`` its number, ``body`` its
    JSON, ``del`` its deletion time) and ``s`` its series' grid (``o`` the origin)."""

    observed_time: str  # an instance's observedAt (``h``)
    observed_present: str  # the condition: ``h`` has an observedAt
    default_time: str  # its observedAt, else when it was recorded (the default view's time)
    row_order: str  # the heads' recording order, the last orderBy key
    for_update: str  # what locks a row read for update
    total: str  # the sum function
    value_json: str  # the value's member, whatever the attribute type (distinctCount)
    size: str  # the array size of a non-numeric value
    string: str  # the text of a string value (or of a JSON-LD value object)
    last_seq: str  # the seq of one instance per period, when the backend reads types by it
    group_origin: str  # what GROUP BY needs of the origin besides series and period

    def binds(self) -> Binds: ...

    def json_text(self, column: str) -> str: ...

    def time_text(self, expr: str) -> str:
        """A time as the hub's text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``)."""

    def any_of(self, column: str, values: Sequence[Any], binds: Binds) -> str: ...

    def index(self, column: str) -> str:
        """The index hint that reads instances in the order of ``column``, or ""."""

    def where(self, tenant: str, query: EntityQuery, binds: Binds) -> str:
        """The entity query's WHERE (ids, idPattern, q, scopeQ, geoQ) over ``e``."""

    def type_query(self, node: Node, binds: Binds) -> str: ...

    def order(self, items: tuple[OrderItem, ...], binds: Binds) -> str: ...

    def period_index(self, period: Duration | None, binds: Binds) -> str:
        """The index of ``b.t``'s period on the grid from ``s.o``."""

    def series_origin(self) -> str:
        """A series' origin columns from its first time ``o``."""

    def fixed_origin(self, origin: str, binds: Binds) -> str:
        """``base b`` joined with one origin ``s`` for every series (timeAt)."""


def _heads(d: TemporalDialect) -> str:
    """Heads as queries see them: while the entity exists, its system times, scopes and
    attributes (what q and scopeQ test) are those of the current state, which the entity
    API's updates do not copy into ``temporal_entities`` (``cityhub.store.history``)."""
    return (
        f"(SELECT {d.row_order}, t.tenant AS tenant, t.id AS id, t.types AS types,"
        " CASE WHEN c.id IS NULL THEN t.scopes ELSE c.scopes END AS scopes,"
        " coalesce(c.created_at, t.created_at) AS created_at,"
        " coalesce(c.modified_at, t.modified_at) AS modified_at, t.deleted_at AS deleted_at,"
        " coalesce(c.attrs, t.attrs) AS attrs"
        " FROM temporal_entities t LEFT JOIN entities c ON c.tenant = t.tenant AND c.id = t.id)"
    )


def _head_columns(d: TemporalDialect) -> str:
    types, scopes = d.json_text("e.types"), d.json_text("e.scopes")
    return f"e.id, {types}, {scopes}, e.created_at, e.modified_at, e.deleted_at"


def time_column(d: TemporalDialect, tq: TemporalQuery) -> tuple[str, str | None]:
    """The SQL time of an instance along the query's timeproperty, and the condition that
    leaves out instances without that time (always one, except for the default view with no
    timerel: None)."""
    if tq.timeproperty == "observedAt":
        if tq.timerel is None and not tq.timeproperty_given:
            return d.default_time, None
        return d.observed_time, d.observed_present
    column = {"createdAt": "h.created_at", "modifiedAt": "h.modified_at"}
    name = column.get(tq.timeproperty, "h.deleted_at")
    return name, f"{name} IS NOT NULL"


def instance_filter(d: TemporalDialect, binds: Binds, reading: Reading, window: bool = True) -> str:
    """``AND ...`` conditions on ``attribute_instances h``: attributes, datasetIds and, with
    ``window``, the time window."""
    clauses: list[str] = []
    if reading.attrs:
        clauses.append(d.any_of("h.attr", reading.attrs, binds))
    if reading.dataset_ids is not None:
        clauses.append(d.any_of("h.dataset_id", [i or "" for i in reading.dataset_ids], binds))
    column, required = time_column(d, reading.tq)
    if window and required:
        clauses.append(required)
    start, end = reading.tq.bounds() if window else (None, None)
    if start is not None:
        clauses.append(f"{column} >= {binds.add(start, TIME)}")
    if end is not None:
        clauses.append(f"{column} < {binds.add(end, TIME)}")
    return "".join(f" AND {c}" for c in clauses)


def instances(
    d: TemporalDialect,
    binds: Binds,
    tenant: str,
    ids: Sequence[str],
    reading: Reading,
    columns: str,
    partition: str = "entity_id, attr",
    cuts: Cuts | None = None,
) -> str:
    """The instances a read takes (``lastN`` applied per entity and attribute), with the time
    along the timeproperty as ``t``. ``cuts`` keeps only those attributes, each before its
    time: one index range per attribute (only an OR of index ranges is searched as such)."""
    tq = reading.tq
    column, _ = time_column(d, tq)
    if cuts:
        start, _ = tq.bounds()
        terms = []
        for entity_id, attr, before in cuts:
            term = f"h.tenant = {binds.add(tenant)} AND h.entity_id = {binds.add(entity_id)}"
            term += f" AND h.attr = {binds.add(attr)}"
            if start is not None:
                term += f" AND {column} >= {binds.add(start, TIME)}"
            if before is not None:
                term += f" AND {column} < {binds.add(before, TIME)}"
            terms.append(f"({term})")
        where = f"({' OR '.join(terms)})"
    else:
        where = f"h.tenant = {binds.add(tenant)} AND {d.any_of('h.entity_id', ids, binds)}"
    where += instance_filter(d, binds, reading)
    select = f"SELECT {columns}, {column} AS t FROM attribute_instances h{d.index(column)}"
    select += f" WHERE {where}"
    if tq.last_n is None:
        return select
    return (
        f"SELECT * FROM (SELECT x.*, row_number() OVER (PARTITION BY {partition} ORDER BY"
        f" t DESC, seq DESC) AS rn FROM ({select}) x) y WHERE rn <= "
        f"{binds.add(tq.last_n, 'bigint')}"
    )


def history_select(
    d: TemporalDialect, tenant: str, ids: Sequence[str], reading: Reading
) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, instance_id, created_at, modified_at, deleted_at, instance,
    t, seq)`` in time order per entity and attribute."""
    binds = d.binds()
    columns = (
        "h.entity_id, h.attr, h.instance_id, h.created_at, h.modified_at, h.deleted_at,"
        f" {d.json_text('h.instance')} AS instance, h.seq"
    )
    select = instances(d, binds, tenant, ids, reading, columns)
    times = ", ".join(d.time_text(f"z.{c}") for c in ("created_at", "modified_at", "deleted_at"))
    return (
        f"SELECT entity_id, attr, instance_id, {times}, instance, {d.time_text('z.t')}, seq"
        f" FROM ({select}) z ORDER BY 1, 2, z.t, seq",
        binds.values,
    )


def _stats_columns(d: TemporalDialect, methods: Sequence[str], whole_range: bool) -> str:
    # only what the methods asked for: each aggregate costs per period (PT1S = many periods)
    wanted = set(methods)
    numeric = wanted & {"sum", "avg", "min", "max", "stddev", "sumsq"}
    sized = wanted & {"sum", "avg", "min", "max"}
    least, most = "min" in wanted, "max" in wanted
    return ", ".join(
        [
            "count(*) AS total",
            d.time_text("min(b.t)") if whole_range else "NULL",
            d.time_text("max(b.t)") if whole_range else "NULL",
            d.last_seq,
            f"count(DISTINCT CASE WHEN b.del IS NULL THEN {d.value_json} END)"
            if "distinctCount" in wanted
            else "NULL",
            "count(b.num)" if numeric else "0",
            f"{d.total}(b.num)" if numeric & {"sum", "avg", "stddev"} else "NULL",
            f"{d.total}(b.num * b.num)" if numeric & {"stddev", "sumsq"} else "NULL",
            "min(b.num)" if least else "NULL",
            "max(b.num)" if most else "NULL",
            f"count({d.size})" if sized else "0",
            f"{d.total}({d.size})" if sized & {"sum", "avg"} else "NULL",
            f"min({d.size})" if least else "NULL",
            f"max({d.size})" if most else "NULL",
            f"min({d.string})" if least else "NULL",
            f"max({d.string})" if most else "NULL",
        ]
    )


def aggregation_select(
    d: TemporalDialect,
    tenant: str,
    ids: Sequence[str],
    reading: Reading,
    agg: AggregationQuery,
    cuts: Cuts | None = None,
) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, dataset_id, origin, k, <the columns stats_of reads>, k_first,
    k_last)``: one per non-empty period of each series, at most ``agg.max_periods`` per
    series, ordered by series and period. Instances without a time along the timeproperty are
    left out; with ``cuts``, only instances of those attributes before their times."""
    binds = d.binds()
    columns = (
        "h.entity_id AS e, h.attr AS a, h.dataset_id AS d, h.seq AS seq,"
        # numeric instances need no JSON: only the others carry it along
        " CASE WHEN h.value_number IS NULL THEN h.instance END AS body,"
        " h.value_number AS num, h.deleted_at AS del"
    )
    base = instances(d, binds, tenant, ids, reading, columns, "e, a", cuts)
    index = d.period_index(agg.period, binds)
    if agg.origin is not None:  # one grid for every series, from timeAt
        source = d.fixed_origin(agg.origin, binds)
    else:  # each series' grid starts at its first instance
        source = "base b JOIN series s ON s.e = b.e AND s.a = b.a AND s.d = b.d"
    keep = "k_last - k" if agg.newest_first else "k - k_first"
    sql = (
        f"WITH base AS (SELECT * FROM ({base}) x WHERE t IS NOT NULL),"
        f" series AS (SELECT e, a, d, {d.series_origin()}"
        " FROM (SELECT e, a, d, min(t) AS o FROM base GROUP BY e, a, d) x),"
        f" periods AS (SELECT b.*, s.o AS o, {index} AS k FROM {source}),"
        f" grouped AS (SELECT b.e, b.a, b.d, {d.time_text('b.o')} AS o, b.k,"
        f" {_stats_columns(d, agg.methods, agg.period is None)}"
        f" FROM periods b GROUP BY b.e, b.a, b.d{d.group_origin}, b.k)"
        " SELECT * FROM (SELECT g.*, min(k) OVER w AS k_first, max(k) OVER w AS k_last"
        " FROM grouped g WINDOW w AS (PARTITION BY e, a, d)) z"
        f" WHERE {keep} < {binds.add(agg.max_periods, 'bigint')} ORDER BY e, a, d, k"
    )
    return sql, binds.values


def head_of(row: Row) -> Head:
    """A head from a row ``(id, types JSON, scopes JSON, createdAt, modifiedAt, deletedAt)``."""
    head: Head = {"id": row[0], "type": orjson.loads(row[1])}
    if row[2] and (scopes := orjson.loads(row[2])):
        head["scope"] = scopes
    head["createdAt"] = row[3]
    head["modifiedAt"] = row[4]
    if row[5]:
        head["deletedAt"] = row[5]
    return head


def stats_of(row: Row) -> PeriodStats:
    """A :class:`PeriodStats` from the columns after ``k`` of an aggregation row."""

    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    return PeriodStats(
        index=int(row[4]),
        total=int(row[5]),
        first_time=row[6],
        last_time=row[7],
        distinct=None if row[9] is None else int(row[9]),
        n_numbers=int(row[10]),
        sum_numbers=row[11],
        sumsq_numbers=row[12],
        min_number=number(row[13]),
        max_number=number(row[14]),
        n_sizes=int(row[15]),
        sum_sizes=row[16],
        min_size=number(row[17]),
        max_size=number(row[18]),
        min_text=row[19],
        max_text=row[20],
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class TemporalRows(ABC):
    """The rows ``cityhub.store.temporal.TemporalStore`` reads and writes in one tenant,
    inside one read or transaction, in SQL written once over :attr:`dialect` (times come back
    as the hub's text). A backend subclass runs statements (:meth:`_fetch`, :meth:`_run`) and
    writes the rest its own way."""

    dialect: TemporalDialect

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    @abstractmethod
    def _fetch(self, sql: str, values: list[Any]) -> Iterable[Row]: ...

    @abstractmethod
    def _run(self, sql: str, values: list[Any]) -> int:
        """Run one statement; how many rows it changed."""

    def _one(self, sql: str, values: list[Any]) -> Row | None:
        return next(iter(self._fetch(sql, values)), None)

    def _statement(self, sql: str, *values: Any) -> int:
        """Run ``sql`` whose ``{}`` are bound to ``values`` (as text)."""
        b = self.dialect.binds()
        return self._run(sql.format(*(b.add(v) for v in values)), b.values)

    # ---- reads ---------------------------------------------------------------------------
    def with_history(self, entity_id: str, attrs: Sequence[str]) -> set[str]:
        """Which of ``attrs`` have at least one instance."""
        b = self.dialect.binds()
        names = ", ".join(f"({b.add(a)})" for a in attrs)
        sql = (
            f"SELECT v.column1 FROM (VALUES {names}) v WHERE EXISTS (SELECT 1 FROM"
            f" attribute_instances h WHERE h.tenant = {b.add(self.tenant)} AND h.entity_id ="
            f" {b.add(entity_id)} AND h.attr = v.column1)"
        )
        return {r[0] for r in self._fetch(sql, b.values)}

    def aggregation(
        self, ids: Sequence[str], reading: Reading, agg: AggregationQuery
    ) -> tuple[Iterable[Row], dict[tuple[str, str], datetime]]:
        """The rows of :func:`aggregation_select`; and, per (entity, attribute) whose periods
        the backend cut short, the time of its last instance."""
        sql, values = aggregation_select(self.dialect, self.tenant, ids, reading, agg)
        return self._fetch(sql, values), {}

    @abstractmethod
    def set_series_types(self, found: Found) -> None:
        """Each series' ``attr_type``, from one of its instances."""

    def history(self, ids: Sequence[str], reading: Reading) -> Iterable[Row]:
        """The rows of :func:`history_select`."""
        return self._fetch(*history_select(self.dialect, self.tenant, ids, reading))

    def head(self, entity_id: str) -> Head | None:
        d, b = self.dialect, self.dialect.binds()
        where = f"e.tenant = {b.add(self.tenant)} AND e.id = {b.add(entity_id)}"
        row = self._one(f"SELECT {_head_columns(d)} FROM {_heads(d)} e WHERE {where}", b.values)
        return None if row is None else head_of(row)

    def _where(self, binds: Binds, query: EntityQuery, reading: Reading) -> str:
        d, tenant = self.dialect, self.tenant
        clauses = [d.where(tenant, replace(query, types=(), type_query=None, attrs=()), binds)]
        if query.types:
            clauses.append(
                f"e.id IN (SELECT t.id FROM temporal_types t WHERE t.tenant = {binds.add(tenant)}"
                f" AND {d.any_of('t.type', query.types, binds)})"
            )
        if query.type_query is not None:
            # the compiled type query reads the current state's type index; ask ours instead
            sql = d.type_query(query.type_query, binds)
            clauses.append(sql.replace("entity_types", "temporal_types"))
        window = time_column(d, reading.tq)[1] is not None
        if reading.attrs or window or reading.dataset_ids is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM attribute_instances h WHERE h.tenant = e.tenant AND "
                f"h.entity_id = e.id{instance_filter(d, binds, reading, window)})"
            )
        return " AND ".join(f"({c})" for c in clauses)

    def heads(self, query: EntityQuery, reading: Reading) -> list[Head]:
        """The page of heads an entity query selects (its order, limit and offset)."""
        d, b = self.dialect, self.dialect.binds()
        sql = f"SELECT {_head_columns(d)} FROM {_heads(d)} e WHERE {self._where(b, query, reading)}"
        sql += f" ORDER BY {d.order(query.order_by, b)} LIMIT {b.add(query.limit, 'bigint')}"
        sql += f" OFFSET {b.add(query.offset, 'bigint')}"
        return [head_of(r) for r in self._fetch(sql, b.values)]

    def count(self, query: EntityQuery, reading: Reading) -> int:
        b = self.dialect.binds()
        where = self._where(b, query, reading)
        row = self._one(f"SELECT count(*) FROM {_heads(self.dialect)} e WHERE {where}", b.values)
        return int(row[0]) if row else 0

    # ---- writes --------------------------------------------------------------------------
    @abstractmethod
    def upsert_instance(self, entity_id: str, attr: str, inst: Instance, now: str) -> None:
        """Add an instance; one of the same attribute, datasetId and observedAt is replaced."""

    def upsert_instances(
        self, entity_id: str, attr: str, instances: Sequence[Instance], now: str
    ) -> None:
        """:meth:`upsert_instance` of each instance in turn (a backend may do it in fewer
        statements, with the same outcome)."""
        for inst in instances:
            self.upsert_instance(entity_id, attr, inst, now)

    def lock_head(self, entity_id: str) -> tuple[dict[str, Any], list[str]] | None:
        """The head's ``attrs`` document and types, locked for the transaction."""
        d, b = self.dialect, self.dialect.binds()
        row = self._one(
            f"SELECT {d.json_text('attrs')}, {d.json_text('types')} FROM temporal_entities"
            f" WHERE tenant = {b.add(self.tenant)} AND id = {b.add(entity_id)}{d.for_update}",
            b.values,
        )
        return None if row is None else (orjson.loads(row[0]), orjson.loads(row[1]))

    def set_head_attrs(self, entity_id: str, attrs: dict[str, Any], now: str) -> None:
        b = self.dialect.binds()
        self._run(
            f"UPDATE temporal_entities SET attrs = {b.add(_json(attrs), 'jsonb')}, modified_at ="
            f" {b.add(now)} WHERE tenant = {b.add(self.tenant)} AND id = {b.add(entity_id)}",
            b.values,
        )

    def delete_history(self, entity_id: str) -> bool:
        """Delete the head, its types and every instance; whether there was a head."""
        keys = {
            "temporal_entities": "id",
            "attribute_instances": "entity_id",
            "temporal_types": "id",
        }
        sql = "DELETE FROM {} WHERE tenant = {{}} AND {} = {{}}"
        gone = [self._statement(sql.format(t, k), self.tenant, entity_id) for t, k in keys.items()]
        return gone[0] > 0

    def delete_attribute(
        self, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        """Delete the attribute's instances of ``dataset_id`` (None: the default ones), or
        every one with ``delete_all``; how many went."""
        sql = "DELETE FROM attribute_instances WHERE tenant = {} AND entity_id = {} AND attr = {}"
        if delete_all:
            return self._statement(sql, self.tenant, entity_id, attr)
        sql += " AND dataset_id = {}"
        return self._statement(sql, self.tenant, entity_id, attr, dataset_id or "")

    def find_instance(
        self, entity_id: str, attr: str, instance_id: str
    ) -> tuple[int, Instance] | None:
        """The ``seq`` and body of an instance."""
        d, b = self.dialect, self.dialect.binds()
        row = self._one(
            f"SELECT seq, {d.json_text('instance')} FROM attribute_instances WHERE tenant ="
            f" {b.add(self.tenant)} AND instance_id = {b.add(instance_id)} AND entity_id ="
            f" {b.add(entity_id)} AND attr = {b.add(attr)}",
            b.values,
        )
        return None if row is None else (int(row[0]), orjson.loads(row[1]))

    def update_instance(
        self, seq: int, inst: Instance, observed_at: str | None, number: float | None, now: str
    ) -> None:
        b = self.dialect.binds()
        self._run(
            f"UPDATE attribute_instances SET instance = {b.add(_json(inst), 'jsonb')},"
            f" observed_at = {b.add(observed_at, TIME)}, modified_at = {b.add(now, TIME)},"
            f" dataset_id = {b.add(inst.get('datasetId') or '')}, value_number ="
            f" {b.add(number, 'float8')} WHERE seq = {b.add(seq, 'bigint')}",
            b.values,
        )

    def delete_instance(self, seq: int) -> None:
        b = self.dialect.binds()
        self._run(f"DELETE FROM attribute_instances WHERE seq = {b.add(seq, 'bigint')}", b.values)
