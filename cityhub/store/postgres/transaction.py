"""The write transaction of the PostgreSQL store (``cityhub.store.base.Transaction``), its SQL:
entity rows on the transaction's connection, their geo index, and the rows services read and
write beside them in the same transaction (subscriptions, registrations, the notification
outbox, its throttling and periodic rounds, history). The rules of a change are
``cityhub.store.transaction.BaseTransaction``'s.

``notify_version`` is bumped by a trigger on every subscription change, whichever worker made
it, so a cache keyed on :meth:`PostgresTransaction.subscriptions_version` (read once per
transaction) honours a subscription created through one worker from the next transaction on,
on any worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import Node
from cityhub.store.base import Change, Document, EntityQuery, TxHook
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import geo, qindex
from cityhub.store.postgres.bridge import SyncConnection, numbered
from cityhub.store.postgres.entities import COLUMNS, row_to_entity, where_clause
from cityhub.store.postgres.history import PostgresHistoryRows
from cityhub.store.postgres.params import Params
from cityhub.store.transaction import BaseTransaction
from cityhub.store.work import ENQUEUE, FINISH


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


#: the subscriptions' version as one more column of a write's first statement: read once per
#: transaction (``BaseTransaction.subscriptions_version``), with no round trip of its own
_VERSION_COLUMN = ", (SELECT version FROM notify_version WHERE one = 1)"


def subscriptions_version(conn: SyncConnection) -> int:
    """Grows with every insert, update or delete of a subscription, on any worker."""
    return int(conn.fetchval("SELECT version FROM notify_version WHERE one = 1") or 0)


class NeedSavepoints(BaseException):  # noqa: N818 - a signal to the store, not an error
    """A block of an optimistic transaction (:attr:`PostgresTransaction.optimistic`) failed
    after it had sent statements: the store runs the transaction again with real savepoints.
    A BaseException, so that no ``except Exception`` on the way takes it for the block's own
    error."""


class PostgresTransaction(PostgresHistoryRows, BaseTransaction[SyncConnection]):
    """A :class:`~cityhub.store.base.Transaction` of one tenant on one connection, inside its
    transaction (synchronous: it runs under ``run_sync``); its history rows are
    :class:`~cityhub.store.postgres.history.PostgresHistoryRows`.

    ``optimistic``: :meth:`savepoint` sends no SAVEPOINT: a batch's entities each run in one,
    two round trips apiece (and past 64 of them PostgreSQL's subtransaction cache overflows,
    which slows every snapshot), while an entity that fails is rare. A block that fails before
    sending any statement is undone in memory, as a savepoint would; one that fails after
    raises :class:`NeedSavepoints`, and the store runs the whole transaction again with real
    savepoints (``PostgresStore.write``), as the IoT agent does above the store.
    """

    #: how many of :attr:`changes` have their q_index rows written (``_write_q_index``)
    _q_written = 0

    def __init__(
        self,
        conn: SyncConnection,
        tenant: str,
        hooks: Sequence[TxHook] = (),
        *,
        optimistic: bool = False,
    ) -> None:
        super().__init__(conn, tenant, hooks)
        self.optimistic = optimistic

    def _index(self, change: Change) -> None:
        geo.index_change(self.conn, change)  # the geo index: this backend's own rows

    def _emit(self, change: Change) -> None:
        """As ``BaseTransaction._emit``; the history hook's head row goes with the change's
        instances in one statement (``PostgresHistoryRows``), or alone once the hooks ran."""
        self._holding_head = True
        try:
            super()._emit(change)
        except BaseException:
            self.drop_history_head()
            raise
        finally:
            self._holding_head = False
        self.flush_history_head()

    def _write_q_index(self) -> None:
        """The q_index rows of the changes since the last call, in one statement (a savepoint
        rolled back took its changes and its rows with it)."""
        done = min(self._q_written, len(self.changes))
        self._q_written = len(self.changes)
        if done < len(self.changes):
            qindex.write(self.conn, self.tenant, self.changes[done:])

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """As ``BaseTransaction.savepoint``; rolled back, it also takes back the q_index rows
        written inside it, those of earlier changes too (``query_ids`` writes every pending
        change's), so they are written again. Optimistic: none (see the class)."""
        if self.optimistic:
            with self._optimistic_block():
                yield
            return
        written = self._q_written
        try:
            with super().savepoint():
                yield
        except BaseException:
            self._q_written = min(written, len(self.changes))
            raise

    @contextlib.contextmanager
    def _optimistic_block(self) -> Iterator[None]:
        mark, work, sent = len(self.changes), len(self._work), self.conn.sent
        try:
            yield
        except Exception as exc:  # (a cancellation ends the whole transaction anyway)
            if self.conn.sent != sent:
                raise NeedSavepoints from exc
            del self.changes[mark:]  # nothing reached the database: forget it here
            del self._work[work:]
            raise

    def flush_work(self) -> None:
        """Before the commit: the q_index rows, then the services' work items."""
        self._write_q_index()
        super().flush_work()

    def get(self, entity_id: str) -> Entity | None:
        """The entity, locked until the transaction ends (a write transaction reads to write);
        the transaction's first read also brings the subscriptions' version along."""
        version = self._subscriptions_version is None
        row = self.conn.fetchrow(
            f"SELECT {COLUMNS}{_VERSION_COLUMN if version else ''} FROM entities e"
            " WHERE e.tenant = $1 AND e.id = $2 FOR UPDATE",
            self.tenant,
            entity_id,
        )
        if row is None:
            return None
        if version:
            self._subscriptions_version = int(row[-1] or 0)
        return row_to_entity(row)

    def insert(self, entity: Entity) -> None:
        """As ``BaseTransaction.insert``, with the row's types written by ``_insert_row``'s
        statement."""
        self._insert_row(entity)
        self._emit(Change("entityCreated", self.tenant, entity["id"], None, entity))

    def _insert_row(self, entity: Entity) -> None:
        """The tenant's row (if new), the entity's row and its type rows: one statement."""
        # ON CONFLICT keeps the transaction usable: a taken id is an answer, not an abort;
        # the subscriptions' version comes along (one round trip fewer per create)
        inserted, version = self.conn.fetchrow(
            "WITH t AS (INSERT INTO tenants (name, created_at) VALUES ($1, $5) ON CONFLICT DO "
            "NOTHING), e AS (INSERT INTO entities (tenant, id, types, scopes, created_at, "
            "modified_at, attrs) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7::jsonb) "
            "ON CONFLICT DO NOTHING RETURNING id), ty AS (INSERT INTO entity_types (tenant, "
            "type, id) SELECT $1, x, e.id FROM e, unnest($8::text[]) x ON CONFLICT DO NOTHING) "
            f"SELECT count(*){_VERSION_COLUMN} FROM e",
            self.tenant,
            entity["id"],
            json_text(entity["type"]),
            json_text(entity["scope"]) if entity.get("scope") else None,
            entity["createdAt"],
            entity["modifiedAt"],
            json_text(entity["attrs"]),
            list(entity["type"]),
        )
        if self._subscriptions_version is None:
            self._subscriptions_version = int(version or 0)
        if not inserted:
            raise AlreadyExists(f"an entity with id {entity['id']} already exists")

    def _write_types(self, entity: Entity, replace: bool) -> None:
        if replace:
            self.conn.execute(
                "DELETE FROM entity_types WHERE tenant = $1 AND id = $2", self.tenant, entity["id"]
            )
        self.conn.execute(
            "INSERT INTO entity_types (tenant, type, id) SELECT $1, t, $2 FROM unnest($3::text[]) t"
            " ON CONFLICT DO NOTHING",
            self.tenant,
            entity["id"],
            list(entity["type"]),
        )

    def _update_row(self, entity: Entity) -> None:
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

    def _delete_rows(self, entity_id: str) -> None:
        self.conn.execute(
            "DELETE FROM entities WHERE tenant = $1 AND id = $2", self.tenant, entity_id
        )
        self.conn.execute(
            "DELETE FROM entity_types WHERE tenant = $1 AND id = $2", self.tenant, entity_id
        )

    def query_ids(self, query: EntityQuery) -> list[str]:
        """Ids of every entity a query matches (limit and offset ignored), in this transaction."""
        self._write_q_index()  # the query may read it
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

    # ---- what services read and write beside the entities --------------------------------
    def _matches(self, entity_id: str, q: Node | None, scope_q: Node | None) -> bool:
        """Run as SQL inside a savepoint: a stored q PostgreSQL refuses (a regular expression
        it cannot run) must not abort the write transaction; the error goes to the caller."""
        params = Params([self.tenant, entity_id])
        clauses: list[str] = []
        if q is not None:
            clauses.append(qcompile.compile_q(q, params, "e"))
        if scope_q is not None:
            clauses.append(qcompile.compile_scope_q(scope_q, params, "e"))
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

    def _read_subscriptions_version(self) -> int:
        """On any worker: a trigger bumps it for every subscription change."""
        return subscriptions_version(self.conn)

    def _documents(self, table: str, unexpired: bool = False) -> list[Document]:
        live = " AND (expires_at IS NULL OR expires_at > $2)" if unexpired else ""
        rows = self.conn.fetch(
            f"SELECT doc::text FROM {table} WHERE tenant = $1{live} ORDER BY seq",
            *((self.tenant, now_iso()) if unexpired else (self.tenant,)),
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def _insert_outbox(self, subscription_id: str, payload: str, due_at: float, at: str) -> None:
        self.conn.execute(
            "INSERT INTO outbox (tenant, subscription_id, payload, due_at, attempts, created_at)"
            " VALUES ($1, $2, $3::jsonb, $4, 0, $5)",
            self.tenant,
            subscription_id,
            payload,
            due_at,
            at,
        )

    def _insert_work(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(numbered(ENQUEUE), rows)

    def finish_work(self, item_id: int, token: str) -> None:
        self.conn.execute(numbered(FINISH), item_id, token)

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

    def move_periodic_round(self, subscription_id: str, previous: float | None, at: float) -> bool:
        """Moved only from where ``previous`` says it is: of several workers, one moves it."""
        if previous is None:
            status = self.conn.execute(
                "INSERT INTO notify_periodic (tenant, subscription_id, next_at)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                self.tenant,
                subscription_id,
                at,
            )
        else:
            status = self.conn.execute(
                "UPDATE notify_periodic SET next_at = $3 WHERE tenant = $1 AND"
                " subscription_id = $2 AND next_at = $4",
                self.tenant,
                subscription_id,
                at,
                previous,
            )
        return status.endswith(" 1")


__all__ = ["NeedSavepoints", "PostgresTransaction", "json_text", "subscriptions_version"]
