"""The PostgreSQL connection as the rows written once in ``cityhub.store`` use it
(``cityhub.store.database.SqlConnection``: ``subscriptions.SubscriptionRows``,
``registration_rows.RegistrationRows``): their ``?`` marks numbered, JSONB documents bound and
read as text (asyncpg's default for json and jsonb).

Several workers share the database: a row read to be rewritten is locked (``FOR UPDATE``);
exclusive registrations are checked under a per-tenant transaction advisory lock, so two
workers cannot both register the same attributes exclusively at once; the rounds of
``timeInterval`` registration subscriptions run under a transaction advisory lock, one worker
at a time. Stored idPatterns are kept in PostgreSQL's regular expression syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cityhub.store.postgres.bridge import SyncConnection, numbered, rowcount
from cityhub.store.postgres.regex import to_postgres
from cityhub.store.postgres.transaction import PostgresTransaction

#: pg_advisory_xact_lock namespace of exclusive-registration checks ("csr" in ASCII)
_LOCK_SPACE = 0x637372
#: pg_try_advisory_xact_lock key of the periodic rounds ("csrp" in ASCII)
_PERIODIC_LOCK = 0x63737270


class PostgresRows:
    """One pooled PostgreSQL connection for the SQL written once."""

    seq = "seq"
    for_update = " FOR UPDATE"
    key_share = " FOR KEY SHARE"
    bytewise = ' COLLATE "C"'

    def __init__(self, conn: SyncConnection) -> None:
        self.conn = conn

    def member(self, column: str, name: str) -> str:
        return f"{column} ->> '{name}'"

    def pattern(self, pattern: str) -> str:
        return to_postgres(pattern)

    def regexp(self, pattern: str, text: str, stored: bool = False) -> str:
        # ngsild_safe_regexp (migration 4): a stored pattern PostgreSQL cannot compile matches
        # nothing; a caller's is a 400 (bridge.refused_data)
        return f"ngsild_safe_regexp({pattern}, {text})" if stored else f"{text} ~ {pattern}"

    def execute(self, sql: str, *args: Any) -> int:
        return rowcount(self.conn.execute(numbered(sql), *args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(numbered(sql), rows)

    def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return self.conn.fetch(numbered(sql), *args)

    def transaction(self, tenant: str) -> PostgresTransaction:
        return PostgresTransaction(self.conn, tenant)

    def lock_exclusive_registrations(self, tenant: str) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_SPACE, tenant)

    def claim_periodic(self) -> bool:
        return bool(self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _PERIODIC_LOCK))


__all__ = ["PostgresRows"]
