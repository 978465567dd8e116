"""WAL checkpoints run on a background thread, not in the commit that crosses a mark
(store/sqlite/store.py; docs/performance.md change 26), and the WAL stays bounded."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from cityhub.store.sqlite.store import WAL_AUTOCHECKPOINT_PAGES, SqliteStore


def entity(i: int, text: str = "") -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Thing:{i}",
        "type": ["https://example.org/Thing"],
        "createdAt": "2026-11-22T00:00:00Z",
        "modifiedAt": "2026-11-22T00:00:00Z",
        "attrs": {"https://example.org/n": [{"type": "Property", "value": text or i}]},
    }


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_the_checkpointer_copies_the_wal_while_the_writer_does_not(tmp_path: Path) -> None:
    db = tmp_path / "c.db"

    async def main() -> None:
        store = SqliteStore(str(db))
        await store.start()
        try:
            assert "cityhub-sqlite-checkpointer" in _threads()
            pages = await store.run_write(
                lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            )
            assert pages == WAL_AUTOCHECKPOINT_PAGES  # the writer's own mark is far away
            before = os.path.getsize(db)
            for i in range(300):  # ~300 commits: well under the writer's mark
                await store.write("", lambda tx, i=i: tx.insert(entity(i, "x" * 2000)))
            for _ in range(100):  # the background thread copies pages into the file
                if os.path.getsize(db) > before + 300 * 2000:
                    break
                await asyncio.sleep(0.02)
            assert os.path.getsize(db) > before + 300 * 2000
            got = await store.get_entity("", "urn:ngsi-ld:Thing:299")
            assert got is not None and got["id"] == "urn:ngsi-ld:Thing:299"
        finally:
            await store.close()
        assert "cityhub-sqlite-checkpointer" not in _threads()

    asyncio.run(main())
    conn = sqlite3.connect(db)  # everything committed is there after close
    assert conn.execute("SELECT count(*) FROM entities").fetchone()[0] == 300
    conn.close()


def test_the_wal_stays_bounded_under_continuous_writes(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    mark = 64  # pages

    async def main() -> None:
        store = SqliteStore(str(db), wal_autocheckpoint=mark)
        await store.start()
        try:
            writes = [
                store.write("", lambda tx, i=i: tx.insert(entity(i, "y" * 3000)))
                for i in range(1500)  # ~5 MB of rows, queued back to back
            ]
            await asyncio.gather(*writes)
            wal = os.path.getsize(str(db) + "-wal")
            # measured: 0.25 MB; with no writer mark (background checkpoints only, which
            # never catch up with back-to-back writes, so the WAL never restarts) 8 MB
            assert wal < 8 * mark * 4096, wal
        finally:
            await store.close()

    asyncio.run(main())


def test_a_memory_store_has_no_checkpointer() -> None:
    async def main() -> None:
        store = SqliteStore(":memory:")
        await store.start()
        try:
            assert store._checkpointer is None
            await store.write("", lambda tx: tx.insert(entity(1)))
        finally:
            await store.close()

    asyncio.run(main())
