"""The open data publishing rules in SQLite (``cityhub.store.publishing``; the table of the
publishing migration). A tenant's rules are read inline (a handful of rows by primary key)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cityhub.store.publishing import PublishingRecord
from cityhub.store.sqlite.store import SqliteStore

_COLUMNS = "tenant, type, doc, created_at, modified_at"


def _record(row: Any) -> PublishingRecord:
    return PublishingRecord(row[0], row[1], orjson.loads(row[2]), row[3], row[4])


class SqlitePublishingStore:
    """A ``PublishingStore`` in the SQLite file of ``store``."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def rules(self, tenant: str | None) -> list[PublishingRecord]:
        def run(conn: sqlite3.Connection) -> list[PublishingRecord]:
            if tenant is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM publishing_rules ORDER BY tenant, type"
                )
            else:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM publishing_rules WHERE tenant = ? ORDER BY type",
                    (tenant,),
                )
            return [_record(r) for r in rows]

        return await self.store.run_read(run, short=tenant is not None)

    async def put_rule(self, record: PublishingRecord) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            doc = orjson.dumps(record.doc).decode()
            cur = conn.execute(
                "UPDATE publishing_rules SET doc = ?, modified_at = ?"
                " WHERE tenant = ? AND type = ?",
                (doc, record.modified_at, record.tenant, record.type),
            )
            if cur.rowcount > 0:
                return False
            conn.execute(
                f"INSERT INTO publishing_rules ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (record.tenant, record.type, doc, record.created_at, record.modified_at),
            )
            return True

        return await self.store.run_transaction(run)

    async def delete_rule(self, tenant: str, type_iri: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM publishing_rules WHERE tenant = ? AND type = ?", (tenant, type_iri)
            )
            return cur.rowcount > 0

        return await self.store.run_transaction(run)


__all__ = ["SqlitePublishingStore"]
