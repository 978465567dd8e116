"""What the stores written once above the backends (``subscriptions.Subscriptions``,
``registrations.Registrations``) need of a backend: :class:`Database` runs a plain function of
its connection inside one write transaction, or as a read (``SqliteStore`` and
``PostgresStore`` are both one); :class:`SqlConnection` is that connection as the SQL written
once (``subscriptions.SubscriptionRows``, ``registration_rows.RegistrationRows``) uses it:
statements with ``?`` marks, and the few pieces each backend writes its own way (its dialect,
as ``qsql.Dialect`` is for queries), with its own locks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from cityhub.store.base import Transaction

T = TypeVar("T")
#: a backend's connection, as its row functions take it
Conn = TypeVar("Conn")
_Conn = TypeVar("_Conn", covariant=True)


class Database(Protocol[_Conn]):
    """Runs functions of one backend's connection."""

    async def run_transaction(self, fn: Callable[[_Conn], T]) -> T:
        """``fn(conn)`` inside one write transaction: committed when it returns, rolled back
        when it raises (the exception propagates)."""

    async def run_read(self, fn: Callable[[_Conn], T]) -> T:
        """``fn(conn)`` for read-only work."""

    async def select(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        """The rows of one short read written once (``?`` marks: a lookup by key, a count),
        the backend's quickest way: SQLite's on the calling thread, PostgreSQL's as one
        statement on a pooled connection (no transaction, no bridge)."""

    def change_marker(self) -> bytes | None:
        """A value that differs after any commit by any connection, read without a query;
        None when the backend cannot tell so cheaply. Equal to the last one seen: nothing
        was committed since (SQLite: its WAL-index header)."""


class QueuingTransaction(Transaction, Protocol):
    #: notifications this transaction queued
    queued: int


class SqlConnection(Protocol):
    """One backend's connection for the SQL written once. Statements mark each value with
    ``?`` and hold no other ``?``; a JSON document is bound and read as its text."""

    #: the column that orders a table's rows by creation
    seq: str
    #: after a SELECT of rows to rewrite: no other writer changes them before this transaction
    #: ends (empty where writers take turns)
    for_update: str
    #: after a SELECT of a row that no other writer may delete before this transaction ends
    key_share: str
    #: after a text column compared byte-wise (canonical UTC date-times)
    bytewise: str

    def __init__(self, conn: Any) -> None:
        """The backend's connection, as :class:`Database` hands it to a function."""

    def member(self, column: str, name: str) -> str:
        """A JSON document's top-level member, as text (NULL when it has none)."""

    def pattern(self, pattern: str) -> str:
        """An RE2 pattern in the syntax :meth:`regexp` runs."""

    def regexp(self, pattern: str, text: str, stored: bool = False) -> str:
        """``text`` matches ``pattern`` (SQL of each); a ``stored`` pattern the backend cannot
        run matches nothing, a caller's is refused (BadRequestData)."""

    def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; how many rows it changed."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...

    def transaction(self, tenant: str) -> QueuingTransaction:
        """The backend's Transaction of ``tenant`` on this connection (what hooks are given)."""

    def lock_exclusive_registrations(self, tenant: str) -> None:
        """No other transaction checks the tenant's exclusive registrations before this one
        ends, so two conflicting ones are never both accepted."""

    def claim_periodic(self) -> bool:
        """Whether this transaction may run the periodic rounds of registration
        subscriptions (False: another worker is running them)."""


class SqlStore(Generic[Conn]):
    """A store whose SQL is written once (the IoT agent's, access control's, the publishing
    rules, the work queue): its functions take the backend's :class:`SqlConnection`.

    Args:
        db: the backend's store, which runs the functions.
        sql: the backend's :class:`SqlConnection` class (its dialect, and a function's
            connection as ``sql(conn)``).
    """

    def __init__(self, db: Database[Conn], sql: type[SqlConnection]) -> None:
        self._db = db
        self._sql = sql

    async def _write(self, fn: Callable[[SqlConnection], T]) -> T:
        """``fn`` in one write transaction."""
        return await self._db.run_transaction(lambda conn: fn(self._sql(conn)))

    async def _read(self, fn: Callable[[SqlConnection], T]) -> T:
        """``fn`` as a read (of several statements; one short read: ``Database.select``)."""
        return await self._db.run_read(lambda conn: fn(self._sql(conn)))


def add_tenant(sql: SqlConnection, tenant: str, now: str) -> None:
    """The tenant's row, if it has none yet (clause 4.14: a write creates its tenant)."""
    sql.execute(
        "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", tenant, now
    )


__all__ = ["Conn", "Database", "QueuingTransaction", "SqlConnection", "SqlStore", "add_tenant"]
