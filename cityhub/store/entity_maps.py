"""Where EntityMaps are kept (ETSI GS CIM 009 v1.9.1 clauses 5.5.14 and 5.14; the rules are
``cityhub.ngsild.entity_map``'s). In the database rather than in a worker's memory, so that
a paged query's later pages find the map whichever worker answers them. Its SQL is written
once over a backend's :class:`~cityhub.store.database.SqlConnection`, in the table of
SQLite's migration 0018 and PostgreSQL's 0015 (the document as JSON text on both).

An expired map is never returned, and the expired maps are deleted each time a map is
created, so the table holds at most the maps of the last ``MAX_LIFETIME``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cityhub.store.database import Conn, SqlConnection, SqlStore

Document = dict[str, Any]


class EntityMaps(SqlStore[Conn]):
    """The EntityMaps of one database, by tenant."""

    async def create(self, tenant: str, doc: Document, now: str) -> None:
        """Store a new map (its id is new: the broker made it) and drop the expired ones."""
        text = orjson.dumps(doc).decode()

        def run(sql: SqlConnection) -> None:
            sql.execute(f"DELETE FROM entity_maps WHERE expires_at {sql.bytewise} <= ?", now)
            sql.execute(
                "INSERT INTO entity_maps (tenant, id, expires_at, doc) VALUES (?, ?, ?, ?)",
                tenant,
                doc["id"],
                doc["expiresAt"],
                text,
            )

        await self._write(run)

    async def get(self, tenant: str, map_id: str, now: str) -> Document | None:
        """The map, None when there is none or it has expired."""
        rows = await self._db.select(
            "SELECT doc, expires_at FROM entity_maps WHERE tenant = ? AND id = ?", tenant, map_id
        )
        if not rows or str(rows[0][1]) <= now:
            return None
        doc = rows[0][0]
        return orjson.loads(doc) if isinstance(doc, str | bytes) else dict(doc)

    async def change(
        self, tenant: str, map_id: str, now: str, fn: Callable[[Document], Document]
    ) -> bool:
        """Rewrite the live map ``map_id`` with ``fn(doc)``, in one transaction; False when
        there is none (or it has expired)."""

        def run(sql: SqlConnection) -> bool:
            rows = sql.fetch(
                f"SELECT doc, expires_at FROM entity_maps WHERE tenant = ? AND id = ?"
                f"{sql.for_update}",
                tenant,
                map_id,
            )
            if not rows or str(rows[0][1]) <= now:
                return False
            raw = rows[0][0]
            doc = fn(orjson.loads(raw) if isinstance(raw, str | bytes) else dict(raw))
            sql.execute(
                "UPDATE entity_maps SET doc = ?, expires_at = ? WHERE tenant = ? AND id = ?",
                orjson.dumps(doc).decode(),
                doc["expiresAt"],
                tenant,
                map_id,
            )
            return True

        return await self._write(run)

    async def delete(self, tenant: str, map_id: str, now: str) -> bool:
        """Delete the live map ``map_id``; False when there is none (or it has expired)."""
        statement = "DELETE FROM entity_maps WHERE tenant = ? AND id = ? AND expires_at > ?"
        return await self._write(lambda sql: sql.execute(statement, tenant, map_id, now)) > 0


#: the EntityMaps' store, whichever backend holds it
EntityMapStore = EntityMaps[Any]


__all__ = ["EntityMapStore", "EntityMaps"]
