"""The PostgreSQL store: an asyncpg pool, JSONB documents, PostGIS, several workers at once.

Write transactions are plain functions (``fn(tx)``; the NGSI-LD semantics live in
``cityhub.ngsild.ops``) run under :func:`~cityhub.store.postgres.bridge.run_sync` inside one
PostgreSQL transaction on a pooled connection, so they never block the event loop. The
transaction hooks (geo index, history, notification outbox) run inside the same transaction.

Several processes on several machines may share one database: an entity read for update is
locked (``SELECT ... FOR UPDATE``) until the transaction ends, so concurrent read-modify-writes
of one entity serialise as they do on SQLite's single writer, and a transaction that hits a
deadlock or serialization failure is run again from the start (up to three times; the
operations are pure, so running one again is safe).

Tenants share the tables: every row carries its tenant, every index leads with it, and every
statement filters on it (``docs/deploying.md`` explains the choice).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from cityhub.errors import StoreUnavailable, TooComplexQuery
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity
from cityhub.store.base import (
    BaseStore,
    Change,
    EntityQuery,
    QueryResult,
    SharedListener,
    Transaction,
    by_tenant,
)
from cityhub.store.postgres import changes as shared
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres.bridge import SyncConnection, numbered, refused_data, run_sync
from cityhub.store.postgres.entities import (
    COLUMNS,
    carries_pattern,
    order_clause,
    row_to_entity,
    where_clause,
)
from cityhub.store.postgres.faults import ERRORS as FAULTS
from cityhub.store.postgres.faults import cannot_open, fault_of
from cityhub.store.postgres.migrate import migrate
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.partitions import HistoryMonths
from cityhub.store.postgres.registration_watch import RegistrationWatch
from cityhub.store.postgres.transaction import NeedSavepoints, PostgresTransaction

T = TypeVar("T")
#: run again from the start: a deadlock, a serialization failure, and a month of history whose
#: making timed out on a lock (partitions.py: a wait PostgreSQL cannot see as a deadlock)
_RETRIED = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.LockNotAvailableError,
)
_ATTEMPTS = 3


def _probe(conn: SyncConnection) -> None:
    """A write that changes nothing a client sees: the default tenant's row, as it is."""
    conn.execute(
        "INSERT INTO tenants (name, created_at) VALUES ('', $1) "
        "ON CONFLICT (name) DO UPDATE SET created_at = tenants.created_at",
        now_iso(),
    )


