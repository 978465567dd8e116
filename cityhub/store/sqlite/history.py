"""Temporal history in SQLite, the write path: attribute instances appended in the same
transaction as the change they record (DESIGN.md decisions 2 and 4).

The tables (migrations 0007 and 0014):

* ``history_series`` and ``history_instances`` (``cityhub.store.sqlite.series``): a series per
  (tenant, entity, attribute, datasetId), and one compact row per attribute instance ever
  recorded, clustered on (series, time, seq): its time (observedAt normalized to UTC, so time
  windows compare as text, else when it was recorded), the times it was recorded, patched and,
  for the records of a deletion, deleted, the number it aggregates as (booleans as 1/0, clause
  4.5.19.1) and its JSON unless that number and time rebuild it. Its ``instanceId`` is made
  from its ``seq`` (the UUIDs of instances recorded before 0014 are kept). The view
  ``attribute_instances`` shows them with the columns of the table they replaced.
* ``temporal_entities``: one row per entity with a history, shaped like ``entities`` (types,
  scopes, system times and an ``attrs`` document of the latest instances), plus ``deleted_at``.
  Temporal queries select entities here, with the same compiled ``q``/``scopeQ``/``orderBy``
  SQL as the current state, so an entity deleted from the current state stays queryable.
* ``temporal_types``: (tenant, type, id), the index of type selection.

Which instances a change records is ``cityhub.store.history``'s rule; :class:`SqliteHistoryRows`
is the SQL of the rows it writes (:func:`compact_rows`), offered by ``SqliteTransaction``. The
temporal API's own writes use :func:`upsert_instances` and :func:`write_head`.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import normalize_time
from cityhub.store import compact
from cityhub.store.history import InstanceRow
from cityhub.store.instances import observed_time, strip_system, value_number
from cityhub.store.sqlite import days, series
from cityhub.store.sqlite.series import CompactRow, SeriesIds


def add_missing_heads(conn: sqlite3.Connection) -> None:
    """A ``temporal_entities`` row for every entity of the current state that has none (those
    created while history was off), so that recording an update never has to check."""
    conn.execute(
        "INSERT OR IGNORE INTO temporal_entities (tenant, id, types, scopes, created_at,"
        " modified_at, deleted_at, attrs) SELECT tenant, id, types, scopes, created_at,"
        " modified_at, NULL, '{}' FROM entities"
    )
    conn.execute(
        "INSERT OR IGNORE INTO temporal_types (tenant, type, id)"
        " SELECT tenant, type, id FROM entity_types"
    )


#: an observed time as stored, in text and in microseconds (a request's attributes, and the
#: requests of many sensors, share their times)
@functools.lru_cache(maxsize=8192)
def _observed(observed: str) -> tuple[str, int]:
    stored = observed_time(observed)
    return stored, series.micros(stored)


#: a time as stored in the rows
_micros = functools.lru_cache(maxsize=4096)(series.micros)


def _row(
    ids: SeriesIds,
    entity_id: str,
    attr: str,
    inst: Instance,
    now: int,
    observed_at: str | None,
    seq: int,
    batch: int | None = None,
) -> CompactRow:
    """The compact row of an instance recorded at its ``modifiedAt`` (else ``now``), as
    ``cityhub.store.history.instance_row`` records it; ``observed_at``: its stored observedAt."""
    body = strip_system(inst)
    deleted = body.pop("deletedAt", None)
    modified = inst.get("modifiedAt")
    recorded = series.micros(modified) if modified else now
    number = None if deleted else value_number(body)
    text, form = compact.SQLITE.encode(orjson.dumps(body).decode(), number, observed_at)
    series_id = ids.ensure(entity_id, attr, body.get("datasetId") or "")
    at = _micros(observed_at) if observed_at else recorded
    return (
        series_id,
        at,
        seq,
        form,
        series.created_column(at, recorded, batch),
        None,
        series.micros(normalize_time(deleted, "deletedAt")) if deleted else None,
        None,
        text,
        number,
    )


def upsert_instance(
    conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, inst: Instance, now: str
) -> None:
    """Add an instance; one with the same attribute, datasetId and observedAt is replaced
    (clause 5.6.11: posting an instance again does not duplicate it)."""
    upsert_instances(conn, tenant, entity_id, attr, [inst], now)


def upsert_instances(
    conn: sqlite3.Connection,
    tenant: str,
    entity_id: str,
    attr: str,
    instances: Sequence[Instance],
    now: str,
) -> None:
    """Add ``instances`` in turn, each replacing the instance of the same datasetId and
    observedAt recorded before (not a record of a deletion), in a few statements: the instances
    already recorded at the observedAt times of the batch are read in one range per series, the
    new rows are inserted by one ``executemany`` and the replaced ones updated by another. An
    instance whose observedAt and datasetId an earlier one of the same batch had replaces that
    one, as it would have one by one."""
    ids = SeriesIds(conn, tenant)
    now_us = series.micros(now)
    keys: list[tuple[int, str] | None] = []
    texts: list[str | None] = []  # the stored observedAt of each instance
    key: tuple[int, str] | None
    times: dict[str, list[int]] = {}  # datasetId -> observed times of the batch
    for inst in instances:
        observed = inst.get("observedAt")
        if observed:
            if type(observed) is str:
                stored, at = _observed(observed)
            else:
                stored = observed_time(observed)
                at = _micros(stored)
            key = (at, inst.get("datasetId") or "")
            times.setdefault(key[1], []).append(at)
            keys.append(key)
            texts.append(stored)
        else:
            keys.append(None)
            texts.append(None)
    recorded: dict[tuple[int, str], tuple[int, int, int]] = {}  # the first one recorded
    for dataset_id, found in times.items():
        series_id = ids.find(entity_id, attr, dataset_id)
        if series_id is None:
            continue
        for at, seq in conn.execute(
            "SELECT at, seq FROM history_instances WHERE series = ? AND at >= ? AND at <= ?"
            " AND form IS NOT NULL AND deleted IS NULL ORDER BY at, seq",
            (series_id, min(found), max(found)),
        ):
            recorded.setdefault((at, dataset_id), (series_id, at, seq))
    new_rows: list[CompactRow] = []
    new_by_key: dict[tuple[int, str], int] = {}  # a new row not deleted: its index
    updates: list[tuple[str | None, int | None, int, float | None, int, int, int]] = []
    first = 0
    batch: int | None = None
    plain = compact.SQLITE.plain
    default_series: int | None = None  # the series without datasetId, once needed
    for inst, key, observed_text in zip(instances, keys, texts, strict=True):
        if key is not None and observed_text is not None and (key in recorded or key in new_by_key):
            fast = plain(inst, observed_text)
            text: str | None
            number: float | None
            form: int | None
            if fast is not None:
                number, form, text = fast[0], fast[1], None
            else:
                body = strip_system(inst)
                number = value_number(body)
                text, form = compact.SQLITE.encode(
                    orjson.dumps(body).decode(), number, observed_text
                )
            if key in recorded:
                updates.append((text, form, now_us, number, *recorded[key]))
            else:
                i = new_by_key[key]
                kept = new_rows[i]
                new_rows[i] = (*kept[:3], form, kept[4], now_us, None, None, text, number)
            continue
        if not first:
            first, batch = series.allocate(conn, len(instances), now_us)
        seq = first + len(new_rows)
        fast = plain(inst, observed_text) if key is not None and observed_text else None
        row: CompactRow
        if fast is not None and key is not None:
            # the commonest instance (a number, its observedAt, nothing else): recorded now,
            # in the series without datasetId, no JSON
            if default_series is None:
                default_series = ids.ensure(entity_id, attr, "")
            at = key[0]
            created = series.created_column(at, now_us, batch)
            row = (default_series, at, seq, fast[1], created, None, None, None, None, fast[0])
        else:
            row = _row(ids, entity_id, attr, inst, now_us, observed_text, seq, batch)
        if key is not None and row[6] is None:
            new_by_key[key] = len(new_rows)
        new_rows.append(row)
    if new_rows:
        insert(conn, new_rows)
    if updates:
        conn.executemany(
            "UPDATE history_instances SET body = ?, form = ?, modified = ?, num = ?"
            " WHERE series = ? AND at = ? AND seq = ?",
            updates,
        )
        days.recount(conn, [(u[4], u[5]) for u in updates])


#: rows a statement of :func:`insert` inserts at once (one ``VALUES`` list of so many rows:
#: Python binds them in one call and SQLite runs them in one step, which lets the GIL go once
#: for them all instead of once a row, so the event loop's thread does not hold every row up)
CHUNK = 64
_INSERT_CHUNK = series.INSERT + ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" * (CHUNK - 1)
#: the commonest row (a number and its observedAt, recorded with its batch) names only the
#: columns it fills: the five others are NULL, and binding them cost more than the rest
_NARROW = "INSERT INTO history_instances (series, at, seq, form, num) VALUES (?, ?, ?, ?, ?)"
_NARROW_CHUNK = _NARROW + ", (?, ?, ?, ?, ?)" * (CHUNK - 1)
_EMPTY = (None, None, None, None, None)  # created, modified, deleted, instance_id, body


def insert(conn: sqlite3.Connection, rows: Sequence[CompactRow]) -> None:
    """Insert ``history_instances`` rows and count them into their days' rollups."""
    narrow = [(r[0], r[1], r[2], r[3], r[9]) for r in rows if r[4:9] == _EMPTY]
    wide = rows if not narrow else [r for r in rows if r[4:9] != _EMPTY]
    for values, one, chunk in (
        (narrow, _NARROW, _NARROW_CHUNK),
        (wide, series.INSERT, _INSERT_CHUNK),
    ):
        whole = len(values) - len(values) % CHUNK
        if whole:
            conn.executemany(
                chunk,
                [
                    tuple(itertools.chain.from_iterable(values[i : i + CHUNK]))
                    for i in range(0, whole, CHUNK)
                ],
            )
        if whole < len(values):
            conn.executemany(one, values[whole:])
    days.add(conn, rows)


