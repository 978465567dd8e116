"""The IoT agent's provisioning in SQLite: the statements written once
(``cityhub.store.iot.Iot``), with a lookup of one row by its key run on the calling thread
(``SqliteStore.run_read(short=True)``: the measure path looks up a group and a device per
measure, and a hop to a reader thread costs more than the read)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from cityhub.store.database import SqlConnection
from cityhub.store.iot import Iot
from cityhub.store.sqlite.rows import SqliteRows
from cityhub.store.sqlite.store import SqliteStore

T = TypeVar("T")


class SqliteIotStore(Iot[sqlite3.Connection]):
    """Config groups, devices and payload error counts of one SQLite store."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store, SqliteRows)
        self.store = store

    async def _lookup(self, fn: Callable[[SqlConnection], T]) -> T:
        return await self.store.run_read(lambda conn: fn(SqliteRows(conn)), short=True)


__all__ = ["SqliteIotStore"]