class PostgresStore(BaseStore):
    """The shared store for a city: ``url`` is a ``postgresql://`` URL (libpq style).

    Args:
        url: where the database is; the role needs CREATE on it for migrations (or run
            ``cityhub migrate`` once as a role that has it and start with ``migrate=False``).
        pool_size: most connections this process opens.
        migrate: apply pending schema migrations at start-up.
    """

    def __init__(self, url: str, pool_size: int = 10, migrate: bool = True) -> None:
        super().__init__()
        self.url = url
        self.pool_size = max(2, pool_size)
        self.migrate = migrate
        self.pool: Any = None
        #: statement_timeout (milliseconds) of a read that carries a caller's regular expression
        self.regex_timeout_ms = 10_000
        #: the other processes' commits, once someone listens to them (changes.py)
        self.shared_changes: shared.ChangeListener | None = None
        #: pooled connections that held session state (``acquire(session=True)``): only
        #: these get asyncpg's full reset when they go back to the pool (see :meth:`_reset`)
        self._session_used: weakref.WeakSet[Any] = weakref.WeakSet()
        #: the history's monthly partitions this process knows exist (partitions.py)
        self.history_months = HistoryMonths(url)
        #: the other processes' registration creations, once someone listens to them
        self.registration_watch = RegistrationWatch(url)

    def add_shared_listener(self, fn: SharedListener) -> None:
        """Every process's commits: this one's as they commit, the others' by ``LISTEN``
        (from then on this process's writes ``NOTIFY`` theirs too)."""
        if self.shared_changes is None:
            self.shared_changes = shared.ChangeListener(self.url)
        self.shared_changes.listeners.append(fn)
        self.add_listener(lambda changes: by_tenant(fn, changes))

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Open the pool and bring the schema up to date.

        Raises:
            StoreUnavailable: the database cannot be reached or written; its detail is one
                sentence for the operator (host, port and database, never the password).
        """
        try:
            self.pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                command_timeout=60,
                # JIT compiling costs ~100 ms per statement the planner thinks large: far
                # more than the short statements of an API request ever run
                server_settings={"jit": "off"},
                reset=self._reset,
            )
            if self.migrate:
                async with self.pool.acquire() as conn:
                    await migrate(conn)
            try:
                await self.history_months.ahead()
            except asyncpg.UndefinedFunctionError:
                pass  # a schema before migration 0020, not migrated here (migrate=False)
            if self.shared_changes is not None:
                await self.shared_changes.start()
            if self.registration_watch.listeners:
                await self.registration_watch.start()
        except Exception as exc:
            if fault_of(exc, self.url) is None:
                raise
            await self.close()
            raise StoreUnavailable(cannot_open(exc, self.url)) from exc

    async def _reset(self, conn: Any) -> None:
        """What a connection needs when it goes back to the pool. asyncpg's default is one
        more statement per release (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
        ALL``): a round trip on every read, up to a third of a retrieve by id. The store's
        statements leave no session state (settings are ``SET LOCAL``, locks
        ``pg_advisory_xact_lock``, LISTEN has its own connection, no cursors), and asyncpg
        still rolls back an open transaction itself; so only a connection lent with
        ``session=True`` (a session advisory lock) is reset in full."""
        if conn in self._session_used:
            self._session_used.discard(conn)
            query = conn.get_reset_query()
            if query:
                await conn.execute(query)

    async def close(self) -> None:
        await self.registration_watch.close()
        if self.shared_changes is not None:
            await self.shared_changes.close()
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await pool.close()

    def _fault(self, exc: Exception) -> Exception:
        """``exc`` as StoreUnavailable when it is a fault of the store (faults.py)."""
        fault = fault_of(exc, self.url)
        return exc if fault is None else self.availability.failed(fault)

    async def _probe(self) -> None:
        await self.run_transaction(_probe)

    # ---- running code ----------------------------------------------------------------
    async def run_transaction(self, fn: Callable[[SyncConnection], T]) -> T:
        """Run ``fn(conn)`` (synchronous) inside one transaction; deadlocks are retried.

        Raises:
            StoreUnavailable: the disk is full, the database read-only or unreachable...
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self.pool.acquire() as conn:
                    async with conn.transaction():
                        with refused_data():
                            result = await run_sync(fn, SyncConnection(conn, self.history_months))
            except _RETRIED:
                if attempt == _ATTEMPTS:
                    raise
                continue
            except asyncpg.CheckViolationError as exc:
                # a month of history this process thought was there was dropped by retention
                # (partitions.py): forget the months known and run it again, which makes it
                if "no partition of relation" not in str(exc) or attempt == _ATTEMPTS:
                    raise
                self.history_months.known.clear()
                continue
            except FAULTS as exc:
                raise self._fault(exc) from exc
            if self.availability.fault is not None:
                self.availability.succeeded()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def run_read(self, fn: Callable[[SyncConnection], T], *, bounded: bool = False) -> T:
        """Run ``fn(conn)`` (synchronous, read-only work) on a pooled connection.

        ``bounded``: the read carries a caller's regular expression, so it runs under
        :attr:`regex_timeout_ms` (see :meth:`_connection`).
        """
        try:
            async with self._connection(bounded) as conn:
                with refused_data():
                    return await run_sync(fn, SyncConnection(conn, self.history_months))
        except FAULTS as exc:
            raise self._fault(exc) from exc

    @contextlib.asynccontextmanager
    async def _connection(self, bounded: bool) -> AsyncIterator[Any]:
        """A pooled connection; ``bounded``: inside a transaction whose statements stop after
        :attr:`regex_timeout_ms`, answering TooComplexQuery. PostgreSQL runs ``~`` with its
        own engine; the patterns were checked with RE2 and measured fast there, and its
        documentation advises a statement timeout wherever patterns come from untrusted
        callers, so a pattern that still proves slow costs a bounded time, not a connection."""
        async with self.pool.acquire() as conn:
            if not bounded:
                yield conn
                return
            async with conn.transaction(readonly=True):
                await conn.execute(f"SET LOCAL statement_timeout = {int(self.regex_timeout_ms)}")
                try:
                    yield conn
                except asyncpg.QueryCanceledError as exc:
                    raise TooComplexQuery(
                        "the query's regular expressions (idPattern, ~= in q) did not finish "
                        f"within {self.regex_timeout_ms / 1000:g} s; narrow the query (a type, "
                        "an anchored pattern such as ^urn:ngsi-ld:Type:prefix)"
                    ) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one statement on a pooled connection."""
        try:
            async with self.pool.acquire() as conn:
                with refused_data():
                    rows: list[Any] = await conn.fetch(sql, *args)
                    return rows
        except FAULTS as exc:
            raise self._fault(exc) from exc

    async def select(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one short read written with ``?`` marks
        (``cityhub.store.database.Database.select``)."""
        return await self.fetch(numbered(sql), *args)

    def change_marker(self) -> bytes | None:
        """``cityhub.store.database.Database.change_marker``: none (other machines commit
        to the same database; only a query can tell)."""
        return None

    async def acquire(
        self, fn: Callable[[Any], Awaitable[T]], *, bounded: bool = False, session: bool = False
    ) -> T:
        """``await fn(connection)`` with a pooled asyncpg connection (``bounded``: as for
        :meth:`run_read`; ``session``: ``fn`` may leave session state, such as a session
        advisory lock, which is cleared before the connection serves anyone else)."""
        try:
            async with self._connection(bounded) as conn:
                if session:
                    self._session_used.add(conn._con)  # the proxy's connection (see _reset)
                with refused_data():
                    return await fn(conn)
        except FAULTS as exc:
            raise self._fault(exc) from exc

    # ---- writes ----------------------------------------------------------------------
    async def write(self, tenant: str, fn: Callable[[Transaction], T]) -> T:
        """Run ``fn`` in one transaction; commit if it returns, roll back if it raises."""
        hooks = tuple(self.tx_hooks)

        listening = self.shared_changes

        def job(conn: SyncConnection, optimistic: bool) -> tuple[T, list[Change]]:
            tx = PostgresTransaction(conn, tenant, hooks, optimistic=optimistic)
            result = fn(tx)
            tx.flush_work()
            if listening is not None and tx.changes:
                # delivered to the other processes when this transaction commits, never if not
                shared.notify(conn, listening.channel, listening.origin, tenant, tx.changes)
            return result, tx.changes

        try:  # savepoints only when a block fails after writing (PostgresTransaction)
            result, changes = await self.run_transaction(lambda conn: job(conn, True))
        except NeedSavepoints:
            result, changes = await self.run_transaction(lambda conn: job(conn, False))
        if changes:
            self._committed(changes)
        return result

    # ---- reads -----------------------------------------------------------------------
    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        rows = await self.fetch(
            f"SELECT {COLUMNS} FROM entities e WHERE e.tenant = $1 AND e.id = $2",
            tenant,
            entity_id,
        )
        return row_to_entity(rows[0]) if rows else None

    async def tenant_exists(self, tenant: str) -> bool:
        if tenant == "":
            return True
        return bool(await self.fetch("SELECT 1 FROM tenants WHERE name = $1", tenant))

    async def list_tenants(self) -> list[str]:
        rows = await self.fetch("SELECT name FROM tenants ORDER BY name")
        return [r[0] for r in rows if r[0]]

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        params = Params()
        where = where_clause(tenant, query, params)
        count_args = list(params.values)
        order = order_clause(query.order_by, params)
        limit, offset = params.add(query.limit, "bigint"), params.add(query.offset, "bigint")

        async def run(conn: Any) -> QueryResult:
            result = QueryResult()
            if query.limit > 0:
                rows = await conn.fetch(
                    f"SELECT {COLUMNS} FROM entities e WHERE {where} ORDER BY {order} "
                    f"LIMIT {limit} OFFSET {offset}",
                    *params.values,
                )
                result.entities = [row_to_entity(r) for r in rows]
            if query.count:
                result.count = await conn.fetchval(
                    f"SELECT count(*) FROM entities e WHERE {where}", *count_args
                )
            return result

        return await self.acquire(run, bounded=carries_pattern(query))

    async def explain_query(self, tenant: str, query: EntityQuery) -> list[str]:
        """PostgreSQL's plan for a query (tests use it to prove indexes are used)."""
        params = Params()
        where = where_clause(tenant, query, params)
        rows = await self.fetch(
            f"EXPLAIN SELECT {COLUMNS} FROM entities e WHERE {where} ORDER BY e.seq LIMIT 20",
            *params.values,
        )
        return [str(r[0]) for r in rows]

    async def type_attribute_rows(
        self, tenant: str, type_iri: str | None = None
    ) -> list[tuple[str, str | None, str | None]]:
        one_type = "" if type_iri is None else " AND t.type = $2"
        params = (tenant,) if type_iri is None else (tenant, type_iri)
        rows = await self.fetch(
            "SELECT t.type, a.key, i.value ->> 'type' FROM entity_types t "
            "JOIN entities e ON e.tenant = t.tenant AND e.id = t.id "
            "LEFT JOIN LATERAL jsonb_each(e.attrs) a ON TRUE "
            f"LEFT JOIN LATERAL jsonb_array_elements({qcompile.json_array('a.value')}) i ON TRUE "
            f"WHERE t.tenant = $1{one_type}",
            *params,
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def entity_types(self, tenant: str) -> list[str]:
        rows = await self.fetch("SELECT DISTINCT type FROM entity_types WHERE tenant = $1", tenant)
        return [str(r[0]) for r in rows]

    async def count_by_type(self, tenant: str, type_iri: str) -> int:
        rows = await self.fetch(
            "SELECT count(*) FROM entity_types WHERE tenant = $1 AND type = $2", tenant, type_iri
        )
        return int(rows[0][0])


__all__ = ["PostgresStore"]
