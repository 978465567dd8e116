"""The SQLite store: WAL, one writer thread fed by a queue, a pool of reader threads.

Reads run on reader threads with one connection each; every write is a function run on the
writer thread inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any exception), so callers
only ``await`` and never see a lock. ``:memory:`` databases run reads on the writer too.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from cityhub.errors import StoreUnavailable
from cityhub.ngsild import regex
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import has_pattern
from cityhub.store.base import BaseStore, Change, EntityQuery, QueryResult, Transaction
from cityhub.store.instances import InstanceRow
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import geo, history, migrate, qindex
from cityhub.store.sqlite.commits import CommitWatch
from cityhub.store.sqlite.entities import COLUMNS, order_clause, row_to_entity, where_clause
from cityhub.store.sqlite.faults import cannot_open, fault_of
from cityhub.store.sqlite.transaction import SqliteTransaction

T = TypeVar("T")
log = logging.getLogger("cityhub")


def _regexp(pattern: object, text: object) -> bool:
    # idPattern, with RE2 (linear in the text); never raises inside SQLite
    return isinstance(pattern, str) and regex.search(pattern, text)


def _connect(path: str, mmap_mb: int = 0) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, uri=path.startswith("file:")
    )
    if mmap_mb > 0:
        conn.execute(f"PRAGMA mmap_size={int(mmap_mb) * 1_048_576}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.create_function("ngsild_regexp", 2, _regexp, deterministic=True)
    qcompile.register_functions(conn)
    geo.register_geo_functions(conn)
    return conn


def rollback(conn: sqlite3.Connection) -> None:
    """End the transaction on ``conn`` without its changes, if one is still open: after a full
    disk or an I/O error SQLite may have rolled it back already (and a failed COMMIT may leave
    it open). A failing ROLLBACK is logged, not raised: the error that led here is the one
    the caller must see."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # pragma: no cover - the file is gone or unreadable
            log.warning("SQLite ROLLBACK failed: %s", exc)


