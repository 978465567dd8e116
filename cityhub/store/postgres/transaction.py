"""The write transaction of the PostgreSQL store (``cityhub.store.base.Transaction``): entity
rows on the transaction's connection, and the rows services read and write beside them in the
same transaction (subscriptions, registrations, the notification outbox and its throttling).

Every change updates the geo index and runs the store's transaction hooks with the transaction
itself (``TxHook``): the history's and the services' (the notification trigger).
``notify_version`` is bumped by a trigger on every subscription change, whichever worker made
it, so a cache keyed on :meth:`PostgresTransaction.subscriptions_version` honours a
subscription created through one worker at the very next change committed on any worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import format_datetime, now_iso
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import Node
from cityhub.store.base import Change, Document, EntityQuery
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import geo
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.entities import COLUMNS, row_to_entity, where_clause
from cityhub.store.postgres.history import PostgresHistoryRows
from cityhub.store.postgres.params import Params

#: a hook the store runs inside the write transaction for every change; services' hooks
#: (``cityhub.store.base.TxHook``, typed on the protocol) fit too
TxHook = Callable[["PostgresTransaction", Change], None]


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def subscriptions_version(conn: SyncConnection) -> int:
    """Grows with every insert, update or delete of a subscription, on any worker."""
    return int(conn.fetchval("SELECT version FROM notify_version WHERE one = 1") or 0)


_enqueued = 0  # rows :func:`enqueue` inserted in this process


def enqueued() -> int:
    """How many rows :func:`enqueue` has inserted in this process, committed or not (the
    dispatcher's test whether a commit is worth a look at the outbox)."""
    return _enqueued


def enqueue(
    conn: SyncConnection, tenant: str, sub_id: str, payload: Document, due_at: float
) -> None:
    """Insert one notification in the outbox, inside the caller's transaction."""
    global _enqueued
    _enqueued += 1
    conn.execute(
        "INSERT INTO outbox (tenant, subscription_id, payload, due_at, attempts, created_at)"
        " VALUES ($1, $2, $3::jsonb, $4, 0, $5)",
        tenant,
        sub_id,
        orjson.dumps(payload).decode(),
        due_at,
        format_datetime(datetime.fromtimestamp(due_at, UTC)),
    )


class PostgresTransaction(PostgresHistoryRows):
    """A :class:`~cityhub.store.base.Transaction` of one tenant on one connection, inside its
    transaction (synchronous: it runs under ``run_sync``); its history rows are
    :class:`~cityhub.store.postgres.history.PostgresHistoryRows`."""

    def __init__(self, conn: SyncConnection, tenant: str, hooks: Sequence[TxHook] = ()) -> None:
        self.conn = conn
        self.tenant = tenant
        self.hooks = hooks
        self.changes: list[Change] = []
        self._sp = 0
        #: notifications this transaction queued
        self.queued = 0

    def _emit(self, change: Change) -> None:
        self.changes.append(change)
        geo.index_change(self.conn, change)  # the geo index: this backend's own rows
        for hook in self.hooks:  # in the same transaction: history, outbox
            hook(self, change)

    def get(self, entity_id: str) -> Entity | None:
        """The entity, locked until the transaction ends (a write transaction reads to write)."""
        row = self.conn.fetchrow(
            f"SELECT {COLUMNS} FROM entities e WHERE e.tenant = $1 AND e.id = $2 FOR UPDATE",
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
            json_text(entity["type"]),
            json_text(entity["scope"]) if entity.get("scope") else None,
            entity["createdAt"],
            entity["modifiedAt"],
            json_text(entity["attrs"]),
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
            json_text(entity["type"]),
            json_text(entity["scope"]) if entity.get("scope") else None,
            entity["modifiedAt"],
            json_text(entity["attrs"]),
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

    # ---- what services read and write beside the entities --------------------------------
    def matches(self, entity_id: str, q: Node | None = None, scope_q: Node | None = None) -> bool:
        """Run as SQL inside a savepoint: a stored q PostgreSQL refuses (a regular expression
        it cannot run) must not abort the write transaction; the error goes to the caller."""
        params = Params([self.tenant, entity_id])
        clauses: list[str] = []
        if q is not None:
            clauses.append(qcompile.compile_q(q, params, "e"))
        if scope_q is not None:
            clauses.append(qcompile.compile_scope_q(scope_q, params, "e"))
        if not clauses:
            return True
        where = " AND ".join(f"({c})" for c in clauses)
        sql = f"SELECT 1 FROM entities e WHERE e.tenant = $1 AND e.id = $2 AND {where}"
        self.conn.execute("SAVEPOINT q_check")
        try:
            found = self.conn.fetchrow(sql, *params.values) is not None
        except BaseException:
            self.conn.execute("ROLLBACK TO SAVEPOINT q_check")
            raise
        self.conn.execute("RELEASE SAVEPOINT q_check")
        return found

    def subscriptions_version(self) -> int:
        """On any worker: a trigger bumps it for every subscription change."""
        return subscriptions_version(self.conn)

    def subscriptions(self) -> list[Document]:
        rows = self.conn.fetch(
            "SELECT doc::text FROM subscriptions WHERE tenant = $1 ORDER BY seq", self.tenant
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def registrations(self) -> list[Document]:
        rows = self.conn.fetch(
            "SELECT doc::text FROM csource_registrations WHERE tenant = $1"
            " AND (expires_at IS NULL OR expires_at > $2) ORDER BY seq",
            self.tenant,
            now_iso(),
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def registration_subscriptions(self) -> list[Document]:
        rows = self.conn.fetch(
            "SELECT doc::text FROM csource_subscriptions WHERE tenant = $1 ORDER BY seq",
            self.tenant,
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def enqueue(self, subscription_id: str, payload: Document, due_at: float) -> None:
        enqueue(self.conn, self.tenant, subscription_id, payload, due_at)
        self.queued += 1

    def throttle_pass(self, key: str, now: float, period: float) -> bool:
        """The row lock makes two workers agree on who passes within one period."""
        status = self.conn.execute(
            "INSERT INTO notify_throttle AS t (tenant, subscription_id, last_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (tenant, subscription_id) DO UPDATE"
            " SET last_at = EXCLUDED.last_at WHERE $3 - t.last_at >= $4",
            self.tenant,
            key,
            now,
            period,
        )
        return status.endswith(" 1")


__all__ = [
    "PostgresTransaction",
    "TxHook",
    "enqueue",
    "enqueued",
    "json_text",
    "subscriptions_version",
]
