"""The write transaction of the SQLite store (``cityhub.store.base.Transaction``): entity rows
on the writer connection, and the rows services read and write beside them in the same
transaction (subscriptions, registrations, the notification outbox and its throttling).

Every change updates the derived indexes (geo, values) and runs the store's transaction hooks
with the transaction itself (``TxHook``): the history's and the services' (the notification
trigger).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import format_datetime, now_iso
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import Node
from cityhub.store.base import Change, Document, EntityQuery
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import geo, qindex
from cityhub.store.sqlite.entities import COLUMNS, row_to_entity, where_clause
from cityhub.store.sqlite.history import SqliteHistoryRows

#: a hook the store runs inside the write transaction for every change; services' hooks
#: (``cityhub.store.base.TxHook``, typed on the protocol) fit too
TxHook = Callable[["SqliteTransaction", Change], None]


def subscriptions_version(conn: sqlite3.Connection) -> int:
    """Grows with every insert, update or delete of a subscription (a trigger bumps it)."""
    row = conn.execute("SELECT version FROM notify_version WHERE one = 1").fetchone()
    return int(row[0]) if row else 0


_enqueued = 0  # rows :func:`enqueue` inserted in this process (writer threads only)


def enqueued() -> int:
    """How many rows :func:`enqueue` has inserted in this process, committed or not: when the
    number has not moved since a commit, that commit queued nothing (the dispatcher's test
    whether a commit is worth a look at the outbox)."""
    return _enqueued


def enqueue(
    conn: sqlite3.Connection, tenant: str, sub_id: str, payload: Document, due_at: float
) -> None:
    """Insert one notification in the outbox, inside the caller's transaction."""
    global _enqueued
    _enqueued += 1
    conn.execute(
        "INSERT INTO outbox (tenant, subscription_id, payload, due_at, attempts, created_at)"
        " VALUES (?, ?, ?, ?, 0, ?)",
        (
            tenant,
            sub_id,
            orjson.dumps(payload).decode(),
            due_at,
            format_datetime(datetime.fromtimestamp(due_at, UTC)),
        ),
    )