def in_transaction(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    """Run ``fn`` inside ``BEGIN IMMEDIATE`` … ``COMMIT`` on ``conn``; roll back if it or the
    COMMIT raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn()
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return result


def _ends_transaction(exc: Exception, conn: sqlite3.Connection) -> bool:
    """Whether an error of one grouped job must end the whole group's transaction: SQLite
    rolled it back already, or the error is a fault of the store (full, read-only, I/O)."""
    return not conn.in_transaction or fault_of(exc, "") is not None


#: the history rows a group's finished jobs hold: (tenant, each change's rows), in job order
Held = list[tuple[str, list[Sequence[InstanceRow]]]]


class _Group:
    """What the jobs of one group commit share: the history rows the jobs done so far hold
    (written together before the COMMIT, :func:`history.flush_held`) and the subscriptions'
    version, read by the first job that asks (subscriptions change only in plain jobs,
    ``run_transaction``, and none runs inside a group)."""

    __slots__ = ("held", "rows", "subscriptions_version")

    def __init__(self) -> None:
        self.held: Held = []
        self.rows = 0  # in ``held``
        self.subscriptions_version: int | None = None

    def hold(self, tenant: str, changes: list[Sequence[InstanceRow]]) -> None:
        self.held.append((tenant, changes))
        self.rows += sum(len(rows) for rows in changes)

    def flush(self, conn: sqlite3.Connection) -> None:
        if self.held:
            history.flush_held(conn, self.held)
            self.held, self.rows = [], 0


#: held history rows past which a group writes them after the job that made them (a batch
#: of 100 entities holds 1,000: nothing to share with the next job, and its pages are still
#: in the writer's cache now); small writes (an update's one row) wait for the COMMIT
_HELD_ROWS = 256


class _Grouped:
    """A write job that can share one transaction with others queued beside it (group
    commit): ``body(conn, group)`` does its work without BEGIN/COMMIT, inside its own
    savepoint. In a group (``group`` not None) a job that ``defers`` adds its history rows to
    the group's instead of writing them; alone, or not deferring, it writes its own.

    ``defers``: False for a job that reads or writes history rows itself (the temporal API's
    writes): the rows the jobs before it hold are written first, and it writes its own, so
    it sees what running the jobs one by one would show it."""

    __slots__ = ("body", "defers")

    def __init__(
        self, body: Callable[[sqlite3.Connection, _Group | None], Any], defers: bool
    ) -> None:
        self.body = body
        self.defers = defers


_GROUP_MAX = 64


class _Reply:
    """Where a write job's outcome goes: a future of the event loop that awaits it, settled
    with the other outcomes of its group in ONE wake-up of that loop (:func:`_deliver`),
    instead of one thread-safe call (a write to the loop's self-pipe, and the GIL handed to
    the loop's thread) per job. Offers the part of ``concurrent.futures.Future`` the writer
    uses."""

    __slots__ = ("loop", "future", "ok", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.ok: bool | None = None  # None: not run (its caller gave up waiting first)
        self.value: Any = None

    def set_running_or_notify_cancel(self) -> bool:
        return not self.future.cancelled()

    def set_result(self, value: Any) -> None:
        self.ok, self.value = True, value

    def set_exception(self, exc: BaseException) -> None:
        self.ok, self.value = False, exc


def _settle(replies: list[_Reply]) -> None:
    """On the loop's thread: hand each outcome to its waiting coroutine."""
    for reply in replies:
        if reply.ok is None or reply.future.done():
            continue
        if reply.ok:
            reply.future.set_result(reply.value)
        else:
            reply.future.set_exception(reply.value)


def _deliver(jobs: list[tuple[Any, Any]]) -> None:
    """Wake each loop that waits for some of ``jobs`` once, with all of its outcomes."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Reply]] = {}
    for _, reply in jobs:
        if isinstance(reply, _Reply):
            by_loop.setdefault(reply.loop, []).append(reply)
    for loop, replies in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, replies)
        except RuntimeError:  # pragma: no cover - the loop closed: nobody waits any more
            pass


def _run_one(
    conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any], fut: Future[Any]
) -> None:
    if not fut.set_running_or_notify_cancel():
        return
    try:
        fut.set_result(fn(conn))
    except BaseException as exc:
        fut.set_exception(exc)


def _run_group(conn: sqlite3.Connection, group: list[tuple[_Grouped, Future[Any]]]) -> None:
    """Run queued write jobs in ONE transaction, each in a savepoint: a job that raises is
    rolled back alone; the others commit together, and nobody hears back before the COMMIT.
    One COMMIT for many small writes is where a busy hub spends less (group commit)."""
    live = [(job, fut) for job, fut in group if fut.set_running_or_notify_cancel()]
    if len(live) == 1:
        job, fut = live[0]
        try:
            fut.set_result(in_transaction(conn, lambda: job.body(conn, None)))
        except BaseException as exc:
            fut.set_exception(exc)
        return
    if not live:
        return
    outcomes: list[tuple[Future[Any], bool, Any]] = []
    # the history rows of the jobs done so far: written together, before the COMMIT (one
    # series lookup, one seq reservation, one pass over the rollups for the whole group), in
    # job order, so the ids and seq numbers are those writing them job by job gave
    shared = _Group()
    try:
        conn.execute("BEGIN IMMEDIATE")
        for i, (job, fut) in enumerate(live):
            if not job.defers:
                shared.flush(conn)
            conn.execute(f"SAVEPOINT g{i}")
            try:
                result = job.body(conn, shared)
            except Exception as exc:
                if _ends_transaction(exc, conn):
                    raise
                conn.execute(f"ROLLBACK TO g{i}")
                conn.execute(f"RELEASE g{i}")
                outcomes.append((fut, False, exc))
            else:
                conn.execute(f"RELEASE g{i}")
                outcomes.append((fut, True, result))
                if shared.rows >= _HELD_ROWS:
                    shared.flush(conn)
        # a failure here (only a fault of the database is known to cause one: the rows were
        # made and checked in their jobs) fails the group, as a failed COMMIT does
        shared.flush(conn)
        conn.execute("COMMIT")
    except BaseException as exc:  # the transaction itself failed: nothing of it stays
        rollback(conn)
        for _, fut in live:
            fut.set_exception(exc)
        return
    for fut, ok, value in outcomes:
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _index_driven_query(
    conn: sqlite3.Connection,
    passes: list[tuple[str, list[Any]]],
    count: tuple[str, list[Any]],
    query: EntityQuery,
) -> QueryResult:
    """A query in the order of the index it walks (``geo.geo_driven_passes``,
    ``qindex.driven_from``): stop reading as soon as the page is full."""
    result = QueryResult()
    seen: set[str] = set()
    skip = query.offset
    entities = result.entities
    for source, params in passes if query.limit > 0 else ():
        cursor = conn.execute(f"SELECT {COLUMNS} {source}", params)
        try:
            # in batches of what the page still needs: fewer calls than row by row
            while rows := cursor.fetchmany(query.limit - len(entities) + skip):
                for row in rows:
                    if row[0] in seen:  # another matching GeoProperty instance of the entity
                        continue
                    seen.add(row[0])
                    if skip:
                        skip -= 1
                        continue
                    entities.append(row_to_entity(row))
                    if len(entities) >= query.limit:
                        return _counted(conn, result, count, query)
        finally:
            cursor.close()
    return _counted(conn, result, count, query)


def _counted(
    conn: sqlite3.Connection, result: QueryResult, count: tuple[str, list[Any]], query: EntityQuery
) -> QueryResult:
    if query.count:
        source, params = count
        result.count = conn.execute(f"SELECT count(DISTINCT e.id) {source}", params).fetchone()[0]
    return result


#: Bytes the health probe writes (and deletes in the same transaction): enough new pages that
#: a full disk or a page limit refuses it.
PROBE_BYTES = 65536
#: The probe's row: a name with a NUL character, which no tenant has (HTTP headers cannot
#: carry one).
PROBE_TENANT = "\x00cityhub-write-probe"


def _probe(conn: sqlite3.Connection) -> None:
    """A write no reader ever sees: a row inserted and deleted in one transaction."""
    conn.execute(
        "INSERT INTO tenants (name, created_at) VALUES (?, zeroblob(?))",
        (PROBE_TENANT, PROBE_BYTES),
    )
    conn.execute("DELETE FROM tenants WHERE name = ?", (PROBE_TENANT,))


#: The writer checkpoints the WAL itself only past this many pages (64 MiB of 4 KiB pages);
#: before that, the checkpointer thread copies it into the database file in the background.
WAL_AUTOCHECKPOINT_PAGES = 16384
#: How often the checkpointer copies the WAL (seconds). Each time it copies the latest frame
#: of every page written since, then syncs the file: at 0.05 s, 20 syncs a second and the
#: pages every commit rewrites (history, rollups, index nodes) copied again 20 times; at
#: 0.25 s its CPU per partial update was x0.50-0.77 (docs/performance.md, session 32). The
#: writer's own mark-crossing checkpoint copies at most this long's frames.
CHECKPOINT_INTERVAL = 0.25


class SqliteStore(BaseStore):
    """The embedded store. ``path`` is a file path or ``:memory:``.

    Checkpoints (copying the WAL into the database file, then ``fsync``) run on a thread of
    their own (``cityhub-sqlite-checkpointer``, a ``PASSIVE`` checkpoint every
    :data:`CHECKPOINT_INTERVAL` s), not in the commit that crosses SQLite's default 1,000-page
    mark: on this project's machine such a commit waited up to a second and a half for the
    ``fsync``, and history-recording writes spent most of their time there
    (docs/performance.md, change 26). The writer still checkpoints at
    :data:`WAL_AUTOCHECKPOINT_PAGES`, so the WAL stays bounded when the background
    checkpoints cannot catch up (a checkpoint restarts the WAL only when it has copied every
    frame before the next write begins).
    """

    def __init__(
        self,
        path: str,
        reader_threads: int = 4,
        mmap_mb: int = 128,
        wal_autocheckpoint: int = WAL_AUTOCHECKPOINT_PAGES,
    ) -> None:
        super().__init__()
        self.path = path
        self.mmap_mb = mmap_mb
        self.wal_autocheckpoint = wal_autocheckpoint
        self.memory = path == ":memory:"
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpoints = threading.Event()
        #: 0 = read on the caller's (event loop) thread: no thread hop, no GIL hand-over
        self._reader_threads = 1 if self.memory else max(0, reader_threads)
        #: (a function or a _Grouped job, a Future or a _Reply), or None: stop
        self._jobs: queue.Queue[tuple[Any, Any] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        #: tenants whose row in ``tenants`` has been committed (tenants are never removed)
        self._stored_tenants: set[str] = set()
        #: whether any connection committed since a look (a file path only: no -shm else)
        self._commits = (
            CommitWatch(path) if not self.memory and not path.startswith("file:") else None
        )

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Open the database (creating or upgrading its schema) and start the threads.

        Raises:
            StoreUnavailable: the database cannot be opened or written (a read-only file or
                directory, a full disk, not a database...); its detail is one sentence for
                the operator.
        """
        ready: Future[None] = Future()
        self._writer = threading.Thread(
            target=self._writer_loop, args=(ready,), name="cityhub-sqlite-writer", daemon=True
        )
        self._writer.start()
        try:
            await asyncio.wrap_future(ready)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreUnavailable(cannot_open(exc, self.path)) from exc
        if not self.memory:
            self._stop_checkpoints.clear()
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="cityhub-sqlite-checkpointer", daemon=True
            )
            self._checkpointer.start()
        if not self.memory and self._reader_threads > 0:
            self._readers = ThreadPoolExecutor(
                self._reader_threads, thread_name_prefix="cityhub-sqlite-reader"
            )

    async def close(self) -> None:
        if self._commits is not None:
            self._commits.close()
        if self._checkpointer is not None:
            self._stop_checkpoints.set()
            await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.join)
            self._checkpointer = None
        if self._writer is not None:
            self._jobs.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None

    def _checkpoint_loop(self) -> None:
        """Copy committed WAL frames into the database file, off the writer's thread. A
        failure is a fault of the store (the disk is full: the file cannot grow) or logged
        once per distinct message; either way it is tried again."""
        conn = _connect(self.path)
        logged = ""
        try:
            while not self._stop_checkpoints.wait(CHECKPOINT_INTERVAL):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    fault = fault_of(exc, self.path)
                    if fault is not None:
                        self.availability.failed(fault)
                    elif str(exc) != logged:  # pragma: no cover - no known way to cause one
                        logged = str(exc)
                        log.warning("background WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def _writer_loop(self, ready: Future[None]) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = _connect(self.path)
            conn.execute(f"PRAGMA wal_autocheckpoint={int(self.wal_autocheckpoint)}")
            # once the WAL restarts, its file shrinks back to what the mark allows
            conn.execute(f"PRAGMA journal_size_limit={int(self.wal_autocheckpoint) * 4096}")
            migrate.migrate(conn)  # every table of the store, numbered (migrations/)
            self._writer_conn = conn
        except BaseException as exc:  # start-up failure: start() reports it
            if conn is not None:
                conn.close()
            ready.set_exception(exc)
            return
        ready.set_result(None)
        backlog: list[Any] = []  # taken from the queue but not yet run, in order
        while True:
            job = backlog.pop(0) if backlog else self._jobs.get()
            if job is None:
                break
            fn, fut = job
            if not isinstance(fn, _Grouped):
                _run_one(conn, fn, fut)
                _deliver([job])
                continue
            group: list[tuple[_Grouped, Future[Any]]] = [(fn, fut)]
            while not backlog and len(group) < _GROUP_MAX:  # only what already waits
                try:
                    waiting = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if waiting is not None and isinstance(waiting[0], _Grouped):
                    group.append((waiting[0], waiting[1]))
                else:
                    backlog.append(waiting)  # a plain job or the stop mark: run it next
            _run_group(conn, group)
            _deliver(group)
        conn.close()

    async def run_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the writer thread (the caller manages the transaction).

        Raises:
            StoreUnavailable: the disk is full, the file read-only... (``faults.py``).
        """
        fut: Future[T] = Future()
        self._jobs.put((fn, fut))
        return await self._written(asyncio.wrap_future(fut))

    async def _written(self, outcome: Awaitable[T]) -> T:
        """The outcome of a job on the writer thread, a store fault as StoreUnavailable."""
        try:
            result = await outcome
        except sqlite3.Error as exc:
            fault = fault_of(exc, self.path)
            if fault is None:
                raise
            raise self.availability.failed(fault) from exc
        if self.availability.fault is not None:
            self.availability.succeeded()
        return result

    async def _probe(self) -> None:
        await self.run_transaction(_probe)

    async def run_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the writer thread inside one immediate transaction."""
        return await self.run_write(lambda conn: in_transaction(conn, lambda: fn(conn)))

    def _reader_conn(self, mapped: bool = False) -> sqlite3.Connection:
        """This thread's read connection; ``mapped``: the event loop's, which serves the short
        reads, reads through a memory map (one mapping per process: every connection that
        maps the file counts its pages in RSS again)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.path, self.mmap_mb if mapped else 0)
        return conn

    async def run_read(self, fn: Callable[[sqlite3.Connection], T], *, short: bool = False) -> T:
        """Run ``fn(conn)`` on a reader connection (read-only work).

        ``short``: the read is bounded by a page (a lookup by id, an index walk that stops
        when the page is full), so it runs on the calling thread: a hop to a reader thread and
        back costs more than the read itself. Other reads go to the reader threads, so that a
        long one does not hold up the event loop (``reader_threads = 0``: every read inline).
        """
        try:
            if not self.memory and (short or self._reader_threads == 0):
                return fn(self._reader_conn(mapped=True))
            if self._readers is None:
                return await self.run_write(fn)

            return await asyncio.get_running_loop().run_in_executor(
                self._readers, lambda: fn(self._reader_conn())
            )
        except sqlite3.Error as exc:
            fault = fault_of(exc, self.path)
            if fault is None:
                raise
            raise self.availability.failed(fault) from exc

    async def select(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one short read (``cityhub.store.database.Database.select``)."""
        return await self.run_read(lambda conn: conn.execute(sql, args).fetchall(), short=True)

    def change_marker(self) -> bytes | None:
        """``cityhub.store.database.Database.change_marker``: the WAL-index header
        (``cityhub.store.sqlite.commits``)."""
        return self._commits.marker() if self._commits is not None else None

    # ---- writes ----------------------------------------------------------------------
    async def write(self, tenant: str, fn: Callable[[Transaction], T]) -> T:
        """Run ``fn`` in one transaction; commit if it returns, roll back if it raises."""
        return await self._write(tenant, fn, True)

    async def write_with_history(self, tenant: str, fn: Callable[[Transaction], T]) -> T:
        """:meth:`write` for a function that reads or writes history rows itself (through
        the transaction's connection): the history its group's jobs before it recorded is
        written before it runs."""
        return await self._write(tenant, fn, False)

    async def _write(self, tenant: str, fn: Callable[[Transaction], T], defers: bool) -> T:
        def body(conn: sqlite3.Connection, group: _Group | None) -> tuple[T, list[Change], bool]:
            tx = SqliteTransaction(
                conn,
                tenant,
                self.tx_hooks,
                self._stored_tenants,
                group.subscriptions_version if group is not None else None,
            )
            result = fn(tx)
            holds = group is not None and defers
            if not holds:
                tx.flush_history()
            tx.flush_work()
            # a savepoint rolled back may have taken the row with it: count it only if it is there
            written = tx.tenant_written and (
                conn.execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone()
                is not None
            )
            if group is not None:  # last: a job that raised holds nothing
                if holds:
                    group.hold(tenant, tx.take_history())
                group.subscriptions_version = tx.known_subscriptions_version()
            return result, tx.changes, written

        reply = _Reply(asyncio.get_running_loop())
        self._jobs.put((_Grouped(body, defers), reply))
        outcome: tuple[T, list[Change], bool] = await self._written(reply.future)
        result, changes, tenant_written = outcome
        if tenant_written:  # committed: later inserts need not write the tenant row again
            self._stored_tenants.add(tenant)
        if changes:
            self._committed(changes)
        return result

    # ---- reads -----------------------------------------------------------------------
    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        def run(conn: sqlite3.Connection) -> Entity | None:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM entities e WHERE e.tenant = ? AND e.id = ?",
                (tenant, entity_id),
            ).fetchone()
            return row_to_entity(row) if row else None

        return await self.run_read(run, short=True)

    async def tenant_exists(self, tenant: str) -> bool:
        if tenant == "":
            return True
        return await self.run_read(
            lambda conn: (
                conn.execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone()
                is not None
            )
        )

    async def list_tenants(self) -> list[str]:
        rows = await self.run_read(
            lambda conn: conn.execute("SELECT name FROM tenants ORDER BY name").fetchall()
        )
        return [r[0] for r in rows if r[0]]

    def where_clause(self, tenant: str, query: EntityQuery) -> tuple[str, list[Any]]:
        """The WHERE clause of a query, with its bound parameters (public for EXPLAIN tests)."""
        return where_clause(tenant, query, entity_rows=True)

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        # a caller's regular expression may be tested on every candidate the index walk
        # meets: linear in each text, but not bounded by the page, so not on the event loop
        short = not query.count and query.id_pattern is None and not has_pattern(query.q)
        if query.geo is not None and not query.order_by:
            passes = geo.geo_driven_passes(query.geo, tenant, query.types)
            if passes is not None:
                rest, rest_params = where_clause(tenant, query, index_driven=True)
                statements = [(f"{sql} AND {rest}", [*p, *rest_params]) for sql, p in passes]
                count: tuple[str, list[Any]] = ("", [])
                if query.count:
                    count_params: list[Any] = []
                    counted = geo.geo_candidates(query.geo, tenant, count_params, query.types)
                    count = (f"{counted} AND {rest}", [*count_params, *rest_params])
                return await self.run_read(
                    lambda conn: _index_driven_query(conn, statements, count, query),
                    short=short,
                )
        if query.q is not None and query.geo is None and not query.order_by:
            driven_params: list[Any] = []
            source = qindex.driven_from(query.q, tenant, query.types, driven_params)
            if source is not None:
                rest, rest_params = where_clause(tenant, query, index_driven=True)
                statement = (f"{source} AND {rest}", [*driven_params, *rest_params])
                return await self.run_read(
                    lambda conn: _index_driven_query(conn, [statement], statement, query),
                    short=short,
                )
        where, params = self.where_clause(tenant, query)
        order, order_params = order_clause(query.order_by)

        def run(conn: sqlite3.Connection) -> QueryResult:
            result = QueryResult()
            if query.limit > 0:
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM entities e WHERE {where} ORDER BY {order} "
                    "LIMIT ? OFFSET ?",
                    (*params, *order_params, query.limit, query.offset),
                ).fetchall()
                result.entities = [row_to_entity(r) for r in rows]
            if query.count:
                result.count = conn.execute(
                    f"SELECT count(*) FROM entities e WHERE {where}", params
                ).fetchone()[0]
            return result

        return await self.run_read(run)

    async def explain_query(self, tenant: str, query: EntityQuery) -> list[str]:
        """SQLite's query plan for a query (tests use it to prove indexes are used)."""
        where, params = self.where_clause(tenant, query)
        rows = await self.run_read(
            lambda conn: conn.execute(
                f"EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM entities e WHERE {where} "
                "ORDER BY e.rowid LIMIT 20",
                params,
            ).fetchall()
        )
        return [str(r[-1]) for r in rows]

    async def type_attribute_rows(
        self, tenant: str, type_iri: str | None = None
    ) -> list[tuple[str, str | None, str | None]]:
        one_type = "" if type_iri is None else " AND t.type = ?"
        params = (tenant,) if type_iri is None else (tenant, type_iri)

        def run(conn: sqlite3.Connection) -> list[tuple[str, str | None, str | None]]:
            return conn.execute(
                "SELECT t.type, a.key, json_extract(i.value, '$.type') FROM entity_types t "
                "JOIN entities e ON e.tenant = t.tenant AND e.id = t.id "
                "LEFT JOIN json_each(e.attrs) a LEFT JOIN json_each(a.value) i "
                f"WHERE t.tenant = ?{one_type}",
                params,
            ).fetchall()

        return await self.run_read(run)

    async def entity_types(self, tenant: str) -> list[str]:
        rows = await self.run_read(
            lambda conn: conn.execute(
                "SELECT DISTINCT type FROM entity_types WHERE tenant = ?", (tenant,)
            ).fetchall()
        )
        return [str(r[0]) for r in rows]

    async def count_by_type(self, tenant: str, type_iri: str) -> int:
        return int(
            await self.run_read(
                lambda conn: conn.execute(
                    "SELECT count(*) FROM entity_types WHERE tenant = ? AND type = ?",
                    (tenant, type_iri),
                ).fetchone()[0]
            )
        )
