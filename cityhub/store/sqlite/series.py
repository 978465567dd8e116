"""The SQLite history layout (migration 0014, issue 21): series and compact instance rows.

* ``history_series``: one row per (tenant, entity, attribute, datasetId), its id.
* ``history_instances``: one row per attribute instance, ``WITHOUT ROWID`` and clustered on
  ``(series, at, seq)``, so one attribute's window is one range of neighbouring pages.
  ``at`` is the instance's observedAt when it has one, else the time it was recorded: the
  default time of a temporal query, and its age for retention. Times are integer microseconds
  since 1970-01-01T00:00:00Z (migration 0016; :func:`micros`, :func:`text_of`): 8 bytes where
  the text took 27. ``seq`` is the recording order (``history_seq`` hands them out). ``form``
  is NULL for an instance without observedAt. ``created`` is the time it was recorded minus
  ``at`` (a few bytes where the absolute time takes 8); NULL: its batch's time when
  ``history_batches`` (migration 0019) holds its ``seq`` (a write of many instances at one time
  keeps that time once, :func:`allocate`), else 0. ``modified`` (absolute) only
  when it is not the recording time. ``instance_id`` only for instances recorded before 0014
  (their UUIDs): the others' is ``urn:ngsi-ld:Instance:<seq>``. ``num`` is the number the
  value aggregates as. ``body`` is the instance's JSON, except for the common case, a plain
  numeric Property (``{"type": "Property", "value": <number>, "observedAt": <time>}``
  exactly, in that order), which ``num``, ``at`` and ``form`` rebuild byte for byte
  (``cityhub.store.compact``, whose :data:`~cityhub.store.compact.SQLITE` forms are this
  layout's).
* ``attribute_instances``: a view with the columns of the table it replaced (plus ``series``,
  ``at``, ``form``), which the temporal SQL written once reads; its ``instance`` is NULL for a
  compact row, so the SQLite rows rebuild those in Python (:func:`instance_of`).

A numeric hourly reading takes about a sixth of the bytes of the old row with its two indexes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date
from typing import Any

import orjson

from cityhub.ngsild.datetime import parse_datetime
from cityhub.ngsild.entity import Instance
from cityhub.ngsild.temporal import AFTER_ALL_TIMES
from cityhub.store import compact

#: microseconds per day; day 0 is 1970-01-01 (:func:`day_of`)
DAY_US = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: binds after every time (``AFTER_ALL_TIMES``)
_AFTER_ALL = 2**63 - 1


def micros(text: str) -> int:
    """A time as stored (migration 0016): integer microseconds since 1970-01-01T00:00:00Z, of
    the hub's text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``; another ISO 8601 form is parsed)."""
    if len(text) == 27 and text[19] == "." and text[26] == "Z" and text[4] == "-":
        days = date(int(text[:4]), int(text[5:7]), int(text[8:10])).toordinal() - _EPOCH_ORDINAL
        seconds = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
        return (days * 86400 + seconds) * 1_000_000 + int(text[20:26])
    if text == AFTER_ALL_TIMES:
        return _AFTER_ALL
    moment = parse_datetime(text, "time").astimezone(UTC)
    days = moment.toordinal() - _EPOCH_ORDINAL
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return (days * 86400 + seconds) * 1_000_000 + moment.microsecond


def text_of(us: int) -> str:
    """The hub's text of a stored time (:func:`micros`)."""
    days, rest = divmod(us, DAY_US)
    d = date.fromordinal(days + _EPOCH_ORDINAL)
    seconds, fraction = divmod(rest, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        f".{fraction:06d}Z"
    )


def day_of(us: int) -> int:
    """The UTC day of a stored time, as days since 1970-01-01 (``history_days.day``)."""
    return us // DAY_US


def sql_day(column: str) -> str:
    """:func:`day_of` in SQL (a floor: SQLite's ``/`` truncates negative times towards 0)."""
    return f"(({column} - (({column} % {DAY_US}) + {DAY_US}) % {DAY_US}) / {DAY_US})"


def sql_text(column: str) -> str:
    """:func:`text_of` in SQL."""
    frac = f"((({column} % 1000000) + 1000000) % 1000000)"
    return (
        f"(strftime('%Y-%m-%dT%H:%M:%S', ({column} - {frac}) / 1000000, 'unixepoch')"
        f" || printf('.%06dZ', {frac}))"
    )


