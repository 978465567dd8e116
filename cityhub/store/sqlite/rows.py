"""The SQLite connection as the rows written once in ``cityhub.store`` use it
(``cityhub.store.database.SqlConnection``: ``subscriptions.SubscriptionRows``,
``registration_rows.RegistrationRows``): statements with ``?`` marks as they are, JSON as text.

Writes run on the store's writer thread inside ``BEGIN IMMEDIATE`` … ``COMMIT``, which no other
writer can enter: what a write reads is its own until it commits, so no row is locked, and the
periodic rounds are always this writer's to run. Regular expressions run in RE2
(``ngsild_q_regexp``, registered on every connection by the store; it never raises).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from cityhub.store.sqlite.transaction import SqliteTransaction


class SqliteRows:
    """One SQLite connection (of the writer, or a reader) for the SQL written once."""

    seq = "rowid"
    for_update = ""
    key_share = ""
    bytewise = ""  # TEXT compares byte-wise (BINARY collation)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def member(self, column: str, name: str) -> str:
        return f"json_extract({column}, '$.{name}')"

    def pattern(self, pattern: str) -> str:
        return pattern

    def regexp(self, pattern: str, text: str, stored: bool = False) -> str:
        return f"ngsild_q_regexp({pattern}, {text})"

    def execute(self, sql: str, *args: Any) -> int:
        return self.conn.execute(sql, args).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return self.conn.execute(sql, args).fetchall()

    def transaction(self, tenant: str) -> SqliteTransaction:
        return SqliteTransaction(self.conn, tenant)

    def lock_exclusive_registrations(self, tenant: str) -> None:
        pass  # one writer

    def claim_periodic(self) -> bool:
        return True  # one writer


__all__ = ["SqliteRows"]
