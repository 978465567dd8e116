"""Access control's rows in SQLite (``cityhub.store.access``; tables of the access migration).
Writes run on the store's writer thread, each in one transaction that also moves the version;
the version is read inline (one row of a tiny table, on the event loop's connection)."""

from __future__ import annotations

import sqlite3
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
from cityhub.store.sqlite.store import SqliteStore

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


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE access_version SET version = version + 1 WHERE one = 1")


class SqliteAccessStore:
    """An ``AccessStore`` in the SQLite file of ``store``."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def _change(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def body(conn: sqlite3.Connection) -> T:
            result = fn(conn)
            _bump(conn)
            return result

        return await self.store.run_transaction(body)

    async def version(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT version FROM access_version WHERE one = 1").fetchone()
            return int(row[0]) if row else 0

        return await self.store.run_read(run, short=True)

    async def snapshot(self) -> AccessSnapshot:
        def run(conn: sqlite3.Connection) -> AccessSnapshot:
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT version FROM access_version WHERE one = 1").fetchone()
                tenants = tuple(
                    TenantRecord(r[0], orjson.loads(r[1]), r[2])
                    for r in conn.execute(
                        "SELECT name, settings, created_at FROM access_tenants ORDER BY name"
                    )
                )
                keys = tuple(
                    _key(r)
                    for r in conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY rowid")
                )
                permissions = tuple(
                    PermissionRecord(r[0], r[1], orjson.loads(r[2]), r[3])
                    for r in conn.execute(
                        "SELECT id, tenant, doc, created_at FROM access_permissions ORDER BY rowid"
                    )
                )
            finally:
                conn.execute("COMMIT")
            return AccessSnapshot(int(row[0]) if row else 0, tenants, keys, permissions)

        return await self.store.run_read(run)

    async def create_tenant(self, record: TenantRecord) -> None:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO access_tenants (name, settings, created_at) VALUES (?, ?, ?)",
                    (record.name, orjson.dumps(record.settings).decode(), record.created_at),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"tenant {record.name!r} exists already") from exc
            conn.execute(
                "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)",
                (record.name, record.created_at),
            )

        await self._change(run)

    async def update_tenant(self, name: str, settings: Document) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE access_tenants SET settings = ? WHERE name = ?",
                (orjson.dumps(settings).decode(), name),
            )
            return cur.rowcount > 0

        return await self._change(run)

    async def delete_tenant(self, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM access_tenants WHERE name = ?", (name,))
            conn.execute("DELETE FROM api_keys WHERE tenant = ? AND NOT admin", (name,))
            conn.execute("DELETE FROM access_permissions WHERE tenant = ?", (name,))
            return cur.rowcount > 0

        return await self._change(run)

    async def create_key(self, record: ApiKeyRecord) -> None:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.key_id,
                        record.tenant,
                        record.name,
                        int(record.admin),
                        record.salt,
                        record.digest,
                        record.created_at,
                        record.expires_at,
                        record.revoked_at,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"key id {record.key_id} is taken") from exc

        await self._change(run)

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        def run(conn: sqlite3.Connection) -> ApiKeyRecord | None:
            row = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            return _key(row) if row else None

        return await self.store.run_read(run, short=True)

    async def revoke_key(self, key_id: str, at: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (at, key_id),
            )
            return cur.rowcount > 0

        return await self._change(run)

    async def create_permission(self, record: PermissionRecord) -> None:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO access_permissions (id, tenant, doc, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (
                        record.id,
                        record.tenant,
                        orjson.dumps(record.doc).decode(),
                        record.created_at,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"a permission with id {record.id} exists already") from exc

        await self._change(run)

    async def delete_permission(self, tenant: str, permission_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM access_permissions WHERE tenant = ? AND id = ?",
                (tenant, permission_id),
            )
            return cur.rowcount > 0

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
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO audit_log (at, tenant, actor, action, target, ids, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, tenant, actor, action, target, orjson.dumps(list(ids)).decode(), status),
            )

        await self.store.run_transaction(run)

    async def query_audit(
        self, tenant: str | None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        def run(conn: sqlite3.Connection) -> list[AuditRecord]:
            sql = "SELECT seq, at, tenant, actor, action, target, ids, status FROM audit_log"
            args: list[Any] = [after]
            if tenant is None:
                sql += " WHERE seq > ?"
            else:
                sql += " WHERE seq > ? AND tenant = ?"
                args.append(tenant)
            rows = conn.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit)).fetchall()
            return [
                AuditRecord(r[0], r[1], r[2], r[3], r[4], r[5], tuple(orjson.loads(r[6])), r[7])
                for r in rows
            ]

        return await self.store.run_read(run)


__all__ = ["SqliteAccessStore"]
