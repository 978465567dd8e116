"""The city services' work queue in SQLite (``cityhub.store.work``; table ``service_work``,
migration 0009).

:func:`enqueue_work` runs inside an entity write transaction (``SqliteTransaction``);
:class:`SqliteWorkQueue` is the worker side. A SQLite file is served by one process, so when
that process starts again after a crash every lease is a dead process's
(:meth:`SqliteWorkQueue.release_leases`).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from cityhub.store.base import Document
from cityhub.store.work import WorkItem

if TYPE_CHECKING:  # the store imports the transaction, which imports enqueue_work from here
    from cityhub.store.sqlite.store import SqliteStore

_COLUMNS = "id, service, tenant, item_key, payload, attempts, enqueued_at"


def enqueue_work(
    conn: sqlite3.Connection,
    service: str,
    tenant: str,
    key: str | None,
    payload: Document,
    due_at: float,
) -> None:
    """Queue (or coalesce with the unclaimed item of the same key) inside the caller's
    transaction."""
    conn.execute(
        "INSERT INTO service_work (service, tenant, item_key, payload, due_at, enqueued_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (service, tenant, item_key) WHERE lease_token IS NULL"
        " DO UPDATE SET payload = excluded.payload, due_at = min(due_at, excluded.due_at)",
        (service, tenant, key, orjson.dumps(payload).decode(), due_at, time.time()),
    )


def _claim(
    conn: sqlite3.Connection, service: str, now: float, limit: int, lease: float
) -> list[WorkItem]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM service_work WHERE service = ? AND due_at <= ?"
        " ORDER BY due_at, id LIMIT ?",
        (service, now, limit),
    ).fetchall()
    items = []
    for r in rows:
        token = uuid.uuid4().hex
        conn.execute(
            "UPDATE service_work SET due_at = ?, leased_until = ?, lease_token = ? WHERE id = ?",
            (now + lease, now + lease, token, r[0]),
        )
        items.append(WorkItem(r[0], r[1], r[2], r[3], orjson.loads(r[4]), r[5], r[6], token))
    return items


class SqliteWorkQueue:
    """The worker side of the work queue (``cityhub.store.work.WorkQueue``)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def add(
        self, service: str, tenant: str, key: str | None, payload: Document, due_at: float
    ) -> None:
        await self.store.run_transaction(
            lambda conn: enqueue_work(conn, service, tenant, key, payload, due_at)
        )

    async def claim(self, service: str, now: float, limit: int, lease: float) -> list[WorkItem]:
        return await self.store.run_transaction(
            lambda conn: _claim(conn, service, now, limit, lease)
        )

    async def done(self, items: Sequence[WorkItem]) -> None:
        if not items:
            return
        await self.store.run_transaction(
            lambda conn: conn.executemany(
                "DELETE FROM service_work WHERE id = ? AND lease_token = ?",
                [(i.id, i.token) for i in items],
            )
        )

    async def retry(self, item: WorkItem, error: str, due_at: float | None) -> None:
        if due_at is None:
            await self.done([item])
            return
        await self.store.run_transaction(
            lambda conn: conn.execute(
                "UPDATE service_work SET attempts = attempts + 1, last_error = ?, due_at = ?,"
                " leased_until = NULL WHERE id = ? AND lease_token = ?",
                (error[:2000], due_at, item.id, item.token),
            )
        )

    async def release(self, items: Sequence[WorkItem], now: float) -> None:
        if not items:
            return

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE service_work SET due_at = ?, leased_until = NULL"
                " WHERE id = ? AND lease_token = ?",
                [(now, i.id, i.token) for i in items],
            )

        await self.store.run_transaction(run)

    async def release_leases(self, now: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE service_work SET due_at = ?, leased_until = NULL"
                " WHERE leased_until IS NOT NULL",
                (now,),
            ).rowcount

        return await self.store.run_transaction(run)

    async def next_due(self, service: str) -> float | None:
        row = await self.store.run_read(
            lambda conn: conn.execute(
                "SELECT min(due_at) FROM service_work WHERE service = ?", (service,)
            ).fetchone(),
            short=True,
        )
        return float(row[0]) if row and row[0] is not None else None

    async def pending(self, service: str) -> int:
        row = await self.store.run_read(
            lambda conn: conn.execute(
                "SELECT count(*) FROM service_work WHERE service = ?", (service,)
            ).fetchone(),
            short=True,
        )
        return int(row[0])


__all__ = ["SqliteWorkQueue", "enqueue_work"]
