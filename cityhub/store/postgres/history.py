"""Temporal history in PostgreSQL, the write path (schema: ``migrations/0003_history.sql``,
the series layout of ``migrations/0013_history_series.sql``).

The same records as on SQLite: a series per (tenant, entity, attribute, datasetId) in
``history_series`` and one compact row per attribute instance in ``history_instances``, keyed
by (series, time, seq) (plain numeric Properties without JSON: ``cityhub.store.compact``); a
``temporal_entities`` head per entity and ``temporal_types``. Which instances a change records
is ``cityhub.store.history``'s rule; :class:`PostgresHistoryRows` is the SQL of the rows it
writes, offered by ``PostgresTransaction``, so history commits or rolls back with the change.
The temporal API's own writes use :func:`upsert_instances` and :func:`write_head`.

Rows go in by one ``INSERT ... SELECT FROM unnest(...)`` per batch (one round trip, whatever
the batch's size), their ``seq`` drawn in batch order. Times are ``timestamptz`` columns,
bound as the hub's normalized text (``text[]::timestamptz[]``: asyncpg would otherwise want
``datetime`` objects) and read back as that text (``to_char``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import normalize_time
from cityhub.store import compact
from cityhub.store.history import InstanceRow
from cityhub.store.instances import observed_time, strip_system, value_number
from cityhub.store.postgres.bridge import SyncConnection
from cityhub.store.postgres.partitions import ensure_months

#: a series' key in a tenant: entity, attribute, datasetId ("" for none)
Key = tuple[str, str, str]
#: a row to insert: its series' key, at, seq (None: the next), num, form, created, modified,
#: deleted, instance_id, body (JSON text)
Pending = tuple[
    Key,
    str,
    int | None,
    float | None,
    int | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
]

_TIME = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


#: a stored time as the hub's normalized text
def time_text(expr: str) -> str:
    return f"to_char({expr} AT TIME ZONE 'UTC', '{_TIME}')"


#: the rows' series are found or made in the same statement: ``$4`` holds each row's
#: position in the series' key arrays ``$12``-``$14``. Each key is looked up alone by the
#: series' unique key (a correlated subquery: an index probe whatever the statistics say; a
#: join planned from a young table's statistics read every series of the tenant per write,
#: 15-25 ms at 8,000 series); those not found are added, and a series another transaction is
#: adding at the same time is waited for and returned (DO UPDATE returns the row it met).
#: ``cityhub_series_ids`` (migration 0016) did this in PL/pgSQL, with the join.
_INSERT = (
    "WITH k AS MATERIALIZED (SELECT u.e, u.a, u.d, u.k, (SELECT s.id FROM history_series s"
    " WHERE s.tenant = $11 AND s.entity_id = u.e AND s.attr = u.a AND s.dataset_id = u.d) AS id"
    " FROM unnest($12::text[], $13::text[], $14::text[]) WITH ORDINALITY AS u(e, a, d, k)),"
    " added AS (INSERT INTO history_series (tenant, entity_id, attr, dataset_id) SELECT $11, e,"
    " a, d FROM k WHERE id IS NULL ORDER BY 2, 3, 4 ON CONFLICT (tenant, entity_id, attr,"
    " dataset_id) DO UPDATE SET tenant = EXCLUDED.tenant RETURNING id, entity_id, attr,"
    " dataset_id), x AS MATERIALIZED (SELECT array_agg(coalesce(k.id, added.id) ORDER BY k.k)"
    " AS ids FROM k LEFT JOIN added ON added.entity_id = k.e AND added.attr = k.a AND"
    " added.dataset_id = k.d) INSERT INTO history_instances (at, seq, num, series, form,"
    " created, modified, deleted, instance_id, body) SELECT a, coalesce(q,"
    " nextval('history_seq')), n, x.ids[s], f, c, m, d, i, b FROM"
    " unnest($1::text[]::timestamptz[], $2::bigint[], $3::float8[], $4::int4[], $5::int2[],"
    " $6::text[]::timestamptz[], $7::text[]::timestamptz[], $8::text[]::timestamptz[],"
    " $9::text[], $10::text[]::jsonb[]) WITH ORDINALITY AS u(a, q, n, s, f, c, m, d, i, b, o)"
    " CROSS JOIN x ORDER BY o"
)
#: each key probed alone by the unique key (as in ``_INSERT``)
_FIND_SERIES = (
    "SELECT * FROM (SELECT (SELECT s.id FROM history_series s WHERE s.tenant = $1 AND"
    " s.entity_id = u.e AND s.attr = u.a AND s.dataset_id = u.d) AS id, u.e, u.a, u.d FROM"
    " unnest($2::text[], $3::text[], $4::text[]) AS u(e, a, d)) f WHERE id IS NOT NULL"
)
_ADD_SERIES = (
    "INSERT INTO history_series (tenant, entity_id, attr, dataset_id) SELECT $1, e, a, d FROM"
    " unnest($2::text[], $3::text[], $4::text[]) AS u(e, a, d) ORDER BY 2, 3, 4"
    " ON CONFLICT DO NOTHING"
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _columns(keys: Iterable[Key]) -> tuple[list[str], list[str], list[str]]:
    entities, attrs, datasets = [], [], []
    for e, a, d in keys:
        entities.append(e)
        attrs.append(a)
        datasets.append(d)
    return entities, attrs, datasets


def series_ids(
    conn: SyncConnection, tenant: str, keys: Iterable[Key], *, create: bool = True
) -> dict[Key, int]:
    """The ids of the series of ``keys`` in ``tenant``; with ``create``, those missing are
    created (a series being created by another transaction is waited for)."""
    wanted = set(keys)
    if not wanted:
        return {}
    found = {
        (r[1], r[2], r[3]): int(r[0]) for r in conn.fetch(_FIND_SERIES, tenant, *_columns(wanted))
    }
    missing = sorted(wanted - found.keys())
    if create and missing:
        conn.execute(_ADD_SERIES, tenant, *_columns(missing))
        for r in conn.fetch(_FIND_SERIES, tenant, *_columns(missing)):
            found[(r[1], r[2], r[3])] = int(r[0])
    return found


#: data-modifying statements run together as the CTEs of one statement, by name, and their
#: arguments (``$1``... in each statement counts from the first of these)
Ctes = tuple[list[tuple[str, str]], list[Any]]


def _shifted(sql: str, by: int) -> str:
    """``sql`` with its placeholders ``$n`` as ``$(n + by)``."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + by}", sql)


