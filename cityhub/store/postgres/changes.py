"""Committed changes heard across processes: PostgreSQL ``NOTIFY`` in the write's own
transaction, ``LISTEN`` on one connection of each process (for ``Store.add_shared_listener``:
the dashboard's feed, whose screen may be connected to another worker than the write).

``pg_notify`` inside the transaction is delivered when it commits, and never when it rolls
back, so a listener hears exactly the committed changes, in commit order. A payload holds at
most :data:`MAX_PAYLOAD` bytes (PostgreSQL's limit is 8,000): a transaction's changes go in
as many notifications as they need, and past :data:`MAX_NOTIFIES` of them one notification
says "the tenant changed" instead (a listener reads it again). A notification names the
process that sent it (``origin``), which skips its own: it has heard them, with their
entities, from its own commits.

The channel is the database's and schema's (``cityhub_changes_`` and a digest of both): two
hubs with tables in two schemas of one database do not hear each other.

Payload (JSON): ``{"o": origin, "t": tenant, "c": [[id, kind, [type IRIs], [scopes]], ...]}``
or ``{"o": origin, "t": tenant, "all": true}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from cityhub.store.base import Change, SharedListener, entity_stub
from cityhub.store.postgres.bridge import SyncConnection

log = logging.getLogger("cityhub.store")

CHANNEL = "cityhub_changes"
MAX_PAYLOAD = 7000
MAX_NOTIFIES = 20
#: seconds between attempts to listen again after the listening connection was lost
RETRY = (0.5, 1.0, 2.0, 5.0)


def _item(change: Change) -> list[Any]:
    entity = change.after if change.after is not None else change.before
    types = entity.get("type", []) if entity is not None else []
    scopes = entity.get("scope", []) if entity is not None else []
    return [
        change.entity_id,
        change.kind,
        [types] if isinstance(types, str) else list(types),
        [scopes] if isinstance(scopes, str) else list(scopes),
    ]


def payloads(origin: str, tenant: str, changes: list[Change]) -> list[str]:
    """The notifications of one transaction's ``changes``."""
    head = f'{{"o":{orjson.dumps(origin).decode()},"t":{orjson.dumps(tenant).decode()},'
    out: list[str] = []
    items: list[bytes] = []
    size = len(head) + 8
    for change in changes:
        item = orjson.dumps(_item(change))
        if len(head) + len(item) + 8 > MAX_PAYLOAD:  # one entity too large to name
            return [head + '"all":true}']
        if items and size + len(item) + 1 > MAX_PAYLOAD:
            out.append(head + '"c":[' + b",".join(items).decode() + "]}")
            items, size = [], len(head) + 8
        items.append(item)
        size += len(item) + 1
    if items:
        out.append(head + '"c":[' + b",".join(items).decode() + "]}")
    if len(out) > MAX_NOTIFIES:
        return [head + '"all":true}']
    return out


def notify(
    conn: SyncConnection, channel: str, origin: str, tenant: str, changes: list[Change]
) -> None:
    """Queue the notifications of ``changes`` in the transaction of ``conn``."""
    for payload in payloads(origin, tenant, changes):
        conn.execute("SELECT pg_notify($1, $2)", channel, payload)


def decode(payload: str, origin: str) -> tuple[str, list[Change] | None] | None:
    """A notification as (tenant, changes or None for "all"); None: our own, or not one."""
    try:
        doc = orjson.loads(payload)
        if doc["o"] == origin:
            return None
        tenant = doc["t"]
        if not isinstance(tenant, str):
            return None
        if doc.get("all"):
            return tenant, None
        changes = []
        for entity_id, kind, types, scopes in doc["c"]:
            stub = entity_stub(str(entity_id), [str(t) for t in types], [str(s) for s in scopes])
            deleted = kind == "entityDeleted"
            changes.append(
                Change(
                    str(kind),
                    tenant,
                    str(entity_id),
                    stub if deleted else None,
                    None if deleted else stub,
                )
            )
        return tenant, changes
    except (ValueError, KeyError, TypeError):
        log.warning("a change notification that is not cityhub's was ignored")
        return None


class ChangeListener:
    """One process's ``LISTEN`` connection and the listeners it calls."""

    def __init__(self, url: str, connect: Callable[..., Any] = asyncpg.connect) -> None:
        self.url = url
        self.origin = uuid.uuid4().hex
        #: the channel of the database and schema (known once started)
        self.channel = CHANNEL
        self.listeners: list[SharedListener] = []
        self._connect = connect
        self._conn: Any = None
        self._closing = False
        self._retry: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._closing = False
        await self._listen()

    async def _listen(self) -> None:
        conn = await self._connect(self.url)
        where = await conn.fetchval("SELECT current_database() || '/' || current_schema()")
        self.channel = CHANNEL + "_" + hashlib.sha256(str(where).encode()).hexdigest()[:16]
        await conn.add_listener(self.channel, self._heard)
        conn.add_termination_listener(self._lost)
        self._conn = conn

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        decoded = decode(payload, self.origin)
        if decoded is not None:
            self._call(*decoded)

    def _call(self, tenant: str | None, changes: list[Change] | None) -> None:
        for listener in self.listeners:
            try:
                listener(tenant, changes)
            except Exception:  # pragma: no cover - a listener's bug must not stop the others
                log.exception("a listener of other processes' changes failed")

    def _lost(self, _conn: Any) -> None:
        self._conn = None
        if not self._closing and self._retry is None:
            self._retry = asyncio.get_running_loop().create_task(self._again())

    async def _again(self) -> None:
        """Listen again; what was committed meanwhile is unknown: every tenant "changed"."""
        attempt = 0
        try:
            while not self._closing:
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("cannot listen to other processes' changes yet: %s", exc)
                    await asyncio.sleep(RETRY[min(attempt, len(RETRY) - 1)])
                    attempt += 1
                    continue
                self._call(None, None)
                return
        finally:
            self._retry = None

    async def close(self) -> None:
        self._closing = True
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)


__all__ = ["CHANNEL", "ChangeListener", "decode", "notify", "payloads"]
