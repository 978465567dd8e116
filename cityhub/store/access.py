"""Where access control keeps its rows (issue 20): managed tenants and their settings, API keys
(their hashes, never the secrets), permissions, the audit log, and one version number that
every change of them moves, so that each worker's cache of them (``cityhub.access``) can tell
at the cost of one tiny read that it is current. Its rules and SQL are written once
(:class:`Access`) over a backend's :class:`~cityhub.store.database.SqlConnection`, in the
tables of SQLite's migration 0010 and PostgreSQL's 0009 (documents as JSON text, bound and read
alike on both), and the quota counters of SQLite's 0012 and PostgreSQL's 0011.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from cityhub.errors import AlreadyExists
from cityhub.store.database import Conn, SqlConnection, SqlStore, add_tenant

Document = dict[str, Any]
T = TypeVar("T")

_VERSION = "SELECT version FROM access_version WHERE one = 1"
_KEY_COLUMNS = "key_id, tenant, name, admin, salt, digest, created_at, expires_at, revoked_at"
_AUDIT_COLUMNS = "seq, at, tenant, actor, action, target, ids, status"

#: a caller's quota counters (``cityhub.access.quotas``): bucket tokens, when they were
#: counted (seconds since the epoch), the UTC day, the requests of that day
Quota = tuple[float, float, str, int]


@dataclass(frozen=True)
class TenantRecord:
    """A tenant created by an operator (``/admin/tenants``, ``cityhub tenants create``)."""

    name: str
    settings: Document
    created_at: str


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: its public id (the prefix shown for support), the salt and hash
    of its secret, never the secret itself.

    Attributes:
        key_id: the public part of the key (``chk_<key_id>_<secret>``).
        tenant: the tenant the key acts in ("" the default tenant).
        name: what the operator called it.
        admin: a hub administrator's key (tenants, keys, permissions, every tenant).
        salt: random bytes (hex) hashed before the secret.
        digest: SHA-256 of salt and secret (hex).
        expires_at: ISO 8601 UTC, or None (never).
        revoked_at: ISO 8601 UTC when revoked, or None.
    """

    key_id: str
    tenant: str
    name: str
    admin: bool
    salt: str
    digest: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None


