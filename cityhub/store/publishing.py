"""Where the open data publishing rules are kept (issue 19): per tenant and entity type, what
is public (``cityhub.opendata.rules`` validates and reads a rule's document). Its SQL is
written once (:class:`Publishing`) over a backend's
:class:`~cityhub.store.database.SqlConnection`, in the table of SQLite's migration 0011 and
PostgreSQL's 0010 (the document as JSON text, bound and read alike on both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cityhub.store.database import Conn, SqlConnection, SqlStore

Document = dict[str, Any]
_COLUMNS = "tenant, type, doc, created_at, modified_at"


@dataclass(frozen=True)
class PublishingRecord:
    """One publishing rule as stored.

    Attributes:
        tenant: the tenant ("" the default tenant).
        type: the entity type's IRI.
        doc: the rule's document (attributes, licence, attribution, history, title...).
        created_at: ISO 8601 UTC.
        modified_at: ISO 8601 UTC.
    """

    tenant: str
    type: str
    doc: Document
    created_at: str
    modified_at: str


def _record(row: Sequence[Any]) -> PublishingRecord:
    return PublishingRecord(row[0], row[1], orjson.loads(row[2]), row[3], row[4])


class Publishing(SqlStore[Conn]):
    """The publishing rules of one database."""

    async def rules(self, tenant: str | None) -> list[PublishingRecord]:
        """The rules of one tenant (None: of every tenant), by tenant and type."""
        if tenant is not None:
            statement = f"SELECT {_COLUMNS} FROM publishing_rules WHERE tenant = ? ORDER BY type"
            return [_record(r) for r in await self._db.select(statement, tenant)]
        every = f"SELECT {_COLUMNS} FROM publishing_rules ORDER BY tenant, type"
        rows = await self._read(lambda sql: sql.fetch(every))
        return [_record(r) for r in rows]

    async def put_rule(self, record: PublishingRecord) -> bool:
        """Create or replace the rule of ``(tenant, type)`` (a replacement keeps its
        ``created_at``); True when it was created."""
        doc = orjson.dumps(record.doc).decode()
        update = (
            "UPDATE publishing_rules SET doc = ?, modified_at = ? WHERE tenant = ? AND type = ?"
        )
        changes = (doc, record.modified_at, record.tenant, record.type)

        def run(sql: SqlConnection) -> bool:
            if sql.execute(update, *changes) > 0:
                return False
            inserted = sql.execute(
                f"INSERT INTO publishing_rules ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                record.tenant,
                record.type,
                doc,
                record.created_at,
                record.modified_at,
            )
            if inserted > 0:
                return True
            sql.execute(update, *changes)  # another worker created it since the update
            return False

        return await self._write(run)

    async def delete_rule(self, tenant: str, type_iri: str) -> bool:
        """Remove a rule; False when there was none."""
        statement = "DELETE FROM publishing_rules WHERE tenant = ? AND type = ?"
        deleted = await self._write(lambda sql: sql.execute(statement, tenant, type_iri))
        return deleted > 0


#: the publishing rules' store, whichever backend holds it
PublishingStore = Publishing[Any]


__all__ = ["Publishing", "PublishingRecord", "PublishingStore"]
