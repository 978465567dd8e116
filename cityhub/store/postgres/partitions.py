"""The history's monthly partitions (``migrations/0020_history_by_month.sql``): made before
rows go into a month, listed and dropped whole for retention.

A row of ``history_instances`` can only go into a month whose partition exists. Before the
store writes rows, :func:`ensure_months` makes sure their months' partitions are there: the
months this process already knows exist cost nothing; the others are created by
``cityhub_history_month`` on a connection of its own (:class:`HistoryMonths`), committed at once,
so that a write transaction that rolls back never takes back a partition another one counts
on, and the write's own transaction holds no lock of the partition's making (ATTACH takes SHARE
UPDATE EXCLUSIVE on the parent, which writes and reads do not conflict with). A connection of the
store always carries its store's :class:`HistoryMonths`; one without (a tool's) creates them in
its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cityhub.store.postgres.bridge import SyncConnection, wait

#: months from this one on get partitions of their own; earlier ones go to ``_early``
FIRST_MONTH = "2000-01"
#: months from this one on go to ``_late``
END_MONTH = "2100-01"
#: how long making a month waits for a lock before the write that needs it is run again
LOCK_TIMEOUT_MS = 10_000
_CREATE = "SELECT cityhub_history_month(m::date) FROM unnest($1::text[]) m ORDER BY 1"


def month_of(at: str) -> str:
    """The UTC month (``YYYY-MM``) of a stored time in the hub's normalized form."""
    return at[:7]


def _first_days(months: Iterable[str]) -> list[str]:
    return [f"{m}-01" for m in sorted(months)]


class HistoryMonths:
    """The months whose partitions this process knows exist, and how to make the others.

    Args:
        url: the store's database (the partitions are created on a connection of their own).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.known: set[str] = set()

    def missing(self, months: Iterable[str]) -> set[str]:
        return {m for m in months if m not in self.known}

    async def create(self, months: Iterable[str]) -> None:
        """Make sure the partitions of ``months`` exist, committed (another process may have
        made them: the function then does nothing)."""
        wanted = self.missing(months)
        if not wanted:
            return
        import asyncpg

        # the write that asked waits for this connection outside PostgreSQL's sight: should
        # its lock wait on a third party that waits for that write (retention detaching a month
        # waits for older transactions), the deadlock detector would not see the cycle, so the
        # wait is bounded and the write runs again (``PostgresStore.run_transaction``)
        conn = await asyncpg.connect(
            self.url, server_settings={"jit": "off", "lock_timeout": str(LOCK_TIMEOUT_MS)}
        )
        try:
            await conn.execute(_CREATE, _first_days(wanted))
        finally:
            await conn.close()
        self.known |= wanted

    async def ahead(self, now: datetime | None = None) -> None:
        """This month's partitions and the next's (start-up; writes make any other)."""
        today = (now or datetime.now(UTC)).date()
        following = date(today.year + today.month // 12, today.month % 12 + 1, 1)
        await self.create([today.isoformat()[:7], following.isoformat()[:7]])


def ensure_months(conn: SyncConnection, ats: Iterable[str]) -> None:
    """Before rows with the stored times ``ats`` are inserted on ``conn``: their months'
    partitions exist."""
    months = {month_of(at) for at in ats}
    made: HistoryMonths | None = conn.history_months
    if made is not None:
        missing = made.missing(months)
        if missing:
            wait(made.create(missing))
            # PostgreSQL reads a table's partitions again only when the transaction takes a
            # lock it did not hold yet: one that already wrote history (a batch whose earlier
            # entities fell in other months) would not see the months just made on the other
            # connection, and its rows would find no partition. Locking the new partitions as
            # an INSERT would (ROW EXCLUSIVE) makes it read them.
            names = [partition_of(m) for m in sorted(missing) if FIRST_MONTH <= m < END_MONTH]
            if names:
                conn.execute(f"LOCK TABLE {', '.join(names)} IN ROW EXCLUSIVE MODE")
    elif months:
        conn.execute(_CREATE, _first_days(months))


def partition_of(month: str, table: str = "history_instances") -> str:
    """The name of ``table``'s partition of ``month`` (``YYYY-MM``, from 2000 to 2099)."""
    return f"{table}_y{month[:4]}m{month[5:7]}"


@dataclass(frozen=True)
class Month:
    """One month's partition of ``history_instances`` (and its ``history_days`` twin)."""

    name: str
    first: str  # YYYY-MM-DD
    end: str  # the first day of the next month


async def months(conn: Any) -> list[Month]:
    """The monthly partitions of ``history_instances`` (not the catch-alls), oldest first."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'history_instances'::regclass"
        " AND c.relname ~ '^history_instances_y[0-9]{4}m[0-9]{2}$' ORDER BY 1"
    )
    out = []
    for (name,) in rows:
        year, month = int(name[-7:-3]), int(name[-2:])
        following = (year + month // 12, month % 12 + 1)
        out.append(
            Month(name, f"{year:04d}-{month:02d}-01", f"{following[0]:04d}-{following[1]:02d}-01")
        )
    return out


async def drop_month(conn: Any, month: Month) -> None:
    """Detach and drop one month of history and of its rollups (``conn`` outside any
    transaction: ``DETACH ... CONCURRENTLY`` waits for the reads of the month, never blocks
    new ones). A detach an earlier run left pending is finished first."""
    days = "history_days_" + month.name.removeprefix("history_instances_")
    for parent, child in (("history_instances", month.name), ("history_days", days)):
        pending = await conn.fetchval(
            "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
            child,
        )
        if pending is None:  # not a partition (any more): gone or detached
            await conn.execute(f'DROP TABLE IF EXISTS "{child}"')
            continue
        how = "FINALIZE" if pending else "CONCURRENTLY"
        await conn.execute(f'ALTER TABLE {parent} DETACH PARTITION "{child}" {how}')
        await conn.execute(f'DROP TABLE "{child}"')


__all__ = [
    "END_MONTH",
    "LOCK_TIMEOUT_MS",
    "FIRST_MONTH",
    "HistoryMonths",
    "Month",
    "drop_month",
    "ensure_months",
    "partition_of",
    "month_of",
    "months",
]