_ID_PREFIX = compact.ID_PREFIX
#: the time a row of ``history_instances r`` was recorded: ``at`` plus ``created``; when
#: ``created`` is NULL, its batch's (``history_batches``, migration 0019) if one holds its
#: ``seq``, else ``at``
CREATED = (
    "coalesce(r.at + r.created, (SELECT CASE WHEN b.last >= r.seq THEN b.created END"
    " FROM history_batches b WHERE b.first <= r.seq ORDER BY b.first DESC LIMIT 1), r.at)"
)
#: the view's columns ``instance_id`` to ``seq`` (see :func:`_rebuilt` in temporal.py) over
#: ``history_instances r``, as the view computes them, except the modification time: NULL when
#: it is the recording time (``_rebuilt`` takes that one then; :data:`CREATED` once per row)
VIEW_COLUMNS = (
    f"coalesce(r.instance_id, '{_ID_PREFIX}' || r.seq), {CREATED},"
    " r.modified, r.deleted, r.body, r.num, r.form, r.at, r.seq"
)
#: the view ``attribute_instances`` (migration 0019; 0014 made its first version)
VIEW = (
    "CREATE VIEW attribute_instances AS SELECT r.seq AS seq, s.tenant AS tenant,"
    " s.entity_id AS entity_id, s.attr AS attr, s.dataset_id AS dataset_id,"
    f" coalesce(r.instance_id, '{_ID_PREFIX}' || r.seq) AS instance_id,"
    " CASE WHEN r.form IS NOT NULL THEN r.at END AS observed_at,"
    f" {CREATED} AS created_at, coalesce(r.modified, {CREATED}) AS modified_at,"
    " r.deleted AS deleted_at, r.body AS instance, r.num AS value_number, r.series AS series,"
    " r.at AS at, r.form AS form FROM history_series s JOIN history_instances r"
    " ON r.series = s.id"
)
#: the fewest rows a write records under one batch of ``history_batches``
BATCH = 8


#: one ``history_instances`` row, in column order
CompactRow = tuple[
    int, int, int, int | None, int | None, int | None, int | None, str | None, str | None, Any
]
INSERT = (
    "INSERT INTO history_instances (series, at, seq, form, created, modified, deleted,"
    " instance_id, body, num) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def instance_of(body: str | None, num: Any, form: int | None, at: int) -> Instance:
    """The instance of a row of the view: its JSON, or rebuilt from the compact columns."""
    if body is not None:
        result: Instance = orjson.loads(body)
        return result
    assert form is not None
    return compact.SQLITE.decode(num, form, text_of(at))


def allocate(
    conn: sqlite3.Connection, n: int, created: int | None = None
) -> tuple[int, int | None]:
    """Reserve ``n`` consecutive ``seq`` numbers in the caller's transaction: the first, and
    the recording time ``created`` if the numbers were recorded as a batch with it (``n`` at
    least :data:`BATCH`): then a row of them recorded at that time keeps ``created`` NULL, and
    any other keeps its own (:data:`CREATED`), even 0."""
    row = conn.execute("UPDATE history_seq SET next = next + ? RETURNING next", (n,)).fetchone()
    first = int(row[0]) - n + 1
    if created is None or n < BATCH:
        return first, None
    conn.execute(
        "INSERT INTO history_batches (first, last, created) VALUES (?, ?, ?)",
        (first, first + n - 1, created),
    )
    return first, created


def created_column(at: int, recorded: int, batch: int | None) -> int | None:
    """``history_instances.created`` of a row recorded at ``recorded`` (:func:`allocate`)."""
    if batch is None:
        return recorded - at or None
    return None if recorded == batch else recorded - at


class SeriesIds:
    """The series ids of one tenant, found or created in the caller's transaction (and
    remembered for it alone: a rolled-back series must not be used again)."""

    def __init__(self, conn: sqlite3.Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant
        self._ids: dict[tuple[str, str, str], int] = {}

    def find(self, entity_id: str, attr: str, dataset_id: str) -> int | None:
        key = (entity_id, attr, dataset_id)
        found = self._ids.get(key)
        if found is None:
            row = self.conn.execute(
                "SELECT id FROM history_series WHERE tenant = ? AND entity_id = ? AND attr = ?"
                " AND dataset_id = ?",
                (self.tenant, *key),
            ).fetchone()
            if row is None:
                return None
            found = self._ids[key] = int(row[0])
        return found

    def ensure(self, entity_id: str, attr: str, dataset_id: str) -> int:
        found = self.find(entity_id, attr, dataset_id)
        if found is None:
            cursor = self.conn.execute(
                "INSERT INTO history_series (tenant, entity_id, attr, dataset_id)"
                " VALUES (?, ?, ?, ?)",
                (self.tenant, entity_id, attr, dataset_id),
            )
            assert cursor.lastrowid is not None
            found = self._ids[(entity_id, attr, dataset_id)] = cursor.lastrowid
        return found


__all__ = [
    "BATCH",
    "CREATED",
    "DAY_US",
    "INSERT",
    "VIEW",
    "VIEW_COLUMNS",
    "CompactRow",
    "SeriesIds",
    "allocate",
    "created_column",
    "day_of",
    "instance_of",
    "micros",
    "sql_day",
    "sql_text",
    "text_of",
]