def _with(ctes: Ctes, offset: int) -> str:
    return ", ".join(f"{name} AS ({_shifted(sql, offset)})" for name, sql in ctes[0])


def run_ctes(conn: SyncConnection, ctes: Ctes) -> None:
    """The statements of ``ctes`` as one statement (one round trip)."""
    conn.execute(f"WITH {_with(ctes, 0)} SELECT 1", *ctes[1])


def insert(
    conn: SyncConnection, tenant: str, rows: Sequence[Pending], before: Ctes | None = None
) -> None:
    """Insert ``rows``, their series found or created in the same statement (one round
    trip; their months' partitions are made first if this process has not seen them);
    ``before``: statements run in the same statement (the entity's head row)."""
    if not rows:
        if before is not None:
            run_ctes(conn, before)
        return
    ensure_months(conn, [r[1] for r in rows])
    keys: dict[Key, int] = {}
    columns: list[list[Any]] = [[] for _ in range(10)]
    for r in rows:
        columns[0].append(r[1])
        columns[1].append(r[2])
        columns[2].append(r[3])
        columns[3].append(keys.setdefault(r[0], len(keys) + 1))  # arrays count from 1
        for i in range(4, 10):
            columns[i].append(r[i])
    if before is None:
        conn.execute(_INSERT, *columns, tenant, *_columns(keys))
        return
    sql = f"WITH {_with(before, 14)}, {_INSERT.removeprefix('WITH ')}"
    conn.execute(sql, *columns, tenant, *_columns(keys), *before[1])


