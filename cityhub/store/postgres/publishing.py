"""The open data publishing rules in PostgreSQL (``cityhub.store.publishing``; the table of
migration 10)."""

from __future__ import annotations

from typing import Any

import orjson

from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.publishing import PublishingRecord

_COLUMNS = "tenant, type, doc::text, created_at, modified_at"


def _record(row: Any) -> PublishingRecord:
    return PublishingRecord(row[0], row[1], orjson.loads(row[2]), row[3], row[4])


class PostgresPublishingStore:
    """A ``PublishingStore`` in the database of ``store``."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def rules(self, tenant: str | None) -> list[PublishingRecord]:
        if tenant is None:
            rows = await self.store.fetch(
                f"SELECT {_COLUMNS} FROM publishing_rules ORDER BY tenant, type"
            )
        else:
            rows = await self.store.fetch(
                f"SELECT {_COLUMNS} FROM publishing_rules WHERE tenant = $1 ORDER BY type", tenant
            )
        return [_record(r) for r in rows]

    async def put_rule(self, record: PublishingRecord) -> bool:
        def run(conn: SyncConnection) -> bool:
            created = conn.fetchval(
                "INSERT INTO publishing_rules (tenant, type, doc, created_at, modified_at)"
                " VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT (tenant, type) DO UPDATE SET"
                " doc = EXCLUDED.doc, modified_at = EXCLUDED.modified_at"
                " RETURNING (xmax = 0)",
                record.tenant,
                record.type,
                orjson.dumps(record.doc).decode(),
                record.created_at,
                record.modified_at,
            )
            return bool(created)

        return await self.store.run_transaction(run)

    async def delete_rule(self, tenant: str, type_iri: str) -> bool:
        def run(conn: SyncConnection) -> bool:
            status = conn.execute(
                "DELETE FROM publishing_rules WHERE tenant = $1 AND type = $2", tenant, type_iri
            )
            return rowcount(status) > 0

        return await self.store.run_transaction(run)


__all__ = ["PostgresPublishingStore"]
