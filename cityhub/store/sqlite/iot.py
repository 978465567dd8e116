"""The IoT agent's provisioning in SQLite (an ``IotStore``, ``store/iot.py``; migration 0008):
writes on the store's writer thread inside ``BEGIN IMMEDIATE`` … ``COMMIT``, reads on a reader
connection. Documents are JSON text."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.iot import PayloadErrorCount
from cityhub.store.sqlite.store import SqliteStore, in_transaction

Document = dict[str, Any]


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _loads(text: str) -> Document:
    doc: Document = orjson.loads(text)
    return doc


def _path_filter(service_path: str | None) -> tuple[str, tuple[str, ...]]:
    if service_path is None:
        return "", ()
    return " AND service_path = ?", (service_path,)


#: a device of this id and apikey first, else the one provisioned without an apikey
_DEVICE_WHERE = "tenant = ? AND device_id = ? AND apikey IN (?, '') ORDER BY apikey DESC LIMIT 1"
_ANY_DEVICE_WHERE = "tenant = ? AND device_id = ? ORDER BY rowid LIMIT 1"


def _device_key(device_id: str, apikey: str | None) -> tuple[str, tuple[str, ...]]:
    if apikey is None:
        return _ANY_DEVICE_WHERE, (device_id,)
    return _DEVICE_WHERE, (device_id, apikey)


class SqliteIotStore:
    """Config groups, devices and payload error counts of one SQLite store."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    # ---- config groups -------------------------------------------------------------------

    async def create_groups(self, tenant: str, docs: list[Document]) -> None:
        now = now_iso()

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                for doc in docs:
                    try:
                        conn.execute(
                            "INSERT INTO iot_groups (apikey, resource, tenant, service_path, doc,"
                            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                            (
                                doc["apikey"],
                                doc["resource"],
                                tenant,
                                doc["service_path"],
                                _dumps(doc),
                                now,
                            ),
                        )
                    except sqlite3.IntegrityError as exc:
                        raise AlreadyExists(
                            f"a config group with apikey {doc['apikey']!r} and resource "
                            f"{doc['resource']!r} already exists"
                        ) from exc

            in_transaction(conn, body)

        await self.store.run_write(run)

    async def list_groups(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        where, args = _path_filter(service_path)

        def run(conn: sqlite3.Connection) -> tuple[list[Document], int]:
            rows = conn.execute(
                f"SELECT doc FROM iot_groups WHERE tenant = ?{where} ORDER BY rowid"
                " LIMIT ? OFFSET ?",
                (tenant, *args, limit, offset),
            ).fetchall()
            total = conn.execute(
                f"SELECT count(*) FROM iot_groups WHERE tenant = ?{where}", (tenant, *args)
            ).fetchone()[0]
            return [_loads(r[0]) for r in rows], int(total)

        return await self.store.run_read(run)

    async def get_group(self, tenant: str, apikey: str, resource: str) -> Document | None:
        def run(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute(
                "SELECT doc FROM iot_groups WHERE apikey = ? AND resource = ? AND tenant = ?",
                (apikey, resource, tenant),
            ).fetchone()
            return _loads(row[0]) if row else None

        return await self.store.run_read(run, short=True)

    async def find_group(self, apikey: str, resource: str | None) -> tuple[str, Document] | None:
        def run(conn: sqlite3.Connection) -> tuple[str, Document] | None:
            if resource is None:
                row = conn.execute(
                    "SELECT tenant, doc FROM iot_groups WHERE apikey = ? ORDER BY resource LIMIT 1",
                    (apikey,),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT tenant, doc FROM iot_groups WHERE apikey = ? AND resource = ?",
                    (apikey, resource),
                ).fetchone()
            return (row[0], _loads(row[1])) if row else None

        return await self.store.run_read(run, short=True)

    async def update_group(
        self, tenant: str, apikey: str, resource: str, change: Callable[[Document], Document]
    ) -> Document | None:
        def run(conn: sqlite3.Connection) -> Document | None:
            def body() -> Document | None:
                row = conn.execute(
                    "SELECT doc FROM iot_groups WHERE apikey = ? AND resource = ? AND tenant = ?",
                    (apikey, resource, tenant),
                ).fetchone()
                if row is None:
                    return None
                new = change(_loads(row[0]))
                conn.execute(
                    "UPDATE iot_groups SET doc = ?, service_path = ? WHERE apikey = ?"
                    " AND resource = ?",
                    (_dumps(new), new["service_path"], apikey, resource),
                )
                return new

            return in_transaction(conn, body)

        return await self.store.run_write(run)

    async def delete_group(self, tenant: str, apikey: str, resource: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            def body() -> bool:
                cur = conn.execute(
                    "DELETE FROM iot_groups WHERE apikey = ? AND resource = ? AND tenant = ?",
                    (apikey, resource, tenant),
                )
                return cur.rowcount > 0

            return in_transaction(conn, body)

        return await self.store.run_write(run)

    # ---- devices ---------------------------------------------------------------------------

    async def create_devices(self, tenant: str, docs: list[Document]) -> None:
        now = now_iso()

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                for doc in docs:
                    try:
                        conn.execute(
                            "INSERT INTO iot_devices (tenant, device_id, apikey, service_path,"
                            " doc, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                            (
                                tenant,
                                doc["device_id"],
                                doc.get("apikey") or "",
                                doc["service_path"],
                                _dumps(doc),
                                now,
                            ),
                        )
                    except sqlite3.IntegrityError as exc:
                        raise AlreadyExists(
                            f"a device with id {doc['device_id']!r} already exists in this service"
                        ) from exc

            in_transaction(conn, body)

        await self.store.run_write(run)

    async def ensure_device(self, tenant: str, doc: Document) -> Document:
        now = now_iso()
        apikey = doc.get("apikey") or ""

        def run(conn: sqlite3.Connection) -> Document:
            def body() -> Document:
                row = conn.execute(
                    f"SELECT doc FROM iot_devices WHERE {_DEVICE_WHERE}",
                    (tenant, doc["device_id"], apikey),
                ).fetchone()
                if row is not None:
                    return _loads(row[0])
                conn.execute(
                    "INSERT INTO iot_devices (tenant, device_id, apikey, service_path, doc,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (tenant, doc["device_id"], apikey, doc["service_path"], _dumps(doc), now),
                )
                return doc

            return in_transaction(conn, body)

        return await self.store.run_write(run)

    async def list_devices(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        where, args = _path_filter(service_path)

        def run(conn: sqlite3.Connection) -> tuple[list[Document], int]:
            rows = conn.execute(
                f"SELECT doc FROM iot_devices WHERE tenant = ?{where} ORDER BY rowid"
                " LIMIT ? OFFSET ?",
                (tenant, *args, limit, offset),
            ).fetchall()
            total = conn.execute(
                f"SELECT count(*) FROM iot_devices WHERE tenant = ?{where}", (tenant, *args)
            ).fetchone()[0]
            return [_loads(r[0]) for r in rows], int(total)

        return await self.store.run_read(run)

    async def get_device(self, tenant: str, device_id: str, apikey: str | None) -> Document | None:
        where, args = _device_key(device_id, apikey)

        def run(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute(
                f"SELECT doc FROM iot_devices WHERE {where}", (tenant, *args)
            ).fetchone()
            return _loads(row[0]) if row else None

        return await self.store.run_read(run, short=True)

    async def update_device(
        self,
        tenant: str,
        device_id: str,
        apikey: str | None,
        change: Callable[[Document], Document],
    ) -> Document | None:
        where, args = _device_key(device_id, apikey)

        def run(conn: sqlite3.Connection) -> Document | None:
            def body() -> Document | None:
                row = conn.execute(
                    f"SELECT rowid, doc FROM iot_devices WHERE {where}", (tenant, *args)
                ).fetchone()
                if row is None:
                    return None
                new = change(_loads(row[1]))
                conn.execute(
                    "UPDATE iot_devices SET doc = ?, service_path = ? WHERE rowid = ?",
                    (_dumps(new), new["service_path"], row[0]),
                )
                return new

            return in_transaction(conn, body)

        return await self.store.run_write(run)

    async def delete_device(self, tenant: str, device_id: str, apikey: str | None) -> bool:
        where, args = _device_key(device_id, apikey)

        def run(conn: sqlite3.Connection) -> bool:
            def body() -> bool:
                row = conn.execute(
                    f"SELECT rowid FROM iot_devices WHERE {where}", (tenant, *args)
                ).fetchone()
                if row is None:
                    return False
                conn.execute("DELETE FROM iot_devices WHERE rowid = ?", (row[0],))
                return True

            return in_transaction(conn, body)

        return await self.store.run_write(run)

    async def all_devices(self) -> list[tuple[str, Document]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, Document]]:
            rows = conn.execute("SELECT tenant, doc FROM iot_devices ORDER BY rowid").fetchall()
            return [(r[0], _loads(r[1])) for r in rows]

        return await self.store.run_read(run)

    # ---- payload errors ----------------------------------------------------------------------

    async def count_errors(self, errors: list[PayloadErrorCount]) -> None:
        if not errors:
            return

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                conn.executemany(
                    "INSERT INTO iot_payload_errors (tenant, apikey, device_id, kind, count,"
                    " last_at, last_detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (tenant, apikey, device_id, kind) DO UPDATE SET"
                    " count = count + excluded.count, last_at = excluded.last_at,"
                    " last_detail = excluded.last_detail",
                    [
                        (e.tenant, e.apikey, e.device_id, e.kind, e.count, e.last_at, e.last_detail)
                        for e in errors
                    ],
                )

            in_transaction(conn, body)

        await self.store.run_write(run)

    async def error_counts(self, tenant: str | None) -> list[PayloadErrorCount]:
        def run(conn: sqlite3.Connection) -> list[PayloadErrorCount]:
            sql = (
                "SELECT tenant, apikey, device_id, kind, count, last_at, last_detail"
                " FROM iot_payload_errors"
            )
            args: tuple[str, ...] = ()
            if tenant is not None:
                sql += " WHERE tenant = ?"
                args = (tenant,)
            rows = conn.execute(sql + " ORDER BY count DESC, last_at DESC", args).fetchall()
            return [PayloadErrorCount(*r) for r in rows]

        return await self.store.run_read(run)


__all__ = ["SqliteIotStore"]