def compact_rows(rows: Sequence[InstanceRow]) -> list[Pending]:
    """The ``history_instances`` rows of ``rows`` (``cityhub.store.history``'s records of an
    entity change); their instance ids are made from their ``seq``."""
    out: list[Pending] = []
    for r in rows:
        observed = r[5]
        text, form = compact.POSTGRES.encode(r[9], r[10], observed)
        out.append(
            (
                (r[1], r[2], r[3]),
                observed or r[6],
                None,
                r[10],
                form,
                r[6] if observed else None,
                None if r[7] == r[6] else r[7],
                r[8],
                None,
                text,
            )
        )
    return out


#: observed times of the batch in their stored form: a request's attributes share their times
_observed = functools.lru_cache(maxsize=4096)(observed_time)


def _pending(key: Key, inst: Instance, now: str, observed_at: str | None) -> Pending:
    """The row of an instance recorded at its ``modifiedAt`` (else ``now``), as
    ``cityhub.store.history.instance_row`` records it; ``observed_at``: its stored observedAt."""
    fast = compact.POSTGRES.plain(inst, observed_at) if observed_at else None
    if fast is not None:  # no system times, no datasetId: recorded now
        return (key, observed_at or now, None, fast[0], fast[1], now, None, None, None, None)
    body = strip_system(inst)
    deleted = body.pop("deletedAt", None)
    recorded = inst.get("modifiedAt") or now
    number = None if deleted else value_number(body)
    text, form = compact.POSTGRES.encode(_json(body), number, observed_at)
    return (
        key,
        observed_at or recorded,
        None,
        number,
        form,
        recorded if observed_at else None,
        None,
        normalize_time(deleted, "deletedAt") if deleted else None,
        None,
        text,
    )


def upsert_instance(
    conn: SyncConnection, tenant: str, entity_id: str, attr: str, inst: Instance, now: str
) -> None:
    """Add an instance; one with the same attribute, datasetId and observedAt is replaced
    (clause 5.6.11: posting an instance again does not duplicate it)."""
    upsert_instances(conn, tenant, entity_id, attr, [inst], now)