def compact_rows(
    conn: sqlite3.Connection, tenant: str, rows: Sequence[InstanceRow]
) -> list[CompactRow]:
    """The ``history_instances`` rows of ``rows`` (``cityhub.store.history``'s records of an
    entity change), their ``seq`` numbers reserved in order."""
    return compact_changes(conn, tenant, [rows])


#: entity ids per statement of :func:`_series_of` (below SQLite's 32,766 bound parameters)
_IDS_PER_LOOKUP = 500
#: attributes named in a lookup of :func:`_series_of` at most (more: every series read)
_ATTRS_PER_LOOKUP = 64
#: new series per INSERT of :func:`_series_of` (4 bound parameters each)
_SERIES_PER_INSERT = 500


def _series_of(
    conn: sqlite3.Connection, tenant: str, keys: dict[tuple[str, str, str], int | None]
) -> None:
    """Fill ``keys`` (entity, attribute, datasetId -> None, in the order first recorded) with
    their series ids: the entities' series read in one statement per :data:`_IDS_PER_LOOKUP`
    entities, the missing ones created in that order by one statement per
    :data:`_SERIES_PER_INSERT` (the order the rows name them, so the ids are those one lookup
    and one INSERT per row gave)."""
    entity_ids = list(dict.fromkeys(k[0] for k in keys))
    attrs = list(dict.fromkeys(k[1] for k in keys))
    # only the named attributes' series (an update names one or two of an entity's ten),
    # unless they are so many that the list costs more than the rows it leaves out
    by_attr = len(attrs) <= _ATTRS_PER_LOOKUP
    attr_clause = f" AND attr IN ({','.join('?' * len(attrs))})" if by_attr else ""
    for i in range(0, len(entity_ids), _IDS_PER_LOOKUP):
        chunk = entity_ids[i : i + _IDS_PER_LOOKUP]
        for entity_id, attr, dataset_id, series_id in conn.execute(
            "SELECT entity_id, attr, dataset_id, id FROM history_series WHERE tenant = ?"
            f" AND entity_id IN ({','.join('?' * len(chunk))}){attr_clause}",
            (tenant, *chunk, *attrs) if by_attr else (tenant, *chunk),
        ):
            key = (entity_id, attr, dataset_id)
            if key in keys:
                keys[key] = int(series_id)
    missing = [key for key, found in keys.items() if found is None]
    for i in range(0, len(missing), _SERIES_PER_INSERT):
        new = missing[i : i + _SERIES_PER_INSERT]
        # one statement for a new entity's series; SQLite numbers the rows in VALUES order
        # (the ids one INSERT a row gave); RETURNING's order is not promised: keyed
        for entity_id, attr, dataset_id, series_id in conn.execute(
            "INSERT INTO history_series (tenant, entity_id, attr, dataset_id) VALUES "
            + ", ".join(["(?, ?, ?, ?)"] * len(new))
            + " RETURNING entity_id, attr, dataset_id, id",
            [value for key in new for value in (tenant, *key)],
        ).fetchall():
            keys[(entity_id, attr, dataset_id)] = int(series_id)


