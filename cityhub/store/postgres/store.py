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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import asyncpg
import orjson

from cityhub.errors import AlreadyExists, StoreUnavailable, TooComplexQuery
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import has_pattern
from cityhub.store.availability import Availability, StoreHealth
from cityhub.store.base import Change, EntityQuery, OrderItem, QueryResult, Transaction
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import geo
from cityhub.store.postgres.bridge import SyncConnection, refused_data, rowcount, run_sync
from cityhub.store.postgres.faults import ERRORS as FAULTS
from cityhub.store.postgres.faults import cannot_open, fault_of
from cityhub.store.postgres.migrate import migrate
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.regex import to_postgres

T = TypeVar("T")
TxHook = Callable[[SyncConnection, Change], None]

_COLUMNS = "e.id, e.types::text, e.scopes::text, e.created_at, e.modified_at, e.attrs::text"
_RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_ATTEMPTS = 3


def row_to_entity(row: Sequence[Any]) -> Entity:
    entity: Entity = {"id": row[0], "type": orjson.loads(row[1])}
    if row[2]:
        scopes = orjson.loads(row[2])
        if scopes:
            entity["scope"] = scopes
    entity["createdAt"] = row[3]
    entity["modifiedAt"] = row[4]
    entity["attrs"] = orjson.loads(row[5])
    return entity


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def where_clause(tenant: str, query: EntityQuery, params: Params) -> str:
    """The WHERE clause of a query; its values go to ``params`` (the tenant first)."""
    tenant_param = params.add(tenant)
    clauses = [f"e.tenant = {tenant_param}"]
    if query.ids:
        clauses.append(f"e.id = ANY({params.add(list(query.ids), 'text[]')})")
    if query.id_pattern is not None:
        clauses.append(f"e.id ~ {params.add(to_postgres(query.id_pattern))}")
    if query.types:
        clauses.append(
            # uncorrelated (the tenant parameter, not e.tenant): a hashed semi-join, not a
            # sub-plan run for every row
            f"e.id IN (SELECT t.id FROM entity_types t WHERE t.tenant = {tenant_param} AND "
            f"t.type = ANY({params.add(list(query.types), 'text[]')}))"
        )
    if query.type_query is not None:
        clauses.append(qcompile.compile_type_query(query.type_query, params, "e"))
    if query.attrs:
        clauses.append(f"e.attrs ?| {params.add(list(query.attrs), 'text[]')}")
    if query.q is not None:
        clauses.append(qcompile.compile_q(query.q, params, "e"))
    if query.geo is not None:
        clauses.append(geo.compile_geo(query.geo, params, "e"))
    if query.scope_q is not None:
        clauses.append(qcompile.compile_scope_q(query.scope_q, params, "e"))
    return " AND ".join(f"({c})" for c in clauses)


def carries_pattern(query: EntityQuery) -> bool:
    """Whether a query holds a caller's regular expression (idPattern, ``~=`` in q)."""
    return query.id_pattern is not None or has_pattern(query.q)


_ORDER_COLUMNS = {
    "id": 'e.id COLLATE "C"',
    "type": 'e.types::text COLLATE "C"',
    "createdAt": 'e.created_at COLLATE "C"',
    "modifiedAt": 'e.modified_at COLLATE "C"',
}
_MEMBER_KEYS = {"createdAt", "modifiedAt", "observedAt", "unitCode", "datasetId", "value", "object"}


def order_clause(items: tuple[OrderItem, ...], params: Params) -> str:
    """ORDER BY for ``orderBy`` (v1.9 clause 4.24); insertion order breaks ties.

    Values sort as on SQLite: missing and null first, then numbers (booleans as 0 and 1), then
    text byte-wise, then arrays and objects by their JSON text.
    """
    parts: list[str] = []
    for item in items:
        direction = "DESC" if item.descending else "ASC"
        if item.name in _ORDER_COLUMNS and not item.path:
            parts.append(f"{_ORDER_COLUMNS[item.name]} {direction}")
            continue
        path = [item.name, "0", *item.path]
        if not item.path or item.path[-1] not in _MEMBER_KEYS:
            value = params.add([*path, "value"], "text[]")
            obj = params.add([*path, "object"], "text[]")
            key = f"COALESCE(e.attrs #> {value}, e.attrs #> {obj})"
        else:
            key = f"(e.attrs #> {params.add(path, 'text[]')})"
        kind = f"jsonb_typeof({key})"
        parts.extend(
            (
                f"(CASE WHEN {kind} IS NULL OR {kind} = 'null' THEN 0 "
                f"WHEN {kind} IN ('number', 'boolean') THEN 1 "
                f"WHEN {kind} = 'string' THEN 2 ELSE 3 END) {direction}",
                f"(CASE {kind} WHEN 'number' THEN ({key})::numeric WHEN 'boolean' THEN "
                f"(CASE WHEN {key} = 'true'::jsonb THEN 1 ELSE 0 END) END) {direction}",
                f"(CASE WHEN {kind} = 'string' THEN {key} #>> '{{}}' ELSE {key}::text END) "
                f'COLLATE "C" {direction}',
            )
        )
    parts.append("e.seq")
    return ", ".join(parts)