def upsert_instances(
    conn: SyncConnection,
    tenant: str,
    entity_id: str,
    attr: str,
    instances: Sequence[Instance],
    now: str,
) -> None:
    """Add ``instances`` in turn, each replacing the instance of the same datasetId and
    observedAt recorded before (not a record of a deletion), in a few statements: the instances
    already recorded at the batch's observedAt times are read in one statement, the new rows
    inserted by one and the replaced ones updated by another. An instance whose observedAt and
    datasetId an earlier one of the same batch had replaces that one, as one by one."""
    keys: list[tuple[str, str] | None] = []
    times: dict[str, list[str]] = {}  # datasetId -> observed times of the batch
    for inst in instances:
        observed = inst.get("observedAt")
        if observed:
            stored = _observed(observed) if type(observed) is str else observed_time(observed)
            dataset_id = inst.get("datasetId") or ""
            times.setdefault(dataset_id, []).append(stored)
            keys.append((stored, dataset_id))
        else:
            keys.append(None)
    recorded: dict[tuple[str, str], tuple[int, str, int]] = {}  # the first one recorded
    if times:
        datasets = list(times)
        for dataset_id, series_id, at, seq in conn.fetch(
            f"SELECT u.d, r.series, {time_text('r.at')}, r.seq FROM unnest($4::text[],"
            " $5::text[]::timestamptz[], $6::text[]::timestamptz[]) AS u(d, lo, hi)"
            " JOIN history_series s ON s.tenant = $1 AND s.entity_id = $2 AND s.attr = $3"
            " AND s.dataset_id = u.d JOIN history_instances r ON r.series = s.id"
            " AND r.at >= u.lo AND r.at <= u.hi WHERE r.form IS NOT NULL AND r.deleted IS NULL"
            " ORDER BY r.series, r.at, r.seq",
            tenant,
            entity_id,
            attr,
            datasets,
            [min(times[d]) for d in datasets],
            [max(times[d]) for d in datasets],
        ):
            recorded.setdefault((at, dataset_id), (series_id, at, seq))
    new_rows: list[Pending] = []
    new_by_key: dict[tuple[str, str], int] = {}  # a new row not deleted: its index
    updates: dict[tuple[int, str, int], tuple[str | None, int | None, float | None]] = {}
    for inst, key in zip(instances, keys, strict=True):
        if key is not None and (key in recorded or key in new_by_key):
            fast = compact.POSTGRES.plain(inst, key[0])
            text: str | None
            number: float | None
            form: int | None
            if fast is not None:
                number, form, text = fast[0], fast[1], None
            else:
                body = strip_system(inst)
                number = value_number(body)
                text, form = compact.POSTGRES.encode(_json(body), number, key[0])
            if key in recorded:
                updates[recorded[key]] = (text, form, number)
            else:
                i = new_by_key[key]
                kept = new_rows[i]
                new_rows[i] = (*kept[:3], number, form, kept[5], now, None, None, text)
            continue
        row = _pending((entity_id, attr, key[1] if key else ""), inst, now, key[0] if key else None)
        if key is not None and row[7] is None:
            new_by_key[key] = len(new_rows)
        new_rows.append(row)
    insert(conn, tenant, new_rows)
    if updates:
        columns: list[list[Any]] = [[] for _ in range(6)]
        for (series_id, at, seq), (text, form, number) in updates.items():
            for column, value in zip(
                columns, (series_id, at, seq, text, form, number), strict=True
            ):
                column.append(value)
        conn.execute(
            "UPDATE history_instances h SET body = u.b, form = u.f, num = u.n, modified = $7"
            "::text::timestamptz FROM unnest($1::int4[], $2::text[]::timestamptz[], $3::int8[],"
            " $4::text[]::jsonb[], $5::int2[], $6::float8[]) AS u(s, a, q, b, f, n)"
            " WHERE h.series = u.s AND h.at = u.a AND h.seq = u.q",
            *columns,
            now,
        )


_HEAD = (
    "INSERT INTO temporal_entities (tenant, id, types, scopes, created_at, modified_at,"
    " deleted_at, attrs) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, NULL, $7::jsonb)"
    " ON CONFLICT (tenant, id) DO UPDATE SET types = EXCLUDED.types, scopes ="
    " EXCLUDED.scopes, modified_at = EXCLUDED.modified_at, deleted_at = NULL,"
    " attrs = EXCLUDED.attrs"
)


def head_ctes(
    tenant: str, entity: Entity, attrs: Mapping[str, Any], created_at: str, now: str
) -> Ctes:
    """The statements that create or replace the ``temporal_entities`` row of an entity and
    its type index: the types it no longer has go, the others are added (never the same row
    both ways, so the DELETE and the INSERT cannot meet)."""
    args = [
        tenant,
        entity["id"],
        _json(entity["type"]),
        _json(entity["scope"]) if entity.get("scope") else None,
        created_at,
        now,
        _json(attrs),
        list(entity["type"]),
    ]
    return [
        ("head", _HEAD),
        (
            "head_gone",
            "DELETE FROM temporal_types WHERE tenant = $1 AND id = $2 AND type <> ALL($8::text[])",
        ),
        (
            "head_types",
            "INSERT INTO temporal_types (tenant, type, id) SELECT $1, t, $2"
            " FROM unnest($8::text[]) t ON CONFLICT DO NOTHING",
        ),
    ], args