def compact_changes(
    conn: sqlite3.Connection, tenant: str, changes: Sequence[Sequence[InstanceRow]]
) -> list[CompactRow]:
    """The ``history_instances`` rows of several changes' records (one list each, in the
    order the changes were made) with one ``seq`` reservation for them all: each change's
    rows get the numbers one reservation per change gave, and a change of at least
    :data:`~cityhub.store.sqlite.series.BATCH` rows its own ``history_batches`` row, so what
    is stored is what recording the changes one by one stores."""
    total = sum(len(rows) for rows in changes)
    if not total:
        return []
    keys: dict[tuple[str, str, str], int | None] = {}
    for rows in changes:
        for r in rows:
            keys.setdefault((r[1], r[2], r[3]), None)
    _series_of(conn, tenant, keys)
    first, _ = series.allocate(conn, total)
    batches: list[tuple[int, int, int]] = []
    out: list[CompactRow] = []
    for rows in changes:
        if not rows:
            continue
        start = first + len(out)
        batch: int | None = None
        if len(rows) >= series.BATCH:
            batch = _micros(rows[0][6])
            batches.append((start, start + len(rows) - 1, batch))
        for i, r in enumerate(rows):
            observed = r[5]
            text, form = compact.SQLITE.encode(r[9], r[10], observed)
            created = _micros(r[6])
            at = _micros(observed) if observed else created
            series_id = keys[(r[1], r[2], r[3])]
            assert series_id is not None
            out.append(
                (
                    series_id,
                    at,
                    start + i,
                    form,
                    series.created_column(at, created, batch),
                    None if r[7] == r[6] else _micros(r[7]),
                    None if r[8] is None else series.micros(r[8]),
                    None,
                    text,
                    r[10],
                )
            )
    if batches:
        conn.executemany(
            "INSERT INTO history_batches (first, last, created) VALUES (?, ?, ?)", batches
        )
    return out