@dataclass(frozen=True)
class PermissionRecord:
    """One permission of a tenant: ``doc`` holds its action, target and assignee
    (``cityhub.access.permissions`` validates and reads it)."""

    id: str
    tenant: str
    doc: Document
    created_at: str


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log: who did what when (entity ids, not payloads)."""

    seq: int
    at: str
    tenant: str
    actor: str
    action: str
    target: str
    ids: tuple[str, ...] = ()
    status: int = 0


@dataclass(frozen=True)
class AccessSnapshot:
    """Everything access control decides with, as of ``version``."""

    version: int
    tenants: tuple[TenantRecord, ...] = ()
    keys: tuple[ApiKeyRecord, ...] = ()
    permissions: tuple[PermissionRecord, ...] = ()


def _dumps(doc: Any) -> str:
    return orjson.dumps(doc).decode()


def _key(row: Sequence[Any]) -> ApiKeyRecord:
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


class Access(SqlStore[Conn]):
    """Managed tenants, API keys, permissions and the audit log of one database. Every write
    of tenants, keys or permissions moves :meth:`version` in its own transaction.

    """

    async def _change(self, fn: Callable[[SqlConnection], T]) -> T:
        def body(sql: SqlConnection) -> T:
            result = fn(sql)
            sql.execute("UPDATE access_version SET version = version + 1 WHERE one = 1")
            return result

        return await self._write(body)

    async def version(self) -> int:
        """A number that grows with every change of tenants, keys or permissions (one row,
        read on the request path: cheap)."""
        rows = await self._db.select(_VERSION)
        return int(rows[0][0]) if rows else 0

    def change_marker(self) -> bytes | None:
        """The backend's commit marker (``Database.change_marker``): while it stays the same,
        the version did not move, and :meth:`version` need not be read."""
        return self._db.change_marker()

    async def snapshot(self) -> AccessSnapshot:
        """Every tenant, key and permission, with the version they are as of. The version is
        read first: the rows are of that moment or later, never earlier, so a change that
        commits in between makes the next :meth:`version` differ and the copy is read again."""

        def run(sql: SqlConnection) -> AccessSnapshot:
            version = sql.fetch(_VERSION)
            tenants = tuple(
                TenantRecord(r[0], orjson.loads(r[1]), r[2])
                for r in sql.fetch(
                    "SELECT name, settings, created_at FROM access_tenants ORDER BY name"
                )
            )
            keys = tuple(
                _key(r)
                for r in sql.fetch(
                    f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
                )
            )
            permissions = tuple(
                PermissionRecord(r[0], r[1], orjson.loads(r[2]), r[3])
                for r in sql.fetch(
                    "SELECT id, tenant, doc, created_at FROM access_permissions"
                    " ORDER BY created_at, id"
                )
            )
            return AccessSnapshot(int(version[0][0]) if version else 0, tenants, keys, permissions)

        return await self._read(run)

    async def create_tenant(self, record: TenantRecord) -> None:
        """Raises AlreadyExists when a tenant of that name is managed already."""

        def run(sql: SqlConnection) -> None:
            inserted = sql.execute(
                "INSERT INTO access_tenants (name, settings, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                record.name,
                _dumps(record.settings),
                record.created_at,
            )
            if inserted == 0:
                raise AlreadyExists(f"tenant {record.name!r} exists already")
            add_tenant(sql, record.name, record.created_at)

        await self._change(run)

    async def update_tenant(self, name: str, settings: Document) -> bool:
        """Replace a tenant's settings; False when there is no such tenant."""

        def run(sql: SqlConnection) -> bool:
            statement = "UPDATE access_tenants SET settings = ? WHERE name = ?"
            return sql.execute(statement, _dumps(settings), name) > 0

        return await self._change(run)

    async def delete_tenant(self, name: str) -> bool:
        """Remove a managed tenant with its keys and permissions; False when there was none.
        Its entities stay in the store, out of reach while the tenant is not managed."""

        def run(sql: SqlConnection) -> bool:
            deleted = sql.execute("DELETE FROM access_tenants WHERE name = ?", name)
            sql.execute("DELETE FROM api_keys WHERE tenant = ? AND NOT admin", name)
            sql.execute("DELETE FROM access_permissions WHERE tenant = ?", name)
            return deleted > 0

        return await self._change(run)

    async def create_key(self, record: ApiKeyRecord) -> None:
        """Raises AlreadyExists when the key id is taken (random: practically never)."""

        def run(sql: SqlConnection) -> None:
            inserted = sql.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
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
            if inserted == 0:
                raise AlreadyExists(f"key id {record.key_id} is taken")

        await self._change(run)

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = await self._db.select(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", key_id
        )
        return _key(rows[0]) if rows else None

    async def revoke_key(self, key_id: str, at: str) -> bool:
        """Mark a key revoked at ``at``; False when there is no such key or it was revoked."""

        def run(sql: SqlConnection) -> bool:
            statement = "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"
            return sql.execute(statement, at, key_id) > 0

        return await self._change(run)

    async def create_permission(self, record: PermissionRecord) -> None:
        def run(sql: SqlConnection) -> None:
            inserted = sql.execute(
                "INSERT INTO access_permissions (id, tenant, doc, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                record.id,
                record.tenant,
                _dumps(record.doc),
                record.created_at,
            )
            if inserted == 0:
                raise AlreadyExists(f"a permission with id {record.id} exists already")

        await self._change(run)

    async def delete_permission(self, tenant: str, permission_id: str) -> bool:
        def run(sql: SqlConnection) -> bool:
            statement = "DELETE FROM access_permissions WHERE tenant = ? AND id = ?"
            return sql.execute(statement, tenant, permission_id) > 0

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
        """Append one line to the audit log (never updated nor deleted but by retention)."""
        row = (at, tenant, actor, action, target, _dumps(list(ids)), status)
        await self._write(
            lambda sql: sql.execute(
                "INSERT INTO audit_log (at, tenant, actor, action, target, ids, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                *row,
            )
        )

    async def query_audit(
        self, tenant: str | None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Audit lines after sequence number ``after`` (of one tenant, or all), oldest first."""
        where, args = ("", ()) if tenant is None else (" AND tenant = ?", (tenant,))
        statement = (
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE seq > ?{where} ORDER BY seq LIMIT ?"
        )

        def run(sql: SqlConnection) -> list[AuditRecord]:
            rows = sql.fetch(statement, after, *args, limit)
            return [
                AuditRecord(r[0], r[1], r[2], r[3], r[4], r[5], tuple(orjson.loads(r[6])), r[7])
                for r in rows
            ]

        return await self._read(run)

    async def prune_audit(self, before: str, batch: int = 500) -> int:
        """Delete the audit lines older than ``before`` (ISO 8601 UTC, as the hub writes
        times; compared as text in Python, the same on both backends), oldest first, at most
        ``batch`` a transaction; how many went. Lines are appended in time order, so the old
        ones are the first by sequence number: a run stops at the first line it keeps."""

        def run(sql: SqlConnection) -> tuple[int, bool]:
            rows = sql.fetch("SELECT seq, at FROM audit_log ORDER BY seq LIMIT ?", batch)
            old = [r[0] for r in rows if r[1] < before]
            if old:
                marks = ",".join("?" * len(old))
                sql.execute(f"DELETE FROM audit_log WHERE seq IN ({marks})", *old)
            return len(old), len(rows) == batch and len(old) == len(rows)

        deleted = 0
        while True:
            gone, more = await self._write(run)
            deleted += gone
            if not more:
                return deleted

    async def update_quota(self, caller: str, change: Callable[[Quota | None], Quota]) -> Quota:
        """Replace a caller's quota counters by ``change(current)`` (None: none yet) in one
        transaction, the row locked meanwhile on PostgreSQL, so the workers sharing the store
        count one bucket; ``change`` is quick and does no I/O (it may run again when a
        transaction is retried)."""

        def run(sql: SqlConnection) -> Quota:
            # a row to lock, even for the caller's first request (at = -1: none yet)
            sql.execute(
                "INSERT INTO access_quotas (caller, tokens, at, day, used) VALUES (?, 0, -1, '', 0)"
                " ON CONFLICT DO NOTHING",
                caller,
            )
            rows = sql.fetch(
                f"SELECT tokens, at, day, used FROM access_quotas WHERE caller = ?{sql.for_update}",
                caller,
            )
            row = rows[0]
            current = (
                None
                if float(row[1]) < 0
                else (float(row[0]), float(row[1]), str(row[2]), int(row[3]))
            )
            after = change(current)
            sql.execute(
                "UPDATE access_quotas SET tokens = ?, at = ?, day = ?, used = ? WHERE caller = ?",
                *after,
                caller,
            )
            return after

        return await self._write(run)

    async def forget_quotas(self, today: str) -> int:
        """Delete the quota counters last used before ``today`` (a UTC day, YYYY-MM-DD): their
        day is over and their buckets have long refilled."""
        return await self._write(
            lambda sql: sql.execute("DELETE FROM access_quotas WHERE day <> ?", today)
        )


#: access control's store, whichever backend holds it
AccessStore = Access[Any]


__all__ = [
    "Access",
    "AccessSnapshot",
    "AccessStore",
    "ApiKeyRecord",
    "AuditRecord",
    "PermissionRecord",
    "Quota",
    "TenantRecord",
]
