"""The outbox tx hook: notifications are written in the transaction of the change."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from cityhub.store.base import Transaction
from cityhub.store.sqlite.outbox import SqliteOutbox
from cityhub.store.sqlite.transaction import SqliteTransaction
from tests.notify._support import D, ent, new_store, sub


def outbox_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT tenant, subscription_id, payload FROM outbox ORDER BY id"
    ).fetchall()


def test_rows_are_written_in_the_same_transaction(tmp_path: Path) -> None:
    async def main() -> None:
        store, _box, subs = new_store(tmp_path)
        await store.start()
        try:
            await subs.create("", sub())

            def write(tx: Transaction) -> int:
                tx.insert(ent())
                assert isinstance(tx, SqliteTransaction)
                assert tx.conn.in_transaction
                return len(outbox_rows(tx.conn))

            assert await store.write("", write) == 1
            rows = await store.run_read(outbox_rows)
            assert len(rows) == 1
            tenant, sid, payload = rows[0]
            assert (tenant, sid) == ("", "urn:ngsi-ld:Subscription:1")
            body = orjson.loads(payload)
            assert body["type"] == "Notification"
            assert body["id"].startswith("urn:ngsi-ld:Notification:")
            assert body["subscriptionId"] == sid
            assert body["data"][0]["id"] == ent()["id"]
        finally:
            await store.close()

    asyncio.run(main())


def test_rows_vanish_on_rollback(tmp_path: Path) -> None:
    async def main() -> None:
        store, _box, subs = new_store(tmp_path)
        await store.start()
        try:
            await subs.create("", sub())

            def write(tx: Transaction) -> None:
                tx.insert(ent())
                assert isinstance(tx, SqliteTransaction)
                assert len(outbox_rows(tx.conn)) == 1
                raise RuntimeError("boom")

            with pytest.raises(RuntimeError):
                await store.write("", write)
            assert await store.run_read(outbox_rows) == []
            assert await store.get_entity("", ent()["id"]) is None
        finally:
            await store.close()

    asyncio.run(main())


def test_subscription_changes_invalidate_the_cache(tmp_path: Path) -> None:
    async def main() -> None:
        store, _box, subs = new_store(tmp_path)
        await store.start()
        try:
            await store.write("", lambda tx: tx.insert(ent("urn:a:1")))  # caches "no subs"
            await subs.create("", sub())
            await store.write("", lambda tx: tx.insert(ent("urn:a:2")))
            assert len(await store.run_read(outbox_rows)) == 1
            await subs.update("", "urn:ngsi-ld:Subscription:1", lambda d: {**d, "q": "pm25>99"})
            await store.write("", lambda tx: tx.insert(ent("urn:a:3")))
            assert len(await store.run_read(outbox_rows)) == 1
            await subs.delete("", "urn:ngsi-ld:Subscription:1")
            await store.write("", lambda tx: tx.insert(ent("urn:a:4", pm25=120)))
            assert len(await store.run_read(outbox_rows)) == 1
        finally:
            await store.close()

    asyncio.run(main())


def test_tenants_are_separate(tmp_path: Path) -> None:
    async def main() -> None:
        store, _box, subs = new_store(tmp_path)
        await store.start()
        try:
            await subs.create("city", sub())
            await store.write("", lambda tx: tx.insert(ent()))
            assert await store.run_read(outbox_rows) == []
            await store.write("city", lambda tx: tx.insert(ent()))
            assert [r[0] for r in await store.run_read(outbox_rows)] == ["city"]
        finally:
            await store.close()

    asyncio.run(main())


def test_throttling(tmp_path: Path) -> None:
    async def main() -> None:
        store, box, subs = new_store(tmp_path)
        now = [1000.0]
        box.clock = lambda: now[0]
        await store.start()
        try:
            await subs.create("", sub(throttling=10))
            await store.write("", lambda tx: tx.insert(ent("urn:a:1")))
            now[0] += 5
            await store.write("", lambda tx: tx.insert(ent("urn:a:2")))
            now[0] += 6
            await store.write("", lambda tx: tx.insert(ent("urn:a:3")))
            rows = await store.run_read(outbox_rows)
            ids = [orjson.loads(r[2])["data"][0]["id"] for r in rows]
            assert ids == ["urn:a:1", "urn:a:3"]
        finally:
            await store.close()

    asyncio.run(main())


def test_claim_lease_fail_and_ack(tmp_path: Path) -> None:
    async def main() -> None:
        store, _box, subs = new_store(tmp_path)
        await store.start()
        try:
            await subs.create("", sub(notificationTrigger=["entityDeleted"]))
            await store.write("", lambda tx: tx.insert(ent()))
            await store.write("", lambda tx: tx.delete(ent()["id"]))
            box = SqliteOutbox(store)
            rows = await box.claim(1e12, 10, 30)
            assert len(rows) == 1
            assert "deletedAt" in rows[0].payload["data"][0]
            assert D + "pm25" in rows[0].payload["data"][0]["attrs"]
            # leased: not claimed again until the lease ends
            assert await box.claim(1e12, 10, 30) == []
            rid = rows[0].id
            await box.fail(rid, "down", 5.0)
            assert await box.pending() == [(rid, rows[0].subscription_id, 1, "down")]
            again = await box.claim(6.0, 10, 30)
            assert [r.attempts for r in again] == [1]
            await box.ack(rid)
            assert await box.pending() == []
        finally:
            await store.close()

    asyncio.run(main())
