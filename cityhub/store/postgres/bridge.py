"""Synchronous code over asyncpg, without threads: the greenlet bridge.

The store protocol runs write transactions as plain functions (``fn(tx)``, the pure operations
of ``cityhub.ngsild.ops``) and transaction hooks as plain functions too, because SQLite's are
synchronous. asyncpg is asynchronous. :func:`run_sync` runs such a function in a greenlet on the
event loop's own thread; whenever it needs the database it calls :func:`wait` with a coroutine,
which switches back to :func:`run_sync`, which awaits the coroutine and switches back in with
the result. The function reads as ordinary synchronous code, the event loop is never blocked on
I/O, and no thread or lock is involved (SQLAlchemy's asyncio layer uses the same idea).

:class:`SyncConnection` wraps one asyncpg connection with the few methods the store's
synchronous code uses.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

import asyncpg
import greenlet

from cityhub.errors import BadRequestData

if TYPE_CHECKING:
    from cityhub.store.postgres.partitions import HistoryMonths

T = TypeVar("T")


class _Bridged(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet whose parent is the coroutine driving it."""

    def __init__(self, fn: Callable[..., Any], driver: greenlet.greenlet) -> None:
        super().__init__(fn, driver)
        self.driver = driver


def wait(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` from synchronous code running under :func:`run_sync`.

    Raises:
        RuntimeError: not called (indirectly) from :func:`run_sync`.
    """
    current = greenlet.getcurrent()
    if not isinstance(current, _Bridged):
        if hasattr(awaitable, "close"):
            awaitable.close()  # no "never awaited" warning on top of this error
        raise RuntimeError("wait() needs a caller running under run_sync()")
    return cast(T, current.driver.switch(awaitable))


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)``, awaiting for it every coroutine it passes to :func:`wait`."""
    child = _Bridged(fn, greenlet.getcurrent())
    result: Any = child.switch(*args)
    while not child.dead:
        try:
            value = await result
        except BaseException:
            result = child.throw(*sys.exc_info())
        else:
            result = child.switch(value)
    return cast(T, result)


@contextlib.contextmanager
def refused_data() -> Iterator[None]:
    """PostgreSQL's "data exception" errors (class 22: a NUL character in text, a regular
    expression it cannot compile, a number out of range) are bad request data, not 500s."""
    try:
        yield
    except asyncpg.InvalidRegularExpressionError as exc:
        raise BadRequestData(
            f"a regular expression of this request (idPattern, ~= in q) is RE2 syntax that "
            f"PostgreSQL cannot run ({exc}): \\p classes, flags after the start of the "
            "pattern and repetition counts over 255 have no PostgreSQL counterpart"
        ) from exc
    except asyncpg.DataError as exc:
        raise BadRequestData(f"the database refused a value of this request: {exc}") from exc


class SyncConnection:
    """An asyncpg connection for synchronous code under :func:`run_sync`.

    Placeholders are PostgreSQL's ``$1``, ``$2``...; rows are asyncpg Records (tuples that can
    also be indexed by column name). ``history_months``: the store's knowledge of the history's
    monthly partitions (``partitions.py``), None on a connection that is not a store's.
    """

    def __init__(self, conn: Any, history_months: HistoryMonths | None = None) -> None:
        self.raw = conn
        self.history_months = history_months
        #: statements sent so far (a transaction's savepoint tells by it whether its block
        #: wrote anything: ``PostgresTransaction.savepoint``)
        self.sent = 0

    def _wait(self, awaitable: Awaitable[T]) -> T:
        self.sent += 1
        with refused_data():
            return wait(awaitable)

    def execute(self, sql: str, *args: Any) -> str:
        """Run one statement; returns its status tag (``INSERT 0 1``, ``DELETE 3``...)."""
        return cast(str, self._wait(self.raw.execute(sql, *args)))

    def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        if args:
            self._wait(self.raw.executemany(sql, args))

    def fetch(self, sql: str, *args: Any) -> list[Any]:
        return cast(list[Any], self._wait(self.raw.fetch(sql, *args)))

    def fetchrow(self, sql: str, *args: Any) -> Any:
        return self._wait(self.raw.fetchrow(sql, *args))

    def fetchval(self, sql: str, *args: Any) -> Any:
        return self._wait(self.raw.fetchval(sql, *args))


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``?`` marks as ``$1``, ``$2``... (the statements written once hold no other ``?``)."""
    pieces = sql.split("?")
    return "".join(f"{p}${n}" for n, p in enumerate(pieces[:-1], 1)) + pieces[-1]


def rowcount(status: str) -> int:
    """The row count of a status tag such as ``DELETE 3`` or ``INSERT 0 1``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


__all__ = ["SyncConnection", "numbered", "refused_data", "rowcount", "run_sync", "wait"]
