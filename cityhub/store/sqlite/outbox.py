"""The notification outbox in SQLite (DESIGN.md decision 4; ETSI GS CIM 009 clause 5.8.6).

SQL only: which notifications are due and what has been tried. Deciding *whether* a change is
notified is the service layer's (``cityhub.notify.trigger``, a store tx hook), which queues
through the write transaction (``SqliteTransaction.enqueue``), so a notification commits (or
rolls back) with the change that caused it. :class:`SqliteOutbox` is the delivery side
(``cityhub.store.outbox.OutboxQueue``) and the periodic schedule (``PeriodicSchedule``).

Tables:

- ``outbox``: one row per notification still to deliver. The dispatcher uses ``claim``, ``ack``
  and ``fail``; ``due_at`` is in seconds since the epoch. A claimed row is leased
  (``leased_until``, and its ``due_at`` moved ahead) so that it is not taken twice; a SQLite
  file is served by one process, so when that process starts again after a crash (``kill -9``)
  ``release_leases`` makes the rows it had claimed due at once: delivery is at-least-once.
- ``notify_throttle``: when each subscription last notified (clause 5.2.12 ``throttling``), so
  throttling keeps its meaning across restarts.
- ``notify_periodic``: when each periodic subscription (``timeInterval``) is next due.
- ``notify_version``: a number that triggers on ``subscriptions`` bump on every insert, update
  or delete, so in-memory caches of subscriptions know when to rebuild.

The tables are migration 0005's (after 0004's ``subscriptions``, which its triggers watch).
"""

from __future__ import annotations

import sqlite3

from cityhub.store.outbox import Outbox, OutboxRow
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.transaction import subscriptions_version


class SqliteOutbox(Outbox):
    """The delivery side of the SQLite outbox (``cityhub.store.outbox.OutboxQueue``) and the
    periodic schedule (``PeriodicSchedule``); one process serves the file, so a round is never
    contended and every lease at start-up is a dead process's."""

    store: SqliteStore

    async def claim(self, now: float, limit: int, lease: float) -> list[OutboxRow]:
        """Take up to ``limit`` due rows, oldest first, leasing them for ``lease`` seconds."""

        def claim(conn: sqlite3.Connection) -> list[OutboxRow]:
            rows = conn.execute(
                "SELECT id, tenant, subscription_id, payload, attempts, created_at FROM outbox"
                " WHERE due_at <= ? ORDER BY due_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET due_at = ?, leased_until = ? WHERE id = ?",
                [(now + lease, now + lease, r[0]) for r in rows],
            )
            return [self._row(r) for r in rows]

        return await self.store.run_transaction(claim)

    async def ack(self, row_id: int) -> None:
        """A delivered notification leaves the outbox."""
        await self.store.run_transaction(
            lambda conn: conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        )

    async def _retry(self, row_id: int, error: str, due_at: float) -> None:
        await self.store.run_transaction(
            lambda conn: conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, due_at = ?,"
                " leased_until = NULL WHERE id = ?",
                (error, due_at, row_id),
            )
        )

    async def release_leases(self, now: float) -> int:
        """Make every leased row due at ``now`` (at start-up: the process that leased them is
        gone); returns how many."""

        def release(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE outbox SET due_at = ?, leased_until = NULL WHERE leased_until IS NOT NULL",
                (now,),
            ).rowcount

        return await self.store.run_transaction(release)

    async def next_due(self) -> float | None:
        """When the earliest row is due, or None for an empty outbox."""
        row = await self.store.run_read(
            lambda conn: conn.execute("SELECT min(due_at) FROM outbox").fetchone()
        )
        return float(row[0]) if row and row[0] is not None else None

    async def subscriptions_version(self) -> int:
        return await self.store.run_read(subscriptions_version)

    async def pending(self) -> list[tuple[int, str, int, str | None]]:
        """(id, subscription id, attempts, last error) of every row, for tests and operators."""
        rows = await self.store.run_read(
            lambda conn: conn.execute(
                "SELECT id, subscription_id, attempts, last_error FROM outbox ORDER BY id"
            ).fetchall()
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # ---- periodic notifications (clause 5.2.12 timeInterval) ---------------------------
    async def periodic_schedule(self) -> dict[tuple[str, str], float]:
        """(tenant, subscription id) → when it is next due, for every scheduled subscription."""
        rows = await self.store.run_read(
            lambda conn: conn.execute(
                "SELECT tenant, subscription_id, next_at FROM notify_periodic"
            ).fetchall()
        )
        return {(r[0], r[1]): float(r[2]) for r in rows}

    async def periodic_forget(self, keys: list[tuple[str, str]]) -> None:
        """Drop the schedule of subscriptions that are gone or no longer periodic."""
        await self.store.run_transaction(
            lambda conn: conn.executemany(
                "DELETE FROM notify_periodic WHERE tenant = ? AND subscription_id = ?", keys
            )
        )


__all__ = ["SqliteOutbox"]
