"""The notification outbox in SQLite (DESIGN.md decision 4; ETSI GS CIM 009 clause 5.8.6).

:meth:`Outbox.hook` is a store tx hook: it runs on the writer connection inside the write
transaction of every entity change, finds the subscriptions the change triggers and inserts one
row per notification, so the notification commits (or rolls back) with the change.

A row's ``payload`` is the Notification (clause 5.3.1) with ``data`` still in the internal form
(full IRIs, all attributes): the dispatcher renders it with the subscription's @context and
``notification`` parameters when it delivers, because that needs @context documents which can
only be fetched asynchronously, and so a receiver's context that is briefly unavailable delays a
notification rather than failing the client's write.

Subscriptions are read on the same connection and cached per tenant; triggers on the
``subscriptions`` table bump a version number, and a cache entry is used only while the version
(and the term-map cache generation) it was built with still holds. :data:`OUTBOX_SCHEMA` must
run after ``SUBSCRIPTION_SCHEMA``.

The dispatcher uses :func:`claim`, :func:`ack` and :func:`fail`; ``due_at`` is in seconds since
the epoch. A claimed row is leased (its ``due_at`` moved ahead) so a crashed dispatcher's rows are
taken again once the lease ends.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from cityhub.ngsild.datetime import format_datetime
from cityhub.notify.matcher import Prepared, TermMaps, prepare, triggered
from cityhub.store.base import Change
from cityhub.store.sqlite.store import in_transaction

OUTBOX_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  due_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at);
CREATE TABLE IF NOT EXISTS notify_throttle (
  tenant TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  last_at REAL NOT NULL,
  PRIMARY KEY (tenant, subscription_id)
);
CREATE TABLE IF NOT EXISTS notify_version (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  version INTEGER NOT NULL
);
INSERT OR IGNORE INTO notify_version (one, version) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS notify_sub_insert AFTER INSERT ON subscriptions
BEGIN UPDATE notify_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS notify_sub_update AFTER UPDATE ON subscriptions
BEGIN UPDATE notify_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS notify_sub_delete AFTER DELETE ON subscriptions
BEGIN UPDATE notify_version SET version = version + 1; END;
"""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    tenant: str
    subscription_id: str
    payload: dict[str, Any]
    attempts: int
    created_at: str


def subscriptions_version(conn: sqlite3.Connection) -> int:
    """Grows with every insert, update or delete of a subscription."""
    row = conn.execute("SELECT version FROM notify_version WHERE one = 1").fetchone()
    return int(row[0]) if row else 0


def new_notification_id() -> str:
    return f"urn:ngsi-ld:Notification:{uuid.uuid4()}"


