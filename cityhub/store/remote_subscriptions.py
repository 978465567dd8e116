"""Where the copies of local subscriptions made at context sources are kept (ETSI GS CIM 009
v1.9.1 clause 5.8.1.4: a Subscription is forwarded to the sources of the registrations that
take ``createSubscription``; 5.8.5.4: its deletion is forwarded "with the mapped
subscriptionId"; 5.8.6: what those sources notify is relayed under the local id). In the
database, so any worker relays a notification and forwards a deletion. Its SQL is written
once over a backend's :class:`~cityhub.store.database.SqlConnection`, in the table of
SQLite's and PostgreSQL's migration 0022.

A remote id is this hub's random ``urn:ngsi-ld:Subscription:<uuid4>``: it is also what a
source's notification names, so it is looked up without a tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cityhub.store.database import Conn, SqlConnection, SqlStore

_COLUMNS = "remote_id, tenant, subscription_id, registration_id, endpoint"


@dataclass(frozen=True)
class RemoteSubscription:
    """A local subscription's copy at one context source."""

    remote_id: str
    tenant: str
    subscription_id: str
    registration_id: str
    endpoint: str


def _row(row: Sequence[Any]) -> RemoteSubscription:
    return RemoteSubscription(*(str(v) for v in row[:5]))


class RemoteSubscriptions(SqlStore[Conn]):
    """The remote copies of the subscriptions of one database."""

    async def add(self, copies: Sequence[RemoteSubscription], now: str) -> None:
        """Record copies a source accepted."""

        def run(sql: SqlConnection) -> None:
            for c in copies:
                sql.execute(
                    f"INSERT INTO remote_subscriptions ({_COLUMNS}, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    c.remote_id,
                    c.tenant,
                    c.subscription_id,
                    c.registration_id,
                    c.endpoint,
                    now,
                )

        if copies:
            await self._write(run)

    async def of_subscription(self, tenant: str, subscription_id: str) -> list[RemoteSubscription]:
        """The copies of one local subscription."""
        rows = await self._db.select(
            f"SELECT {_COLUMNS} FROM remote_subscriptions WHERE tenant = ? AND subscription_id = ?",
            tenant,
            subscription_id,
        )
        return [_row(r) for r in rows]

    async def by_remote_id(self, remote_id: str) -> RemoteSubscription | None:
        """The copy a source's notification names, None when there is none (any more)."""
        rows = await self._db.select(
            f"SELECT {_COLUMNS} FROM remote_subscriptions WHERE remote_id = ?", remote_id
        )
        return _row(rows[0]) if rows else None

    async def forget(self, tenant: str, subscription_id: str) -> list[RemoteSubscription]:
        """Delete the copies of one local subscription; the ones there were."""

        def run(sql: SqlConnection) -> list[RemoteSubscription]:
            rows = sql.fetch(
                f"SELECT {_COLUMNS} FROM remote_subscriptions"
                f" WHERE tenant = ? AND subscription_id = ?{sql.for_update}",
                tenant,
                subscription_id,
            )
            sql.execute(
                "DELETE FROM remote_subscriptions WHERE tenant = ? AND subscription_id = ?",
                tenant,
                subscription_id,
            )
            return [_row(r) for r in rows]

        return await self._write(run)

    async def forget_copy(self, remote_id: str) -> None:
        """Delete one copy (its source did not take it)."""
        statement = "DELETE FROM remote_subscriptions WHERE remote_id = ?"
        await self._write(lambda sql: sql.execute(statement, remote_id))

    async def forget_registration(
        self, tenant: str, registration_id: str
    ) -> list[RemoteSubscription]:
        """Delete the copies held by one registration's source; the ones there were."""

        def run(sql: SqlConnection) -> list[RemoteSubscription]:
            rows = sql.fetch(
                f"SELECT {_COLUMNS} FROM remote_subscriptions"
                f" WHERE tenant = ? AND registration_id = ?{sql.for_update}",
                tenant,
                registration_id,
            )
            sql.execute(
                "DELETE FROM remote_subscriptions WHERE tenant = ? AND registration_id = ?",
                tenant,
                registration_id,
            )
            return [_row(r) for r in rows]

        return await self._write(run)


#: the remote subscriptions' store, whichever backend holds it
RemoteSubscriptionStore = RemoteSubscriptions[Any]


__all__ = ["RemoteSubscription", "RemoteSubscriptionStore", "RemoteSubscriptions"]