def write_head(
    conn: sqlite3.Connection,
    tenant: str,
    entity: Entity,
    attrs: Mapping[str, Any],
    created_at: str,
    now: str,
    *,
    types_changed: bool = True,
) -> None:
    """Create or replace the ``temporal_entities`` row of an entity (and its type index)."""
    conn.execute(
        "INSERT INTO temporal_entities (tenant, id, types, scopes, created_at, modified_at, "
        "deleted_at, attrs) VALUES (?, ?, ?, ?, ?, ?, NULL, ?) "
        "ON CONFLICT (tenant, id) DO UPDATE SET types = excluded.types, scopes = "
        "excluded.scopes, modified_at = excluded.modified_at, deleted_at = NULL, "
        "attrs = excluded.attrs",
        (
            tenant,
            entity["id"],
            orjson.dumps(entity["type"]).decode(),
            orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None,
            created_at,
            now,
            orjson.dumps(attrs).decode(),
        ),
    )
    if not types_changed:
        return
    conn.execute("DELETE FROM temporal_types WHERE tenant = ? AND id = ?", (tenant, entity["id"]))
    conn.executemany(
        "INSERT INTO temporal_types (tenant, type, id) VALUES (?, ?, ?)",
        [(tenant, t, entity["id"]) for t in entity["type"]],
    )


