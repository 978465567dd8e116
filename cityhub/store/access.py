"""Where access control keeps its rows (issue 20): managed tenants and their settings, API keys
(their hashes, never the secrets), permissions, the audit log, and one version number that
every change of them moves, so that each worker's cache of them (``cityhub.access``) can tell
at the cost of one tiny read that it is current. The protocol each backend implements
(``store/sqlite/access.py``, ``store/postgres/access.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

Document = dict[str, Any]


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


class AccessStore(Protocol):
    """Managed tenants, API keys, permissions and the audit log of one database. Every write
    moves :meth:`version` in its own transaction."""

    async def version(self) -> int:
        """A number that grows with every change of tenants, keys or permissions (one row,
        read on the request path: cheap)."""

    async def snapshot(self) -> AccessSnapshot:
        """Every tenant, key and permission, with the version they are as of (one read
        transaction: consistent)."""

    async def create_tenant(self, record: TenantRecord) -> None:
        """Raises AlreadyExists when a tenant of that name is managed already."""

    async def update_tenant(self, name: str, settings: Document) -> bool:
        """Replace a tenant's settings; False when there is no such tenant."""

    async def delete_tenant(self, name: str) -> bool:
        """Remove a managed tenant with its keys and permissions; False when there was none.
        Its entities stay in the store, out of reach while the tenant is not managed."""

    async def create_key(self, record: ApiKeyRecord) -> None:
        """Raises AlreadyExists when the key id is taken (random: practically never)."""

    async def get_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def revoke_key(self, key_id: str, at: str) -> bool:
        """Mark a key revoked at ``at``; False when there is no such key or it was revoked."""

    async def create_permission(self, record: PermissionRecord) -> None: ...

    async def delete_permission(self, tenant: str, permission_id: str) -> bool: ...

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

    async def query_audit(
        self, tenant: str | None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Audit lines after sequence number ``after`` (of one tenant, or all), oldest first."""


__all__ = [
    "AccessSnapshot",
    "AccessStore",
    "ApiKeyRecord",
    "AuditRecord",
    "PermissionRecord",
    "TenantRecord",
]