class PostgresTransaction:
    """Row operations of one tenant inside the current transaction (synchronous: it runs
    under ``run_sync``)."""

    def __init__(self, conn: SyncConnection, tenant: str, hooks: Sequence[TxHook] = ()) -> None:
        self.conn = conn
        self.tenant = tenant
        self.hooks = hooks
        self.changes: list[Change] = []
        self._sp = 0

    def _emit(self, change: Change) -> None:
        self.changes.append(change)
        for hook in self.hooks:  # in the same transaction: geo rows, history, outbox
            hook(self.conn, change)

    def get(self, entity_id: str) -> Entity | None:
        """The entity, locked until the transaction ends (a write transaction reads to write)."""
        row = self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM entities e WHERE e.tenant = $1 AND e.id = $2 FOR UPDATE",
            self.tenant,
            entity_id,
        )
        return row_to_entity(row) if row else None

    def insert(self, entity: Entity) -> None:
        self.conn.execute(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.tenant,
            now_iso(),
        )
        # ON CONFLICT keeps the transaction usable: a taken id is an answer, not an abort
        status = self.conn.execute(
            "INSERT INTO entities (tenant, id, types, scopes, created_at, modified_at, attrs)"
            " VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7::jsonb) ON CONFLICT DO NOTHING",
            self.tenant,
            entity["id"],
            _json(entity["type"]),
            _json(entity["scope"]) if entity.get("scope") else None,
            entity["createdAt"],
            entity["modifiedAt"],
            _json(entity["attrs"]),
        )
        if rowcount(status) == 0:
            raise AlreadyExists(f"an entity with id {entity['id']} already exists")
        self._insert_types(entity)
        self._emit(Change("entityCreated", self.tenant, entity["id"], None, entity))

    def _insert_types(self, entity: Entity) -> None:
        self.conn.execute(
            "INSERT INTO entity_types (tenant, type, id) SELECT $1, t, $2 FROM unnest($3::text[]) t"
            " ON CONFLICT DO NOTHING",
            self.tenant,
            entity["id"],
            list(entity["type"]),
        )

    def save(self, entity: Entity, before: Entity | None = None) -> None:
        self.conn.execute(
            "UPDATE entities SET types = $1::jsonb, scopes = $2::jsonb, modified_at = $3,"
            " attrs = $4::jsonb WHERE tenant = $5 AND id = $6",
            _json(entity["type"]),
            _json(entity["scope"]) if entity.get("scope") else None,
            entity["modifiedAt"],
            _json(entity["attrs"]),
            self.tenant,
            entity["id"],
        )
        if before is None or before["type"] != entity["type"]:
            self.conn.execute(
                "DELETE FROM entity_types WHERE tenant = $1 AND id = $2", self.tenant, entity["id"]
            )
            self._insert_types(entity)
        self._emit(Change("entityUpdated", self.tenant, entity["id"], before, entity))

    def delete(self, entity_id: str) -> bool:
        before = self.get(entity_id)
        if before is None:
            return False
        self.conn.execute(
            "DELETE FROM entities WHERE tenant = $1 AND id = $2", self.tenant, entity_id
        )
        self.conn.execute(
            "DELETE FROM entity_types WHERE tenant = $1 AND id = $2", self.tenant, entity_id
        )
        self._emit(Change("entityDeleted", self.tenant, entity_id, before, None))
        return True

    def query_ids(self, query: EntityQuery) -> list[str]:
        """Ids of every entity a query matches (limit and offset ignored), in this transaction."""
        params = Params()
        where = where_clause(self.tenant, query, params)
        rows = self.conn.fetch(f"SELECT e.id FROM entities e WHERE {where}", *params.values)
        return [r[0] for r in rows]

    def ids_of_types(self, types: list[str]) -> list[str]:
        rows = self.conn.fetch(
            "SELECT DISTINCT id FROM entity_types WHERE tenant = $1 AND type = ANY($2::text[])",
            self.tenant,
            list(types),
        )
        return [r[0] for r in rows]

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        self._sp += 1
        name = f"sp{self._sp}"
        mark = len(self.changes)
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.conn.execute(f"RELEASE SAVEPOINT {name}")
            del self.changes[mark:]
            raise
        self.conn.execute(f"RELEASE SAVEPOINT {name}")