class SqliteTransaction(SqliteHistoryRows):
    """A :class:`~cityhub.store.base.Transaction` on the writer connection, inside the
    current transaction (of one write job, or of a registration store's write); its history
    rows are :class:`~cityhub.store.sqlite.history.SqliteHistoryRows`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        tenant: str,
        hooks: Sequence[TxHook] = (),
        stored_tenants: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        self.hooks = hooks
        self.conn = conn
        self.tenant = tenant
        self.changes: list[Change] = []
        self._sp = 0
        #: tenants known to be in the ``tenants`` table (committed); this transaction's
        #: tenant is written there otherwise, and reported in ``tenant_written``
        self._stored_tenants = stored_tenants
        self.tenant_written = False
        #: notifications this transaction queued
        self.queued = 0

    def _emit(self, change: Change) -> None:
        self.changes.append(change)
        # the derived indexes are this backend's own rows, kept with the entity row
        geo.index_change(self.conn, change)
        qindex.index_change(self.conn, change)
        for hook in self.hooks:  # in the same transaction: history, outbox rows
            hook(self, change)

    def get(self, entity_id: str) -> Entity | None:
        row = self.conn.execute(
            f"SELECT {COLUMNS} FROM entities e WHERE e.tenant = ? AND e.id = ?",
            (self.tenant, entity_id),
        ).fetchone()
        return row_to_entity(row) if row else None

    def _touch_tenant(self) -> None:
        if self.tenant in self._stored_tenants:
            return
        self.conn.execute(
            "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)",
            (self.tenant, now_iso()),
        )
        self.tenant_written = True

    def insert(self, entity: Entity) -> None:
        self._touch_tenant()
        try:
            self.conn.execute(
                "INSERT INTO entities (tenant, id, types, scopes, created_at, modified_at, attrs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.tenant,
                    entity["id"],
                    orjson.dumps(entity["type"]).decode(),
                    orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None,
                    entity["createdAt"],
                    entity["modifiedAt"],
                    orjson.dumps(entity["attrs"]).decode(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"an entity with id {entity['id']} already exists") from exc
        self.conn.executemany(
            "INSERT INTO entity_types (tenant, type, id) VALUES (?, ?, ?)",
            [(self.tenant, t, entity["id"]) for t in entity["type"]],
        )
        self._emit(Change("entityCreated", self.tenant, entity["id"], None, entity))

    def save(self, entity: Entity, before: Entity | None = None) -> None:
        self.conn.execute(
            "UPDATE entities SET types = ?, scopes = ?, modified_at = ?, attrs = ?"
            " WHERE tenant = ? AND id = ?",
            (
                orjson.dumps(entity["type"]).decode(),
                orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None,
                entity["modifiedAt"],
                orjson.dumps(entity["attrs"]).decode(),
                self.tenant,
                entity["id"],
            ),
        )
        if before is None or before["type"] != entity["type"]:
            self.conn.execute(
                "DELETE FROM entity_types WHERE tenant = ? AND id = ?", (self.tenant, entity["id"])
            )
            self.conn.executemany(
                "INSERT INTO entity_types (tenant, type, id) VALUES (?, ?, ?)",
                [(self.tenant, t, entity["id"]) for t in entity["type"]],
            )
        self._emit(Change("entityUpdated", self.tenant, entity["id"], before, entity))

    def delete(self, entity_id: str) -> bool:
        before = self.get(entity_id)
        if before is None:
            return False
        self.conn.execute(
            "DELETE FROM entities WHERE tenant = ? AND id = ?", (self.tenant, entity_id)
        )
        self.conn.execute(
            "DELETE FROM entity_types WHERE tenant = ? AND id = ?", (self.tenant, entity_id)
        )
        self._emit(Change("entityDeleted", self.tenant, entity_id, before, None))
        return True

    def query_ids(self, query: EntityQuery) -> list[str]:
        """Ids of every entity a query matches (limit and offset ignored), in this transaction."""
        where, params = where_clause(self.tenant, query, entity_rows=True)
        rows = self.conn.execute(f"SELECT e.id FROM entities e WHERE {where}", params).fetchall()
        return [r[0] for r in rows]

    def ids_of_types(self, types: list[str]) -> list[str]:
        marks = ",".join("?" * len(types))
        rows = self.conn.execute(
            f"SELECT DISTINCT id FROM entity_types WHERE tenant = ? AND type IN ({marks})",
            (self.tenant, *types),
        ).fetchall()
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
            if self.conn.in_transaction:  # else SQLite rolled back everything (a full disk)
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
            del self.changes[mark:]
            raise
        self.conn.execute(f"RELEASE {name}")

    # ---- what services read and write beside the entities --------------------------------
    def matches(self, entity_id: str, q: Node | None = None, scope_q: Node | None = None) -> bool:
        clauses: list[str] = []
        params: list[Any] = [self.tenant, entity_id]
        if q is not None:
            clauses.append(qcompile.compile_q(q, params, "e"))
        if scope_q is not None:
            clauses.append(qcompile.compile_scope_q(scope_q, params, "e"))
        if not clauses:
            return True
        where = " AND ".join(f"({c})" for c in clauses)
        sql = f"SELECT 1 FROM entities e WHERE e.tenant = ? AND e.id = ? AND {where}"
        return self.conn.execute(sql, params).fetchone() is not None

    def subscriptions_version(self) -> int:
        return subscriptions_version(self.conn)

    def subscriptions(self) -> list[Document]:
        rows = self.conn.execute(
            "SELECT doc FROM subscriptions WHERE tenant = ? ORDER BY rowid", (self.tenant,)
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def registrations(self) -> list[Document]:
        rows = self.conn.execute(
            "SELECT doc FROM csource_registrations WHERE tenant = ? "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY rowid",
            (self.tenant, now_iso()),
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def registration_subscriptions(self) -> list[Document]:
        rows = self.conn.execute(
            "SELECT doc FROM csource_subscriptions WHERE tenant = ? ORDER BY rowid",
            (self.tenant,),
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def enqueue(self, subscription_id: str, payload: Document, due_at: float) -> None:
        enqueue(self.conn, self.tenant, subscription_id, payload, due_at)
        self.queued += 1

    def throttle_pass(self, key: str, now: float, period: float) -> bool:
        row = self.conn.execute(
            "SELECT last_at FROM notify_throttle WHERE tenant = ? AND subscription_id = ?",
            (self.tenant, key),
        ).fetchone()
        if row is not None and now - float(row[0]) < period:
            return False
        self.conn.execute(
            "INSERT OR REPLACE INTO notify_throttle (tenant, subscription_id, last_at)"
            " VALUES (?, ?, ?)",
            (self.tenant, key, now),
        )
        return True


__all__ = ["SqliteTransaction", "TxHook", "enqueue", "enqueued", "subscriptions_version"]
