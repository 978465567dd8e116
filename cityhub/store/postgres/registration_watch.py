"""Registrations created by other processes, heard (``LISTEN``): so that a worker knows, without
a query, that a tenant still holds no context source registration.

Every retrieve, query and write of the entity API asks the registrations which sources it
involves (distributed operations, clause 5.12); a hub that federates with no one has none, and
on SQLite the answer is kept per tenant (``cityhub.store.registrations.Registrations``) because
no other process writes. On PostgreSQL other workers do: this watch makes the kept answer safe
there too. The transaction that creates a registration notifies the database's channel
(:meth:`RegistrationWatch.announce`, delivered when it commits); each process listens on one
connection of its own and forgets that the tenant held none as soon as the notification
arrives. While the listening connection is down, nothing is kept (:attr:`live` is False) and,
once it is back, everything is forgotten (a creation may have been missed meanwhile).

What is not strict: a registration committed by another worker counts on this one when the
notification reaches it, typically within a millisecond of the commit (the same delivery as
``changes.py``'s), not at the instant of the commit; a request this worker serves in between
answers as if the registration had been created a moment later. This worker's own creations
count at once.

The channel is the database's and schema's (``cityhub_registrations_`` and a digest of both,
computed alike by the notifying SQL and the listener), as in ``changes.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from cityhub.store.database import SqlConnection

log = logging.getLogger("cityhub.store")

CHANNEL = "cityhub_registrations_"
#: seconds between attempts to listen again after the listening connection was lost
RETRY = (0.5, 1.0, 2.0, 5.0)
#: a tenant name longer than this (bytes) is announced as "every tenant"
MAX_TENANT = 4000
#: the channel, in SQL: the same digest as :func:`channel_of`
_CHANNEL_SQL = (
    f"'{CHANNEL}' || left(encode(sha256(convert_to(current_database() || '/' ||"
    " current_schema(), 'UTF8')), 'hex'), 16)"
)
#: a tenant created a registration (``?``: the payload)
ANNOUNCE = f"SELECT pg_notify({_CHANNEL_SQL}, ?)"

#: called with the tenant that may now hold registrations, or None for "any tenant"
Heard = Callable[[str | None], None]


def channel_of(where: str) -> str:
    """The channel of ``database/schema``."""
    return CHANNEL + hashlib.sha256(where.encode()).hexdigest()[:16]


def payload(tenant: str) -> str:
    if len(tenant.encode()) > MAX_TENANT:
        return '{"all":true}'
    return orjson.dumps({"t": tenant}).decode()


def decode(text: str) -> str | None:
    """The tenant a notification names; None: every tenant (or not one of ours)."""
    try:
        doc = orjson.loads(text)
        tenant = doc.get("t") if isinstance(doc, dict) else None
    except ValueError:
        return None
    return tenant if isinstance(tenant, str) else None


class RegistrationWatch:
    """One process's ``LISTEN`` connection for registration creations, and its listeners."""

    def __init__(self, url: str, connect: Callable[..., Any] = asyncpg.connect) -> None:
        self.url = url
        self.listeners: list[Heard] = []
        self._connect = connect
        self._conn: Any = None
        self._closing = False
        self._retry: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        """Whether other processes' creations are heard now."""
        return self._conn is not None and not self._conn.is_closed()

    def announce(self, sql: SqlConnection, tenant: str) -> None:
        """Inside the transaction that creates a registration of ``tenant``: every process
        hears it when the transaction commits (never if it rolls back)."""
        sql.execute(ANNOUNCE, payload(tenant))

    async def start(self) -> None:
        self._closing = False
        await self._listen()

    async def _listen(self) -> None:
        conn = await self._connect(self.url, server_settings={"jit": "off"})
        try:
            where = await conn.fetchval("SELECT current_database() || '/' || current_schema()")
            await conn.add_listener(channel_of(str(where)), self._heard)
            conn.add_termination_listener(self._lost)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    def _heard(self, _conn: Any, _pid: int, _channel: str, text: str) -> None:
        self._call(decode(text))

    def _call(self, tenant: str | None) -> None:
        for listener in self.listeners:
            try:
                listener(tenant)
            except Exception:  # pragma: no cover - a listener's bug must not stop the others
                log.exception("a listener of registration creations failed")

    def _lost(self, _conn: Any) -> None:
        self._conn = None
        self._call(None)  # whatever was kept may be missing a creation from now on
        if not self._closing and self._retry is None:
            self._retry = asyncio.get_running_loop().create_task(self._again())

    async def _again(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("cannot listen to registration creations yet: %s", exc)
                    await asyncio.sleep(RETRY[min(attempt, len(RETRY) - 1)])
                    attempt += 1
                    continue
                self._call(None)  # creations while it was down are unknown
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
        self._call(None)


__all__ = ["ANNOUNCE", "RegistrationWatch", "channel_of", "decode", "payload"]
