"""The IoT agent's provisioning in PostgreSQL (an ``IotStore``, ``store/iot.py``; migration
0007): documents as JSONB, creation order by an identity column, each write one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.iot import PayloadErrorCount
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.store import PostgresStore

Document = dict[str, Any]


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _loads(text: str) -> Document:
    doc: Document = orjson.loads(text)
    return doc


def _path_filter(service_path: str | None, first: int) -> tuple[str, tuple[str, ...]]:
    if service_path is None:
        return "", ()
    return f" AND service_path = ${first}", (service_path,)


#: a device of this id and apikey first, else the one provisioned without an apikey
_DEVICE_WHERE = "tenant = $1 AND device_id = $2 AND apikey IN ($3, '') ORDER BY apikey DESC LIMIT 1"
_ANY_DEVICE_WHERE = "tenant = $1 AND device_id = $2 ORDER BY seq LIMIT 1"


def _device_key(device_id: str, apikey: str | None) -> tuple[str, tuple[str, ...]]:
    if apikey is None:
        return _ANY_DEVICE_WHERE, (device_id,)
    return _DEVICE_WHERE, (device_id, apikey)


class PostgresIotStore:
    """Config groups, devices and payload error counts of one PostgreSQL database."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    # ---- config groups -------------------------------------------------------------------

    async def create_groups(self, tenant: str, docs: list[Document]) -> None:
        now = now_iso()

        def run(conn: SyncConnection) -> None:
            for doc in docs:
                status = conn.execute(
                    "INSERT INTO iot_groups (apikey, resource, tenant, service_path, doc,"
                    " created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT DO NOTHING",
                    doc["apikey"],
                    doc["resource"],
                    tenant,
                    doc["service_path"],
                    _dumps(doc),
                    now,
                )
                if rowcount(status) == 0:
                    raise AlreadyExists(
                        f"a config group with apikey {doc['apikey']!r} and resource "
                        f"{doc['resource']!r} already exists"
                    )

        await self.store.run_transaction(run)

    async def list_groups(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        where, args = _path_filter(service_path, 2)
        n = 2 + len(args)
        rows = await self.store.fetch(
            f"SELECT doc::text FROM iot_groups WHERE tenant = $1{where} ORDER BY seq"
            f" LIMIT ${n} OFFSET ${n + 1}",
            tenant,
            *args,
            limit,
            offset,
        )
        total = await self.store.fetch(
            f"SELECT count(*) FROM iot_groups WHERE tenant = $1{where}", tenant, *args
        )
        return [_loads(r[0]) for r in rows], int(total[0][0])

    async def get_group(self, tenant: str, apikey: str, resource: str) -> Document | None:
        rows = await self.store.fetch(
            "SELECT doc::text FROM iot_groups WHERE apikey = $1 AND resource = $2 AND tenant = $3",
            apikey,
            resource,
            tenant,
        )
        return _loads(rows[0][0]) if rows else None

    async def find_group(self, apikey: str, resource: str | None) -> tuple[str, Document] | None:
        if resource is None:
            rows = await self.store.fetch(
                "SELECT tenant, doc::text FROM iot_groups WHERE apikey = $1"
                " ORDER BY resource LIMIT 1",
                apikey,
            )
        else:
            rows = await self.store.fetch(
                "SELECT tenant, doc::text FROM iot_groups WHERE apikey = $1 AND resource = $2",
                apikey,
                resource,
            )
        return (rows[0][0], _loads(rows[0][1])) if rows else None

    async def update_group(
        self, tenant: str, apikey: str, resource: str, change: Callable[[Document], Document]
    ) -> Document | None:
        def run(conn: SyncConnection) -> Document | None:
            row = conn.fetchrow(
                "SELECT doc::text FROM iot_groups WHERE apikey = $1 AND resource = $2"
                " AND tenant = $3 FOR UPDATE",
                apikey,
                resource,
                tenant,
            )
            if row is None:
                return None
            new = change(_loads(row[0]))
            conn.execute(
                "UPDATE iot_groups SET doc = $1::jsonb, service_path = $2 WHERE apikey = $3"
                " AND resource = $4",
                _dumps(new),
                new["service_path"],
                apikey,
                resource,
            )
            return new

        return await self.store.run_transaction(run)

    async def delete_group(self, tenant: str, apikey: str, resource: str) -> bool:
        def run(conn: SyncConnection) -> bool:
            status = conn.execute(
                "DELETE FROM iot_groups WHERE apikey = $1 AND resource = $2 AND tenant = $3",
                apikey,
                resource,
                tenant,
            )
            return rowcount(status) > 0

        return await self.store.run_transaction(run)

    # ---- devices ---------------------------------------------------------------------------

    async def create_devices(self, tenant: str, docs: list[Document]) -> None:
        now = now_iso()

        def run(conn: SyncConnection) -> None:
            for doc in docs:
                status = conn.execute(
                    "INSERT INTO iot_devices (tenant, device_id, apikey, service_path, doc,"
                    " created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT DO NOTHING",
                    tenant,
                    doc["device_id"],
                    doc.get("apikey") or "",
                    doc["service_path"],
                    _dumps(doc),
                    now,
                )
                if rowcount(status) == 0:
                    raise AlreadyExists(
                        f"a device with id {doc['device_id']!r} already exists in this service"
                    )

        await self.store.run_transaction(run)

    async def ensure_device(self, tenant: str, doc: Document) -> Document:
        now = now_iso()
        apikey = doc.get("apikey") or ""

        def run(conn: SyncConnection) -> Document:
            conn.execute(
                "INSERT INTO iot_devices (tenant, device_id, apikey, service_path, doc,"
                " created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT DO NOTHING",
                tenant,
                doc["device_id"],
                apikey,
                doc["service_path"],
                _dumps(doc),
                now,
            )
            row = conn.fetchrow(
                f"SELECT doc::text FROM iot_devices WHERE {_DEVICE_WHERE}",
                tenant,
                doc["device_id"],
                apikey,
            )
            return _loads(row[0])

        return await self.store.run_transaction(run)

    async def list_devices(
        self, tenant: str, service_path: str | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        where, args = _path_filter(service_path, 2)
        n = 2 + len(args)
        rows = await self.store.fetch(
            f"SELECT doc::text FROM iot_devices WHERE tenant = $1{where} ORDER BY seq"
            f" LIMIT ${n} OFFSET ${n + 1}",
            tenant,
            *args,
            limit,
            offset,
        )
        total = await self.store.fetch(
            f"SELECT count(*) FROM iot_devices WHERE tenant = $1{where}", tenant, *args
        )
        return [_loads(r[0]) for r in rows], int(total[0][0])

    async def get_device(self, tenant: str, device_id: str, apikey: str | None) -> Document | None:
        where, args = _device_key(device_id, apikey)
        rows = await self.store.fetch(
            f"SELECT doc::text FROM iot_devices WHERE {where}", tenant, *args
        )
        return _loads(rows[0][0]) if rows else None

    async def update_device(
        self,
        tenant: str,
        device_id: str,
        apikey: str | None,
        change: Callable[[Document], Document],
    ) -> Document | None:
        where, args = _device_key(device_id, apikey)

        def run(conn: SyncConnection) -> Document | None:
            row = conn.fetchrow(
                f"SELECT seq, doc::text FROM iot_devices WHERE {where} FOR UPDATE",
                tenant,
                *args,
            )
            if row is None:
                return None
            new = change(_loads(row[1]))
            conn.execute(
                "UPDATE iot_devices SET doc = $1::jsonb, service_path = $2 WHERE tenant = $3"
                " AND seq = $4",
                _dumps(new),
                new["service_path"],
                tenant,
                row[0],
            )
            return new

        return await self.store.run_transaction(run)

    async def delete_device(self, tenant: str, device_id: str, apikey: str | None) -> bool:
        where, args = _device_key(device_id, apikey)

        def run(conn: SyncConnection) -> bool:
            row = conn.fetchrow(
                f"SELECT seq FROM iot_devices WHERE {where} FOR UPDATE", tenant, *args
            )
            if row is None:
                return False
            conn.execute("DELETE FROM iot_devices WHERE tenant = $1 AND seq = $2", tenant, row[0])
            return True

        return await self.store.run_transaction(run)

    async def all_devices(self) -> list[tuple[str, Document]]:
        rows = await self.store.fetch("SELECT tenant, doc::text FROM iot_devices ORDER BY seq")
        return [(r[0], _loads(r[1])) for r in rows]

    # ---- payload errors ----------------------------------------------------------------------

    async def count_errors(self, errors: list[PayloadErrorCount]) -> None:
        if not errors:
            return

        def run(conn: SyncConnection) -> None:
            conn.executemany(
                "INSERT INTO iot_payload_errors (tenant, apikey, device_id, kind, count,"
                " last_at, last_detail) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (tenant, apikey, device_id, kind) DO UPDATE SET"
                " count = iot_payload_errors.count + excluded.count,"
                " last_at = excluded.last_at, last_detail = excluded.last_detail",
                [
                    (e.tenant, e.apikey, e.device_id, e.kind, e.count, e.last_at, e.last_detail)
                    for e in errors
                ],
            )

        await self.store.run_transaction(run)

    async def error_counts(self, tenant: str | None) -> list[PayloadErrorCount]:
        sql = (
            "SELECT tenant, apikey, device_id, kind, count, last_at, last_detail"
            " FROM iot_payload_errors"
        )
        args: tuple[str, ...] = ()
        if tenant is not None:
            sql += " WHERE tenant = $1"
            args = (tenant,)
        rows = await self.store.fetch(sql + " ORDER BY count DESC, last_at DESC", *args)
        return [PayloadErrorCount(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6]) for r in rows]


__all__ = ["PostgresIotStore"]