def kept_head_ctes(tenant: str, entity: Entity, now: str) -> Ctes:
    """The statements that add the head row and its types unless the row exists: an entity
    created while history was off (by another worker, perhaps) has none."""
    return [
        (
            "kept",
            "INSERT INTO temporal_entities (tenant, id, types, scopes, created_at, modified_at,"
            " deleted_at, attrs) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, NULL, '{}')"
            " ON CONFLICT DO NOTHING RETURNING id",
        ),
        (
            "kept_types",
            "INSERT INTO temporal_types (tenant, type, id) SELECT $1, t, kept.id FROM kept,"
            " unnest($7::text[]) t ON CONFLICT DO NOTHING",
        ),
    ], [
        tenant,
        entity["id"],
        _json(entity["type"]),
        _json(entity["scope"]) if entity.get("scope") else None,
        entity.get("createdAt") or now,
        now,
        list(entity["type"]),
    ]


def write_head(
    conn: SyncConnection,
    tenant: str,
    entity: Entity,
    attrs: Mapping[str, Any],
    created_at: str,
    now: str,
    *,
    types_changed: bool = True,
) -> None:
    """Create or replace the ``temporal_entities`` row of an entity (and, with
    ``types_changed``, its type index: :func:`head_ctes`), in one statement."""
    ctes = head_ctes(tenant, entity, attrs, created_at, now)
    if not types_changed:
        conn.execute(_HEAD, *ctes[1][:7])
        return
    run_ctes(conn, ctes)


class PostgresHistoryRows:
    """The history rows of a write transaction (``Transaction``'s history methods, the rules
    in ``cityhub.store.history``); ``PostgresTransaction`` is one."""

    conn: SyncConnection
    tenant: str
    #: False inside ``cityhub.store.history.recording_off``
    recording_history = True
    #: the head row's statements of the change being recorded, run with its instances
    _pending_head: Ctes | None = None
    #: True while a change's hooks run (``PostgresTransaction._emit``): a head waits for the
    #: change's instances; otherwise (the temporal API's own writes) it is written at once
    _holding_head = False

    def add_history_instances(self, rows: Sequence[InstanceRow]) -> None:
        head, self._pending_head = self._pending_head, None
        insert(self.conn, self.tenant, compact_rows(rows), head)

    def write_history_head(
        self, entity: Entity, attrs: Mapping[str, Any], created_at: str, now: str
    ) -> None:
        self._hold_head(head_ctes(self.tenant, entity, attrs, created_at, now))

    def keep_history_head(self, entity: Entity, now: str) -> None:
        """The head row unless it exists (:func:`kept_head_ctes`)."""
        self._hold_head(kept_head_ctes(self.tenant, entity, now))

    def _hold_head(self, head: Ctes) -> None:
        self.flush_history_head()
        if self._holding_head:
            self._pending_head = head
        else:
            run_ctes(self.conn, head)

    def flush_history_head(self) -> None:
        """Run the head row's statements if a change's instances did not take them along (the
        change recorded none); the transaction calls it once a change's hooks have run, so a
        head is never written later than its change."""
        head, self._pending_head = self._pending_head, None
        if head is not None:
            run_ctes(self.conn, head)

    def drop_history_head(self) -> None:
        """Forget a head not yet written (the change's hooks failed)."""
        self._pending_head = None

    def close_history_head(self, before: Entity, now: str) -> None:
        self.flush_history_head()
        self.conn.execute(
            "UPDATE temporal_entities SET deleted_at = $1, modified_at = $1, types = $2::jsonb,"
            " scopes = $3::jsonb, attrs = $4::jsonb WHERE tenant = $5 AND id = $6",
            now,
            _json(before["type"]),
            _json(before["scope"]) if before.get("scope") else None,
            _json(before["attrs"]),
            self.tenant,
            before["id"],
        )


__all__ = [
    "PostgresHistoryRows",
    "compact_rows",
    "insert",
    "series_ids",
    "time_text",
    "upsert_instance",
    "upsert_instances",
    "write_head",
]