class SqliteHistoryRows:
    """The history rows of a write transaction (``Transaction``'s history methods, the rules
    in ``cityhub.store.history``); ``SqliteTransaction`` is one.

    The instance rows of the transaction's changes are held and written together by
    :meth:`flush_history` (the store's write path calls it when the transaction's function
    returned, before the commit): one ``seq`` reservation, one series lookup per 500 entities
    and one pass over the daily rollups for a whole batch, instead of one of each per change.
    Nothing in a write transaction reads the instances its own changes recorded (the temporal
    API's writes record their changes themselves, ``recording_off``)."""

    conn: sqlite3.Connection
    tenant: str
    #: False inside ``cityhub.store.history.recording_off``
    recording_history = True
    #: the records of each change not written yet (a savepoint rolled back drops its own)
    _history: list[Sequence[InstanceRow]]

    def add_history_instances(self, rows: Sequence[InstanceRow]) -> None:
        self._history.append(rows)

    def flush_history(self) -> None:
        """Write the instance rows held since the last flush."""
        if self._history:
            held, self._history = self._history, []
            insert(self.conn, compact_changes(self.conn, self.tenant, held))

    def take_history(self) -> list[Sequence[InstanceRow]]:
        """The instance rows held since the last flush, for the caller to write
        (:func:`flush_held`): they are no longer this transaction's."""
        held, self._history = self._history, []
        return held

    def write_history_head(
        self, entity: Entity, attrs: Mapping[str, Any], created_at: str, now: str
    ) -> None:
        write_head(self.conn, self.tenant, entity, attrs, created_at, now)

    def keep_history_head(self, entity: Entity, now: str) -> None:
        """Nothing to do: every entity has its head row (created with the entity, or by
        :func:`add_missing_heads` at start-up for those created while history was off)."""

    def close_history_head(self, before: Entity, now: str) -> None:
        self.conn.execute(
            "UPDATE temporal_entities SET deleted_at = ?, modified_at = ?, types = ?, scopes = ?,"
            " attrs = ? WHERE tenant = ? AND id = ?",
            (
                now,
                now,
                orjson.dumps(before["type"]).decode(),
                orjson.dumps(before["scope"]).decode() if before.get("scope") else None,
                orjson.dumps(before["attrs"]).decode(),
                self.tenant,
                before["id"],
            ),
        )


def flush_held(
    conn: sqlite3.Connection, held: Sequence[tuple[str, Sequence[Sequence[InstanceRow]]]]
) -> None:
    """Write several transactions' held instance rows (tenant, each change's rows), in their
    order, as :meth:`SqliteHistoryRows.flush_history` of each in turn would: one
    :func:`compact_changes` (series lookup, ``seq`` reservation) per run of one tenant's."""
    start = 0
    while start < len(held):
        tenant = held[start][0]
        end = start
        changes: list[Sequence[InstanceRow]] = []
        while end < len(held) and held[end][0] == tenant:
            changes.extend(held[end][1])
            end += 1
        if changes:
            insert(conn, compact_changes(conn, tenant, changes))
        start = end


__all__ = [
    "SqliteHistoryRows",
    "add_missing_heads",
    "compact_changes",
    "compact_rows",
    "flush_held",
    "insert",
    "upsert_instance",
    "upsert_instances",
    "write_head",
]
