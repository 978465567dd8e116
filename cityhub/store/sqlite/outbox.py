"""The notification outbox in SQLite (DESIGN.md decision 4; ETSI GS CIM 009 clause 5.8.6).

SQL only: which notifications are due and what has been tried. Deciding *whether* a change is
notified is the service layer's (``cityhub.notify.trigger``, a store tx hook), which queues
through the write transaction (``SqliteTransaction.enqueue``), so a notification commits (or
rolls back) with the change that caused it. :class:`SqliteOutbox` is the delivery side
(``cityhub.store.outbox.OutboxQueue``) and the periodic schedule (``PeriodicSchedule``).

Tables:

- ``outbox``: one row per notification still to deliver. The dispatcher uses :func:`claim`,
  :func:`ack` and :func:`fail`; ``due_at`` is in seconds since the epoch. A claimed row is
  leased (``leased_until``, and its ``due_at`` moved ahead) so that it is not taken twice; a
  SQLite file is served by one process, so when that process starts again after a crash
  (``kill -9``) :func:`release_leases` makes the rows it had claimed due at once: delivery is
  at-least-once.
- ``notify_throttle``: when each subscription last notified (clause 5.2.12 ``throttling``), so
  throttling keeps its meaning across restarts.
- ``notify_periodic``: when each periodic subscription (``timeInterval``) is next due.
- ``notify_version``: a number that triggers on ``subscriptions`` bump on every insert, update
  or delete, so in-memory caches of subscriptions know when to rebuild.

The tables are migration 0005's (after 0004's ``subscriptions``, which its triggers watch).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cityhub.store.outbox import OutboxRow
from cityhub.store.sqlite.store import SqliteStore, in_transaction
from cityhub.store.sqlite.transaction import enqueue, enqueued, subscriptions_version


def claim(conn: sqlite3.Connection, now: float, limit: int, lease: float) -> list[OutboxRow]:
    """Take up to ``limit`` due rows, oldest first, leasing them for ``lease`` seconds."""

    def body() -> list[OutboxRow]:
        rows = conn.execute(
            "SELECT id, tenant, subscription_id, payload, attempts, created_at FROM outbox"
            " WHERE due_at <= ? ORDER BY due_at, id LIMIT ?",
            (now, limit),
        ).fetchall()
        if rows:
            conn.executemany(
                "UPDATE outbox SET due_at = ?, leased_until = ? WHERE id = ?",
                [(now + lease, now + lease, r[0]) for r in rows],
            )
        return [OutboxRow(r[0], r[1], r[2], orjson.loads(r[3]), r[4], r[5]) for r in rows]

    result: list[OutboxRow] = in_transaction(conn, body)
    return result


def ack(conn: sqlite3.Connection, row_id: int) -> None:
    """A delivered notification leaves the outbox."""
    in_transaction(conn, lambda: conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,)))


def fail(conn: sqlite3.Connection, row_id: int, error: str, due_at: float | None) -> None:
    """Record a failed attempt: retry at ``due_at``, or give up (delete) when it is None."""

    def body() -> None:
        if due_at is None:
            conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        else:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, due_at = ?,"
                " leased_until = NULL WHERE id = ?",
                (error[:2000], due_at, row_id),
            )

    in_transaction(conn, body)


def release_leases(conn: sqlite3.Connection, now: float) -> int:
    """Make every leased row due at ``now`` (at start-up: the process that leased them is gone);
    returns how many."""

    def body() -> int:
        cur = conn.execute(
            "UPDATE outbox SET due_at = ?, leased_until = NULL WHERE leased_until IS NOT NULL",
            (now,),
        )
        return cur.rowcount

    result: int = in_transaction(conn, body)
    return result


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the earliest row is due, or None for an empty outbox."""
    row = conn.execute("SELECT min(due_at) FROM outbox").fetchone()
    return float(row[0]) if row and row[0] is not None else None


def pending(conn: sqlite3.Connection) -> list[tuple[int, str, int, str | None]]:
    """(id, subscription id, attempts, last error) of every row, for tests and operators."""
    rows = conn.execute(
        "SELECT id, subscription_id, attempts, last_error FROM outbox ORDER BY id"
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


# ---- periodic notifications (clause 5.2.12 timeInterval) --------------------------------------


def periodic_schedule(conn: sqlite3.Connection) -> dict[tuple[str, str], float]:
    """(tenant, subscription id) → when it is next due, for every scheduled subscription."""
    rows = conn.execute("SELECT tenant, subscription_id, next_at FROM notify_periodic").fetchall()
    return {(r[0], r[1]): float(r[2]) for r in rows}


def periodic_fire(
    conn: sqlite3.Connection,
    tenant: str,
    sub_id: str,
    payload: dict[str, Any] | None,
    now: float,
    next_at: float,
) -> None:
    """In one transaction: queue ``payload`` (unless None) and schedule the next round."""

    def body() -> None:
        if payload is not None:
            enqueue(conn, tenant, sub_id, payload, now)
        conn.execute(
            "INSERT OR REPLACE INTO notify_periodic (tenant, subscription_id, next_at)"
            " VALUES (?, ?, ?)",
            (tenant, sub_id, next_at),
        )

    in_transaction(conn, body)


def periodic_forget(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> None:
    """Drop the schedule of subscriptions that are gone or no longer periodic."""
    in_transaction(
        conn,
        lambda: conn.executemany(
            "DELETE FROM notify_periodic WHERE tenant = ? AND subscription_id = ?", keys
        ),
    )


class SqliteOutbox:
    """The delivery side of the SQLite outbox (``cityhub.store.outbox.OutboxQueue``) and the
    periodic schedule (``PeriodicSchedule``); one process serves the file, so a round is never
    contended and every lease at start-up is a dead process's."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def claim(self, now: float, limit: int, lease: float) -> list[OutboxRow]:
        return await self.store.run_write(lambda conn: claim(conn, now, limit, lease))

    async def ack(self, row_id: int) -> None:
        await self.store.run_write(lambda conn: ack(conn, row_id))

    async def fail(self, row_id: int, error: str, due_at: float | None) -> None:
        await self.store.run_write(lambda conn: fail(conn, row_id, error, due_at))

    async def next_due(self) -> float | None:
        return await self.store.run_read(next_due)

    async def release_leases(self, now: float) -> int:
        return await self.store.run_write(lambda conn: release_leases(conn, now))

    async def subscriptions_version(self) -> int:
        return await self.store.run_read(subscriptions_version)

    @staticmethod
    def enqueued() -> int:
        return enqueued()

    async def pending(self) -> list[tuple[int, str, int, str | None]]:
        """(id, subscription id, attempts, last error) of every row, for tests and operators."""
        return await self.store.run_read(pending)

    async def periodic_schedule(self) -> dict[tuple[str, str], float]:
        return await self.store.run_read(periodic_schedule)

    async def periodic_forget(self, keys: list[tuple[str, str]]) -> None:
        await self.store.run_write(lambda conn: periodic_forget(conn, keys))

    async def periodic_fire(
        self,
        tenant: str,
        sub_id: str,
        payload: dict[str, Any] | None,
        now: float,
        next_at: float,
        previous: float | None,
    ) -> bool:
        await self.store.run_write(
            lambda conn: periodic_fire(conn, tenant, sub_id, payload, now, next_at)
        )
        return True


__all__ = [
    "SqliteOutbox",
    "ack",
    "claim",
    "fail",
    "next_due",
    "pending",
    "periodic_fire",
    "periodic_forget",
    "periodic_schedule",
    "release_leases",
]
