"""What the stores written once above the backends (``subscriptions.Subscriptions``,
``registrations.Registrations``) need of a backend's store: run a plain function of its
connection inside one write transaction, or as a read. ``SqliteStore`` (``sqlite3.Connection``,
on its writer thread and its readers) and ``PostgresStore`` (``SyncConnection``, through the
greenlet bridge) are both one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

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


__all__ = ["Conn", "Database"]
