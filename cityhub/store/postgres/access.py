"""Access control's rows in PostgreSQL (``cityhub.store.access``; tables of migration 9). Every
write moves ``access_version`` in its own transaction, so each worker's cache sees the change
on its next request (one primary-key read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from cityhub.errors import AlreadyExists
from cityhub.store.access import (
    AccessSnapshot,
    ApiKeyRecord,
    AuditRecord,
    Document,
    PermissionRecord,
    TenantRecord,
)
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.store import PostgresStore

T = TypeVar("T")

_KEY_COLUMNS = "key_id, tenant, name, admin, salt, digest, created_at, expires_at, revoked_at"


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row[0],
        tenant=row[1],
        name=row[2],
        admin=bool(row[3]),
        salt=row[4],
        digest=row[5],
        created_at=row[6],
        expires_at=row[7],
        revoked_at=row[8],
    )


def _dumps(doc: Any) -> str:
    return orjson.dumps(doc).decode()


class PostgresAccessStore:
    """An ``AccessStore`` in the database of ``store``."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def _change(self, fn: Callable[[SyncConnection], T]) -> T:
        def body(conn: SyncConnection) -> T:
            result = fn(conn)
            conn.execute("UPDATE access_version SET version = version + 1 WHERE one = 1")
            return result

        return await self.store.run_transaction(body)

    async def version(self) -> int:
        rows = await self.store.fetch("SELECT version FROM access_version WHERE one = 1")
        return int(rows[0][0]) if rows else 0

    async def snapshot(self) -> AccessSnapshot:
        def run(conn: SyncConnection) -> AccessSnapshot:
            version = conn.fetchval("SELECT version FROM access_version WHERE one = 1")
            tenants = tuple(
                TenantRecord(r[0], orjson.loads(r[1]), r[2])
                for r in conn.fetch(
                    "SELECT name, settings::text, created_at FROM access_tenants ORDER BY name"
                )
            )
            keys = tuple(
                _key(r) for r in conn.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY key_id")
            )
            permissions = tuple(
                PermissionRecord(r[0], r[1], orjson.loads(r[2]), r[3])
                for r in conn.fetch(
                    "SELECT id, tenant, doc::text, created_at FROM access_permissions "
                    "ORDER BY created_at, id"
                )
            )
            return AccessSnapshot(int(version or 0), tenants, keys, permissions)

        # one transaction: the version and the rows are of the same moment
        return await self.store.run_transaction(run)

    async def create_tenant(self, record: TenantRecord) -> None:
        def run(conn: SyncConnection) -> None:
            status = conn.execute(
                "INSERT INTO access_tenants (name, settings, created_at)"
                " VALUES ($1, $2::jsonb, $3) ON CONFLICT DO NOTHING",
                record.name,
                _dumps(record.settings),
                record.created_at,
            )
            if rowcount(status) == 0:
                raise AlreadyExists(f"tenant {record.name!r} exists already")
            conn.execute(
                "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                record.name,
                record.created_at,
            )

        await self._change(run)

    async def update_tenant(self, name: str, settings: Document) -> bool:
        def run(conn: SyncConnection) -> bool:
            status = conn.execute(
                "UPDATE access_tenants SET settings = $1::jsonb WHERE name = $2",
                _dumps(settings),
                name,
            )
            return rowcount(status) > 0

        return await self._change(run)

    async def delete_tenant(self, name: str) -> bool:
        def run(conn: SyncConnection) -> bool:
            status = conn.execute("DELETE FROM access_tenants WHERE name = $1", name)
            conn.execute("DELETE FROM api_keys WHERE tenant = $1 AND NOT admin", name)
            conn.execute("DELETE FROM access_permissions WHERE tenant = $1", name)
            return rowcount(status) > 0

        return await self._change(run)

    async def create_key(self, record: ApiKeyRecord) -> None:
        def run(conn: SyncConnection) -> None:
            status = conn.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                " $9) ON CONFLICT DO NOTHING",
                record.key_id,
                record.tenant,
                record.name,
                record.admin,
                record.salt,
                record.digest,
                record.created_at,
                record.expires_at,
                record.revoked_at,
            )
            if rowcount(status) == 0:
                raise AlreadyExists(f"key id {record.key_id} is taken")

        await self._change(run)

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = await self.store.fetch(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = $1", key_id
        )
        return _key(rows[0]) if rows else None

    async def revoke_key(self, key_id: str, at: str) -> bool:
        def run(conn: SyncConnection) -> bool:
            status = conn.execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL",
                at,
                key_id,
            )
            return rowcount(status) > 0

        return await self._change(run)

    async def create_permission(self, record: PermissionRecord) -> None:
        def run(conn: SyncConnection) -> None:
            status = conn.execute(
                "INSERT INTO access_permissions (id, tenant, doc, created_at)"
                " VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING",
                record.id,
                record.tenant,
                _dumps(record.doc),
                record.created_at,
            )
            if rowcount(status) == 0:
                raise AlreadyExists(f"a permission with id {record.id} exists already")

        await self._change(run)

    async def delete_permission(self, tenant: str, permission_id: str) -> bool:
        def run(conn: SyncConnection) -> bool:
            status = conn.execute(
                "DELETE FROM access_permissions WHERE tenant = $1 AND id = $2",
                tenant,
                permission_id,
            )
            return rowcount(status) > 0

        return await self._change(run)

    async def append_audit(
        self,
        at: str,
        tenant: str,
        actor: str,
        action: str,
        target: str,
        ids: tuple[str, ...],
        status: int,
    ) -> None:
        def run(conn: SyncConnection) -> None:
            conn.execute(
                "INSERT INTO audit_log (at, tenant, actor, action, target, ids, status)"
                " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
                at,
                tenant,
                actor,
                action,
                target,
                _dumps(list(ids)),
                status,
            )

        await self.store.run_transaction(run)

    async def query_audit(
        self, tenant: str | None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        sql = "SELECT seq, at, tenant, actor, action, target, ids::text, status FROM audit_log"
        args: list[Any] = [after]
        if tenant is None:
            sql += " WHERE seq > $1 ORDER BY seq LIMIT $2"
        else:
            sql += " WHERE seq > $1 AND tenant = $3 ORDER BY seq LIMIT $2"
        args.append(limit)
        if tenant is not None:
            args.append(tenant)
        rows = await self.store.fetch(sql, *args)
        return [
            AuditRecord(r[0], r[1], r[2], r[3], r[4], r[5], tuple(orjson.loads(r[6])), r[7])
            for r in rows
        ]


__all__ = ["PostgresAccessStore"]