class Outbox:
    """The tx hook and its per-tenant subscription cache (one per store).

    Args:
        term_maps: the @context cache the matcher reads q with (the dispatcher fills it).
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(
        self, term_maps: TermMaps | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.term_maps = term_maps if term_maps is not None else TermMaps()
        self.clock = clock
        self._cache: dict[str, tuple[int, int, list[Prepared]]] = {}

    def subscriptions(self, conn: sqlite3.Connection, tenant: str) -> list[Prepared]:
        """The tenant's subscriptions, prepared, from the cache while it is current."""
        version = subscriptions_version(conn)
        generation = self.term_maps.generation
        cached = self._cache.get(tenant)
        if cached is not None and cached[0] == version and cached[1] == generation:
            return cached[2]
        rows = conn.execute(
            "SELECT doc FROM subscriptions WHERE tenant = ? ORDER BY rowid", (tenant,)
        ).fetchall()
        prepared: list[Prepared] = []
        for (doc,) in rows:
            try:
                prepared.append(prepare(tenant, orjson.loads(doc), self.term_maps))
            except Exception:  # a subscription that cannot be read must not block writes
                continue
        self._cache[tenant] = (version, generation, prepared)
        return prepared

    def hook(self, conn: sqlite3.Connection, change: Change) -> None:
        """The tx hook: queue a notification for every subscription ``change`` triggers."""
        subs = self.subscriptions(conn, change.tenant)
        if not subs:
            return
        now_s = self.clock()
        now = datetime.fromtimestamp(now_s, UTC)
        entity = change.after if change.after is not None else change.before
        for sub in subs:
            if not triggered(conn, sub, change, now):
                continue
            if sub.throttling is not None and not self._throttle(conn, sub, now_s):
                continue
            data = dict(entity or {"id": change.entity_id, "type": [], "attrs": {}})
            if change.after is None:
                data["deletedAt"] = format_datetime(now)
            payload = {
                "id": new_notification_id(),
                "type": "Notification",
                "subscriptionId": sub.id,
                "notifiedAt": format_datetime(now),
                "data": [data],
                "trigger": change.kind,
            }
            enqueue(conn, change.tenant, sub.id, payload, now_s)

    def _throttle(self, conn: sqlite3.Connection, sub: Prepared, now_s: float) -> bool:
        """True (and the time recorded) when the throttling period has passed."""
        row = conn.execute(
            "SELECT last_at FROM notify_throttle WHERE tenant = ? AND subscription_id = ?",
            (sub.tenant, sub.id),
        ).fetchone()
        if row is not None and sub.throttling is not None and now_s - row[0] < sub.throttling:
            return False
        conn.execute(
            "INSERT OR REPLACE INTO notify_throttle (tenant, subscription_id, last_at)"
            " VALUES (?, ?, ?)",
            (sub.tenant, sub.id, now_s),
        )
        return True


def enqueue(
    conn: sqlite3.Connection, tenant: str, sub_id: str, payload: dict[str, Any], due_at: float
) -> int:
    """Insert one notification (inside the caller's transaction); returns the row id."""
    cur = conn.execute(
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
    return int(cur.lastrowid or 0)


_in_transaction = in_transaction


def claim(conn: sqlite3.Connection, now: float, limit: int, lease: float) -> list[OutboxRow]:
    """Take up to ``limit`` due rows, oldest first, leasing them for ``lease`` seconds."""

    def body() -> list[OutboxRow]:
        rows = conn.execute(
            "SELECT id, tenant, subscription_id, payload, attempts, created_at FROM outbox"
            " WHERE due_at <= ? ORDER BY due_at, id LIMIT ?",
            (now, limit),
        ).fetchall()
        if rows:
            conn.executemany(
                "UPDATE outbox SET due_at = ? WHERE id = ?", [(now + lease, r[0]) for r in rows]
            )
        return [OutboxRow(r[0], r[1], r[2], orjson.loads(r[3]), r[4], r[5]) for r in rows]

    result: list[OutboxRow] = _in_transaction(conn, body)
    return result


def ack(conn: sqlite3.Connection, row_id: int) -> None:
    """A delivered notification leaves the outbox."""
    _in_transaction(conn, lambda: conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,)))


def fail(conn: sqlite3.Connection, row_id: int, error: str, due_at: float | None) -> None:
    """Record a failed attempt: retry at ``due_at``, or give up (delete) when it is None."""

    def body() -> None:
        if due_at is None:
            conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        else:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, due_at = ?"
                " WHERE id = ?",
                (error[:2000], due_at, row_id),
            )

    _in_transaction(conn, body)


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the earliest row is due, or None for an empty outbox."""
    row = conn.execute("SELECT min(due_at) FROM outbox").fetchone()
    return float(row[0]) if row and row[0] is not None else None


def pending(conn: sqlite3.Connection) -> list[tuple[int, str, int, str | None]]:
    """(id, subscription id, attempts, last error) of every row, for tests and operators."""
    rows = conn.execute(
        "SELECT id, subscription_id, attempts, last_error FROM outbox ORDER BY id"
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


__all__ = [
    "OUTBOX_SCHEMA",
    "Outbox",
    "OutboxRow",
    "ack",
    "claim",
    "enqueue",
    "fail",
    "next_due",
    "pending",
    "subscriptions_version",
]
