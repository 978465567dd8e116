"""The SQLite history layout (migration 0014, issue 21): series and compact instance rows.

* ``history_series``: one row per (tenant, entity, attribute, datasetId), its id.
* ``history_instances``: one row per attribute instance, ``WITHOUT ROWID`` and clustered on
  ``(series, at, seq)``, so one attribute's window is one range of neighbouring pages.
  ``at`` is the instance's observedAt (normalized text) when it has one, else the time it was
  recorded: the default time of a temporal query, and its age for retention. ``seq`` is the
  recording order (``history_seq`` hands them out). ``form`` is NULL for an instance without
  observedAt. ``created`` is kept only when it is not ``at``, ``modified`` only when it is not
  ``created``. ``instance_id`` only for instances recorded before 0014 (their UUIDs): the others'
  is ``urn:ngsi-ld:Instance:<seq>``. ``num`` is the number the value aggregates as.
  ``body`` is the instance's JSON, except for the common case, a plain numeric Property
  (``{"type": "Property", "value": <number>, "observedAt": <time>}`` exactly, in that order),
  which ``num``, ``at`` and ``form`` rebuild byte for byte (:func:`encode`, :func:`decode`).
* ``attribute_instances``: a view with the columns of the table it replaced (plus ``series``,
  ``at``, ``form``), which the temporal SQL written once reads; its ``instance`` is NULL for a
  compact row, so the SQLite rows rebuild those in Python (:func:`instance_of`).

A numeric hourly reading takes about a sixth of the bytes of the old row with its two indexes.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import orjson

from cityhub.ngsild.entity import Instance

_ID_PREFIX = "urn:ngsi-ld:Instance:"
#: the view's columns ``instance_id`` to ``seq`` (see :func:`_rebuilt` in temporal.py) over
#: ``history_instances r``, as migration 0014's view computes them
VIEW_COLUMNS = (
    f"coalesce(r.instance_id, '{_ID_PREFIX}' || r.seq), coalesce(r.created, r.at),"
    " coalesce(r.modified, r.created, r.at), r.deleted, r.body, r.num, r.form, r.at, r.seq"
)

#: one ``history_instances`` row, in column order
CompactRow = tuple[
    int, str, int, int | None, str | None, str | None, str | None, str | None, str | None, Any
]
INSERT = (
    "INSERT INTO history_instances (series, at, seq, form, created, modified, deleted,"
    " instance_id, body, num) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_PREFIX = '{"type":"Property","value":'
_OBSERVED = ',"observedAt":"'
_INT = 1  # form bit: the value is a JSON integer
_SECONDS = 2  # form << 1: observedAt written without fraction ("...:00Z")
_MILLIS = 4  # form << 1: observedAt written with milliseconds ("...:00.000Z")
_EXACT = 2**53  # integers a float holds exactly


def encode(text: str, number: float | None, observed: str | None) -> tuple[str | None, int | None]:
    """``(body, form)`` of an instance whose JSON is ``text``: the body None when ``number``
    and ``observed`` (the stored observedAt) rebuild ``text`` exactly (:func:`decode`)."""
    if observed is None:
        return text, None
    if number is None or not text.startswith(_PREFIX) or not text.endswith('"}'):
        return text, 0
    i = text.find(_OBSERVED, len(_PREFIX))
    if i < 0:
        return text, 0
    shown = text[i + len(_OBSERVED) : -2]
    if shown == observed:
        form = 0
    elif observed[19:] == ".000000Z" and shown == observed[:19] + "Z":
        form = _SECONDS
    elif observed[23:] == "000Z" and shown == observed[:23] + "Z":
        form = _MILLIS
    else:
        return text, 0
    literal = text[len(_PREFIX) : i]
    value: float | int = number
    if literal.lstrip("-").isdigit():
        if abs(number) >= _EXACT:
            return text, 0
        value, form = int(number), form | _INT
    elif number == 0 and math.copysign(1.0, number) < 0:
        return text, 0  # SQLite keeps -0.0 as 0
    if orjson.dumps(value).decode() != literal:
        return text, 0
    return None, form


_PLAIN = ("type", "value", "observedAt")


def plain(inst: Instance, observed: str) -> tuple[float, int] | None:
    """``(num, form)`` when ``inst`` (members as written, no system times) is the plain numeric
    Property :func:`encode` keeps without JSON, else None: the same outcome without writing
    and parsing the JSON (the temporal API's appends are nearly all such instances)."""
    if tuple(inst) != _PLAIN or inst["type"] != "Property":
        return None
    value = inst["value"]
    kind = type(value)
    if kind is float:
        if value == 0 and math.copysign(1.0, value) < 0:
            return None
        form = 0
    elif kind is int:
        if abs(value) >= _EXACT:
            return None
        form = _INT
    else:
        return None
    shown = inst["observedAt"]
    if shown == observed:
        pass
    elif observed[19:] == ".000000Z" and shown == observed[:19] + "Z":
        form |= _SECONDS
    elif observed[23:] == "000Z" and shown == observed[:23] + "Z":
        form |= _MILLIS
    else:
        return None
    return float(value), form


def decode(num: float, form: int, at: str) -> Instance:
    """The instance a compact row stands for (:func:`encode`)."""
    if form & _MILLIS:
        shown = at[:23] + "Z"
    elif form & _SECONDS:
        shown = at[:19] + "Z"
    else:
        shown = at
    return {
        "type": "Property",
        "value": int(num) if form & _INT else num,
        "observedAt": shown,
    }


def instance_of(body: str | None, num: Any, form: int | None, at: str) -> Instance:
    """The instance of a row of the view: its JSON, or rebuilt from the compact columns."""
    if body is not None:
        result: Instance = orjson.loads(body)
        return result
    assert form is not None
    return decode(num, form, at)


def seq_of(instance_id: str) -> int | None:
    """The ``seq`` a made instance id names, else None (a stored UUID, or not ours)."""
    tail = instance_id[len(_ID_PREFIX) :] if instance_id.startswith(_ID_PREFIX) else ""
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


def allocate(conn: sqlite3.Connection, n: int) -> int:
    """Reserve ``n`` consecutive ``seq`` numbers in the caller's transaction; the first."""
    row = conn.execute("UPDATE history_seq SET next = next + ? RETURNING next", (n,)).fetchone()
    return int(row[0]) - n + 1


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
    "INSERT",
    "VIEW_COLUMNS",
    "CompactRow",
    "SeriesIds",
    "allocate",
    "decode",
    "encode",
    "instance_of",
    "plain",
    "seq_of",
]
