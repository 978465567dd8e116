"""Where the IoT agent keeps its provisioning (issue 18): :data:`IotStore`, what ``cityhub.iot``
uses, its rules and SQL written once (:class:`Iot`) over a backend's
:class:`~cityhub.store.database.SqlConnection` (``store/sqlite/rows.py``,
``store/postgres/rows.py``), in the tables of SQLite's migration 0008 and PostgreSQL's 0007.

Config groups and devices are stored as their documents (the agent's internal form, built by
``cityhub.iot.provisioning``), one row each, with the columns they are found by:

- a group by ``(apikey, resource)``, unique over every tenant, as in FIWARE's IoT agents (a
  measure names only its apikey, which must then lead to one group, hence one tenant);
- a device by ``(tenant, device_id, apikey)``, where ``apikey`` is ``""`` for a device
  provisioned without one (it then takes its group's).

Bad payloads are counted per (tenant, apikey, device, kind), so an operator sees which device
sends what (``/iot/errors``).

Documents are bound and read as JSON text; creation order is the backend's ``seq`` column. A
new group or device is inserted ``ON CONFLICT DO NOTHING``: no row written means the key is
taken. What stays in a backend: its marks and JSON typing (``SqlConnection``), and how it
runs the lookups by key of the measure path (``Database.select``: SQLite's on the calling
thread).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.base import Document
from cityhub.store.database import Conn, SqlConnection, SqlStore


@dataclass(frozen=True)
class PayloadErrorCount:
    """How many payloads of one kind a device (or an unknown one) sent that were refused."""

    tenant: str
    apikey: str
    device_id: str
    kind: str
    count: int
    last_at: str
    last_detail: str


_INSERT_GROUP = (
    "INSERT INTO iot_groups (apikey, resource, tenant, service_path, doc, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_INSERT_DEVICE = (
    "INSERT INTO iot_devices (tenant, device_id, apikey, service_path, doc, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_GROUP_KEY = "apikey = ? AND resource = ? AND tenant = ?"
#: every change a worker's cache of groups and devices must see (SQLite 0020, PostgreSQL 0019)
_BUMP = "UPDATE iot_version SET version = version + 1 WHERE one = 1"
_ERRORS = (
    "SELECT tenant, apikey, device_id, kind, count, last_at, last_detail FROM iot_payload_errors"
)


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _loads(text: str) -> Document:
    doc: Document = orjson.loads(text)
    return doc


def _path_filter(service_path: str | None) -> tuple[str, tuple[str, ...]]:
    if service_path is None:
        return "", ()
    return " AND service_path = ?", (service_path,)


def _device_key(seq: str, device_id: str, apikey: str | None) -> tuple[str, list[str]]:
    """The WHERE clause (after ``tenant = ?``) of the device :meth:`Iot.get_device` finds: of
    this id and apikey first, else the one provisioned without an apikey; with no apikey, the
    first of that id."""
    if apikey is None:
        return f"device_id = ? ORDER BY {seq} LIMIT 1", [device_id]
    return "device_id = ? AND apikey IN (?, '') ORDER BY apikey DESC LIMIT 1", [device_id, apikey]


class Iot(SqlStore[Conn]):
    """Config groups, devices and payload error counts, per tenant, in one backend's rows."""

    async def _page(
        self, table: str, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        where, args = _path_filter(service_path)

        def run(sql: SqlConnection) -> tuple[list[Document], int]:
            rows = sql.fetch(
                f"SELECT doc FROM {table} WHERE tenant = ?{where} ORDER BY {sql.seq}"
                " LIMIT ? OFFSET ?",
                tenant,
                *args,
                limit,
                offset,
            )
            total = sql.fetch(
                f"SELECT count(*) FROM {table} WHERE tenant = ?{where}", tenant, *args
            )
            return [_loads(r[0]) for r in rows], int(total[0][0])

        return await self._read(run)

    # ---- config groups -------------------------------------------------------------------

    async def create_groups(self, tenant: str, docs: list[Document]) -> None:
        """Store new config groups, all or none (each has ``apikey``, ``resource``,
        ``service_path``).

        Raises:
            AlreadyExists: a group with one of these (apikey, resource) exists, in any tenant.
        """
        now = now_iso()

        def run(sql: SqlConnection) -> None:
            for doc in docs:
                row = (doc["apikey"], doc["resource"], tenant, doc["service_path"], _dumps(doc))
                if sql.execute(_INSERT_GROUP, *row, now) == 0:
                    raise AlreadyExists(
                        f"a config group with apikey {doc['apikey']!r} and resource "
                        f"{doc['resource']!r} already exists"
                    )
            sql.execute(_BUMP)  # a worker may hold this apikey as unknown

        await self._write(run)

    async def list_groups(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        """A page of the tenant's groups in creation order (of one service path, or every
        one when None), and their total."""
        return await self._page("iot_groups", tenant, service_path, limit, offset)

    async def get_group(self, tenant: str, apikey: str, resource: str) -> Document | None:
        statement = f"SELECT doc FROM iot_groups WHERE {_GROUP_KEY}"
        rows = await self._db.select(statement, apikey, resource, tenant)
        return _loads(rows[0][0]) if rows else None

    async def find_group(self, apikey: str, resource: str | None) -> tuple[str, Document] | None:
        """The tenant and group a measure's apikey names (any tenant); with ``resource``
        None, the apikey's group of the lowest resource (a transport that has no resource,
        such as MQTT)."""

        select = "SELECT tenant, doc FROM iot_groups WHERE apikey = ?"
        if resource is None:
            rows = await self._db.select(select + " ORDER BY resource LIMIT 1", apikey)
        else:
            rows = await self._db.select(select + " AND resource = ?", apikey, resource)
        return (rows[0][0], _loads(rows[0][1])) if rows else None

    async def update_group(
        self, tenant: str, apikey: str, resource: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """Replace a group by ``change(current)`` atomically; None if there is none."""

        def run(sql: SqlConnection) -> Document | None:
            statement = f"SELECT doc FROM iot_groups WHERE {_GROUP_KEY}{sql.for_update}"
            rows = sql.fetch(statement, apikey, resource, tenant)
            if not rows:
                return None
            new = change(_loads(rows[0][0]))
            sql.execute(
                "UPDATE iot_groups SET doc = ?, service_path = ? WHERE apikey = ? AND resource = ?",
                _dumps(new),
                new["service_path"],
                apikey,
                resource,
            )
            sql.execute(_BUMP)
            return new

        return await self._write(run)

    async def delete_group(self, tenant: str, apikey: str, resource: str) -> bool:
        def run(sql: SqlConnection) -> bool:
            statement = f"DELETE FROM iot_groups WHERE {_GROUP_KEY}"
            if sql.execute(statement, apikey, resource, tenant) == 0:
                return False
            sql.execute(_BUMP)
            return True

        return await self._write(run)

    async def provisioning_version(self) -> int:
        """A number that changes with every change of a group and every update or deletion
        of a device, whichever worker made it (a new device changes it not): what a cache of
        groups and devices holds is still true while it has not changed."""
        rows = await self._db.select("SELECT version FROM iot_version WHERE one = 1")
        return int(rows[0][0]) if rows else 0

    # ---- devices ---------------------------------------------------------------------------

    async def create_devices(self, tenant: str, docs: list[Document]) -> None:
        """Store new devices, all or none (each has ``device_id``, ``apikey`` or ``""``,
        ``service_path``).

        Raises:
            AlreadyExists: the tenant has a device with one of these (device_id, apikey).
        """

        now = now_iso()

        def run(sql: SqlConnection) -> None:
            for doc in docs:
                key = (tenant, doc["device_id"], doc.get("apikey") or "")
                if sql.execute(_INSERT_DEVICE, *key, doc["service_path"], _dumps(doc), now) == 0:
                    raise AlreadyExists(
                        f"a device with id {doc['device_id']!r} already exists in this service"
                    )

        await self._write(run)

    async def ensure_device(self, tenant: str, doc: Document) -> Document:
        """The device ``doc`` names (by device_id and apikey), created from ``doc`` if the
        tenant has none (autoprovisioning; two measures racing create it once)."""
        now = now_iso()
        apikey = doc.get("apikey") or ""

        def run(sql: SqlConnection) -> Document:
            where, args = _device_key(sql.seq, doc["device_id"], apikey)
            select = f"SELECT doc FROM iot_devices WHERE tenant = ? AND {where}"
            rows = sql.fetch(select, tenant, *args)
            if rows:
                return _loads(rows[0][0])
            row = (tenant, doc["device_id"], apikey, doc["service_path"], _dumps(doc), now)
            if sql.execute(_INSERT_DEVICE, *row) == 1:
                return doc
            # another writer created it since the select (PostgreSQL's workers)
            return _loads(sql.fetch(select, tenant, *args)[0][0])

        return await self._write(run)

    async def list_devices(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        """A page of the tenant's devices in creation order, and their total."""
        return await self._page("iot_devices", tenant, service_path, limit, offset)

    async def get_device(self, tenant: str, device_id: str, apikey: str | None) -> Document | None:
        """The device with this id and apikey, else the one with this id provisioned without
        an apikey; with ``apikey`` None, the first device of that id."""

        where, args = _device_key(self._sql.seq, device_id, apikey)
        statement = f"SELECT doc FROM iot_devices WHERE tenant = ? AND {where}"
        rows = await self._db.select(statement, tenant, *args)
        return _loads(rows[0][0]) if rows else None

    def _locked_device(
        self, sql: SqlConnection, tenant: str, device_id: str, apikey: str | None
    ) -> Sequence[Any] | None:
        """(seq, doc) of the device :meth:`get_device` finds, which no other writer changes
        before this transaction ends."""
        where, args = _device_key(sql.seq, device_id, apikey)
        statement = f"SELECT {sql.seq}, doc FROM iot_devices WHERE tenant = ? AND {where}"
        rows = sql.fetch(statement + sql.for_update, tenant, *args)
        return rows[0] if rows else None

    async def update_device(
        self,
        tenant: str,
        device_id: str,
        apikey: str | None,
        change: Callable[[Document], Document],
    ) -> Document | None:
        """Replace a device (found as :meth:`get_device` finds it) by ``change(current)``
        atomically; None if there is none."""

        def run(sql: SqlConnection) -> Document | None:
            row = self._locked_device(sql, tenant, device_id, apikey)
            if row is None:
                return None
            new = change(_loads(row[1]))
            sql.execute(
                "UPDATE iot_devices SET doc = ?, service_path = ?"
                f" WHERE tenant = ? AND {sql.seq} = ?",
                _dumps(new),
                new["service_path"],
                tenant,
                row[0],
            )
            sql.execute(_BUMP)
            return new

        return await self._write(run)

    async def delete_device(self, tenant: str, device_id: str, apikey: str | None) -> bool:
        def run(sql: SqlConnection) -> bool:
            row = self._locked_device(sql, tenant, device_id, apikey)
            if row is None:
                return False
            sql.execute(
                f"DELETE FROM iot_devices WHERE tenant = ? AND {sql.seq} = ?", tenant, row[0]
            )
            sql.execute(_BUMP)
            return True

        return await self._write(run)

    async def all_devices(self) -> list[tuple[str, Document]]:
        """Every device of every tenant, as (tenant, document), in creation order (for the
        commands' index of entities)."""

        def run(sql: SqlConnection) -> list[tuple[str, Document]]:
            rows = sql.fetch(f"SELECT tenant, doc FROM iot_devices ORDER BY {sql.seq}")
            return [(r[0], _loads(r[1])) for r in rows]

        return await self._read(run)

    # ---- payload errors ----------------------------------------------------------------------

    async def count_errors(self, errors: list[PayloadErrorCount]) -> None:
        """Add each ``count`` to its (tenant, apikey, device_id, kind) total, keeping the
        latest time and detail."""
        if not errors:
            return

        def run(sql: SqlConnection) -> None:
            sql.executemany(
                "INSERT INTO iot_payload_errors (tenant, apikey, device_id, kind, count,"
                " last_at, last_detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant, apikey, device_id, kind) DO UPDATE SET"
                " count = iot_payload_errors.count + excluded.count,"
                " last_at = excluded.last_at, last_detail = excluded.last_detail",
                [
                    (e.tenant, e.apikey, e.device_id, e.kind, e.count, e.last_at, e.last_detail)
                    for e in errors
                ],
            )

        await self._write(run)

    async def error_counts(self, tenant: str | None) -> list[PayloadErrorCount]:
        """The totals of one tenant (None: every tenant), most frequent first."""

        def run(sql: SqlConnection) -> list[PayloadErrorCount]:
            where, args = ("", ()) if tenant is None else (" WHERE tenant = ?", (tenant,))
            rows = sql.fetch(f"{_ERRORS}{where} ORDER BY count DESC, last_at DESC", *args)
            return [PayloadErrorCount(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6]) for r in rows]

        return await self._read(run)


#: the IoT agent's store, whichever backend holds it
IotStore = Iot[Any]


__all__ = ["Iot", "IotStore", "PayloadErrorCount"]