def _probe(conn: SyncConnection) -> None:
    """A write that changes nothing a client sees: the default tenant's row, as it is."""
    conn.execute(
        "INSERT INTO tenants (name, created_at) VALUES ('', $1) "
        "ON CONFLICT (name) DO UPDATE SET created_at = tenants.created_at",
        now_iso(),
    )


class PostgresStore:
    """The shared store for a city: ``url`` is a ``postgresql://`` URL (libpq style).

    Args:
        url: where the database is; the role needs CREATE on it for migrations (or run
            ``cityhub migrate`` once as a role that has it and start with ``migrate=False``).
        pool_size: most connections this process opens.
        migrate: apply pending schema migrations at start-up.
    """

    def __init__(self, url: str, pool_size: int = 10, migrate: bool = True) -> None:
        self.url = url
        self.pool_size = max(2, pool_size)
        self.migrate = migrate
        self.pool: Any = None
        self._listeners: list[Callable[[list[Change]], None]] = []
        #: functions run inside the write transaction for every change (geo index, history,
        #: notification outbox), with the transaction's connection and the Change
        self.tx_hooks: list[TxHook] = [geo.index_change]
        #: statement_timeout (milliseconds) of a read that carries a caller's regular expression
        self.regex_timeout_ms = 10_000
        #: whether the store can serve now (disk full, read-only, unreachable: faults.py)
        self.availability = Availability()

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
            )
            if self.migrate:
                async with self.pool.acquire() as conn:
                    await migrate(conn)
        except Exception as exc:
            if fault_of(exc, self.url) is None:
                raise
            await self.close()
            raise StoreUnavailable(cannot_open(exc, self.url)) from exc

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await pool.close()

    def _fault(self, exc: Exception) -> Exception:
        """``exc`` as StoreUnavailable when it is a fault of the store (faults.py)."""
        fault = fault_of(exc, self.url)
        return exc if fault is None else self.availability.failed(fault)

    async def check(self) -> StoreHealth:
        """The store's condition; while it cannot serve, a small write first (at most once
        per ``availability.probe_interval``), so that it recovers without client writes."""
        if self.availability.probe_due():
            with contextlib.suppress(StoreUnavailable):
                await self.run_transaction(_probe)
        return self.availability.health()

    def add_listener(self, fn: Callable[[list[Change]], None]) -> None:
        self._listeners.append(fn)

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
                            result = await run_sync(fn, SyncConnection(conn))
            except _RETRIED:
                if attempt == _ATTEMPTS:
                    raise
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
                    return await run_sync(fn, SyncConnection(conn))
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

    async def acquire(self, fn: Callable[[Any], Awaitable[T]], *, bounded: bool = False) -> T:
        """``await fn(connection)`` with a pooled asyncpg connection (``bounded``: as for
        :meth:`run_read`)."""
        try:
            async with self._connection(bounded) as conn:
                with refused_data():
                    return await fn(conn)
        except FAULTS as exc:
            raise self._fault(exc) from exc

    # ---- writes ----------------------------------------------------------------------
    async def write(self, tenant: str, fn: Callable[[Transaction], T]) -> T:
        """Run ``fn`` in one transaction; commit if it returns, roll back if it raises."""
        hooks = tuple(self.tx_hooks)

        def job(conn: SyncConnection) -> tuple[T, list[Change]]:
            tx = PostgresTransaction(conn, tenant, hooks)
            return fn(tx), tx.changes

        result, changes = await self.run_transaction(job)
        if changes:
            for listener in self._listeners:
                listener(changes)
        return result

    # ---- reads -----------------------------------------------------------------------
    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        rows = await self.fetch(
            f"SELECT {_COLUMNS} FROM entities e WHERE e.tenant = $1 AND e.id = $2",
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
                    f"SELECT {_COLUMNS} FROM entities e WHERE {where} ORDER BY {order} "
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
            f"EXPLAIN SELECT {_COLUMNS} FROM entities e WHERE {where} ORDER BY e.seq LIMIT 20",
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


__all__ = [
    "PostgresStore",
    "PostgresTransaction",
    "TxHook",
    "carries_pattern",
    "order_clause",
    "where_clause",
]
