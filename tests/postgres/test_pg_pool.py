"""The PostgreSQL store's pool lends connections without asyncpg's reset statement (one round
trip less per read, cityhub/store/postgres/store.py ``_reset``); a connection lent for session
state (the retention pruner's session advisory lock) is still reset before anyone else gets it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from cityhub.store.postgres.store import PostgresStore


async def _advisory_locks(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
            )
        )
    finally:
        await conn.close()


def test_a_session_lock_is_gone_when_the_connection_goes_back(postgres_url: str) -> None:
    async def run() -> tuple[int, int, int]:
        store = PostgresStore(postgres_url, pool_size=2)
        await store.start()
        try:

            async def lock(conn: Any) -> int:
                await conn.execute("SELECT pg_advisory_lock(4242)")
                return await _advisory_locks(postgres_url)

            held = await store.acquire(lock, session=True)
            after = await _advisory_locks(postgres_url)
            # the same without session=True: the pool no longer resets, the lock stays (which
            # is why the store's statements keep no session state)
            kept_by_plain = await store.acquire(lock)
            return held, after, kept_by_plain
        finally:
            await store.close()

    held, after, kept = asyncio.run(run())
    assert held == 1
    assert after == 0
    assert kept == 1
