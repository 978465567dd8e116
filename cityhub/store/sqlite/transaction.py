"""The write transaction of the SQLite store (``cityhub.store.base.Transaction``), its SQL:
entity rows on the writer connection, their derived indexes (geo, values), and the rows
services read and write beside them in the same transaction (subscriptions, registrations,
the notification outbox, its throttling and periodic rounds, history). The rules of a change
are ``cityhub.store.transaction.BaseTransaction``'s.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import Node
from cityhub.store.base import Change, Document, EntityQuery, TxHook
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import geo, qindex
from cityhub.store.sqlite.entities import COLUMNS, row_to_entity, where_clause
from cityhub.store.sqlite.history import SqliteHistoryRows
from cityhub.store.transaction import BaseTransaction
from cityhub.store.work import ENQUEUE, FINISH


def subscriptions_version(conn: sqlite3.Connection) -> int:
    """Grows with every insert, update or delete of a subscription (a trigger bumps it)."""
    row = conn.execute("SELECT version FROM notify_version WHERE one = 1").fetchone()
    return int(row[0]) if row else 0


class SqliteTransaction(SqliteHistoryRows, BaseTransaction[sqlite3.Connection]):
    """A :class:`~cityhub.store.base.Transaction` on the writer connection, inside the
    current transaction (of one write job, or of a registration store's write); its history
    rows are :class:`~cityhub.store.sqlite.history.SqliteHistoryRows`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        tenant: str,
        hooks: Sequence[TxHook] = (),
        stored_tenants: frozenset[str] | set[str] = frozenset(),
        subscriptions_version: int | None = None,
    ) -> None:
        super().__init__(conn, tenant, hooks)
        #: the subscriptions' version, when the caller read it in this transaction already
        #: (the writer's group commit: one read for the group's jobs)
        self._subscriptions_version = subscriptions_version
        #: tenants known to be in the ``tenants`` table (committed); this transaction's
        #: tenant is written there otherwise, and reported in ``tenant_written``
        self._stored_tenants = stored_tenants
        self.tenant_written = False
        self._history = []

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        held = len(self._history)
        try:
            with super().savepoint():
                yield
        except BaseException:
            del self._history[held:]  # rolled back: its changes recorded nothing
            raise

    def _index(self, change: Change) -> None:
        # the derived indexes are this backend's own rows, kept with the entity row
        geo.index_change(self.conn, change)
        qindex.index_change(self.conn, change)

    def _in_transaction(self) -> bool:
        return self.conn.in_transaction  # else SQLite rolled back everything (a full disk)

    def get(self, entity_id: str) -> Entity | None:
        row = self.conn.execute(
            f"SELECT {COLUMNS} FROM entities e WHERE e.tenant = ? AND e.id = ?",
            (self.tenant, entity_id),
        ).fetchone()
        return row_to_entity(row) if row else None

    def _insert_row(self, entity: Entity) -> None:
        if self.tenant not in self._stored_tenants:
            self.conn.execute(
                "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)",
                (self.tenant, now_iso()),
            )
            self.tenant_written = True
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

    def _write_types(self, entity: Entity, replace: bool) -> None:
        if replace:
            self.conn.execute(
                "DELETE FROM entity_types WHERE tenant = ? AND id = ?", (self.tenant, entity["id"])
            )
        self.conn.executemany(
            "INSERT INTO entity_types (tenant, type, id) VALUES (?, ?, ?)",
            [(self.tenant, t, entity["id"]) for t in entity["type"]],
        )

    def _update_row(self, entity: Entity) -> None:
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

    def _delete_rows(self, entity_id: str) -> None:
        self.conn.execute(
            "DELETE FROM entities WHERE tenant = ? AND id = ?", (self.tenant, entity_id)
        )
        self.conn.execute(
            "DELETE FROM entity_types WHERE tenant = ? AND id = ?", (self.tenant, entity_id)
        )

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

    # ---- what services read and write beside the entities --------------------------------
    def _matches(self, entity_id: str, q: Node | None, scope_q: Node | None) -> bool:
        clauses: list[str] = []
        params: list[Any] = [self.tenant, entity_id]
        if q is not None:
            clauses.append(qcompile.compile_q(q, params, "e"))
        if scope_q is not None:
            clauses.append(qcompile.compile_scope_q(scope_q, params, "e"))
        where = " AND ".join(f"({c})" for c in clauses)
        sql = f"SELECT 1 FROM entities e WHERE e.tenant = ? AND e.id = ? AND {where}"
        return self.conn.execute(sql, params).fetchone() is not None

    def _read_subscriptions_version(self) -> int:
        return subscriptions_version(self.conn)

    def known_subscriptions_version(self) -> int | None:
        """The subscriptions' version if this transaction read it (or was given it)."""
        return self._subscriptions_version

    def _documents(self, table: str, unexpired: bool = False) -> list[Document]:
        live = " AND (expires_at IS NULL OR expires_at > ?)" if unexpired else ""
        rows = self.conn.execute(
            f"SELECT doc FROM {table} WHERE tenant = ?{live} ORDER BY rowid",
            (self.tenant, now_iso()) if unexpired else (self.tenant,),
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def _insert_outbox(self, subscription_id: str, payload: str, due_at: float, at: str) -> None:
        self.conn.execute(
            "INSERT INTO outbox (tenant, subscription_id, payload, due_at, attempts, created_at)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            (self.tenant, subscription_id, payload, due_at, at),
        )

    def _insert_work(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(ENQUEUE, rows)

    def finish_work(self, item_id: int, token: str) -> None:
        self.conn.execute(FINISH, (item_id, token))

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

    def move_periodic_round(self, subscription_id: str, previous: float | None, at: float) -> bool:
        """Always moved: one process serves the file."""
        self.conn.execute(
            "INSERT OR REPLACE INTO notify_periodic (tenant, subscription_id, next_at)"
            " VALUES (?, ?, ?)",
            (self.tenant, subscription_id, at),
        )
        return True


__all__ = ["SqliteTransaction", "subscriptions_version"]
