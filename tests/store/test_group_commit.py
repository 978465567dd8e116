"""Group commit in the SQLite writer: concurrent writes share one transaction, each in its own
savepoint, so one that fails leaves no trace and does not take the others with it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from cityhub.errors import AlreadyExists
from cityhub.store.base import Transaction
from cityhub.store.sqlite import store as sqlite_store
from cityhub.store.sqlite.store import SqliteStore


def entity(i: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Thing:{i}",
        "type": ["https://example.org/Thing"],
        "createdAt": "2026-11-22T00:00:00Z",
        "modifiedAt": "2026-11-22T00:00:00Z",
        "attrs": {"https://example.org/n": [{"type": "Property", "value": i}]},
    }


def test_concurrent_writes_commit_together_and_fail_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = sqlite_store._run_group

    def spy(conn: Any, group: list[Any]) -> None:
        sizes.append(len(group))
        real(conn, group)

    monkeypatch.setattr(sqlite_store, "_run_group", spy)

    def create(i: int) -> Any:
        def fn(tx: Transaction) -> int:
            tx.insert(entity(i))
            if i % 10 == 3:  # a second write in the same job, then a failure: all undone
                tx.insert(entity(i + 1000))
                tx.insert(entity(i))
            return i

        return fn

    async def main() -> list[Any]:
        store = SqliteStore(str(tmp_path / "g.db"))
        await store.start()
        try:
            results = await asyncio.gather(
                *(store.write("", create(i)) for i in range(200)), return_exceptions=True
            )
            stored = await store.run_read(
                lambda c: [r[0] for r in c.execute("SELECT id FROM entities ORDER BY rowid")]
            )
            return [results, stored]
        finally:
            await store.close()

    results, stored = asyncio.run(main())
    failed = [i for i, r in enumerate(results) if isinstance(r, AlreadyExists)]
    assert failed == [i for i in range(200) if i % 10 == 3]
    assert [r for r in results if not isinstance(r, Exception)] == [
        i for i in range(200) if i % 10 != 3
    ]
    assert stored == [f"urn:ngsi-ld:Thing:{i}" for i in range(200) if i % 10 != 3]
    assert max(sizes) > 1, "concurrent writes were grouped"
    assert sum(sizes) == 200


def test_a_tenant_row_rolled_back_with_its_savepoint_is_written_again(tmp_path: Path) -> None:
    """The store remembers committed tenant rows to skip rewriting them; a row undone by a
    savepoint (a batch entity that failed) must not be remembered."""

    async def main() -> list[tuple[str]]:
        store = SqliteStore(str(tmp_path / "tenants.db"))
        await store.start()
        try:

            def failing(tx: Any) -> None:
                with contextlib.suppress(RuntimeError), tx.savepoint():
                    tx.insert(
                        {
                            "id": "urn:a",
                            "type": ["T"],
                            "createdAt": "t",
                            "modifiedAt": "t",
                            "attrs": {},
                        }
                    )
                    raise RuntimeError("this entity fails after its insert")

            await store.write("city1", failing)
            assert not await store.tenant_exists("city1")
            await store.write(
                "city1",
                lambda tx: tx.insert(
                    {"id": "urn:b", "type": ["T"], "createdAt": "t", "modifiedAt": "t", "attrs": {}}
                ),
            )
            assert await store.tenant_exists("city1")
            return await store.run_read(lambda c: c.execute("SELECT name FROM tenants").fetchall())
        finally:
            await store.close()

    assert asyncio.run(main()) == [("city1",)]


def test_a_group_wakes_its_loop_once_with_every_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcomes of a group reach the waiting coroutines in one call on their loop (not one
    wake-up per write: each costs a write to the loop's self-pipe and hands it the GIL)."""
    sizes: list[int] = []
    settled: list[int] = []
    real_group, real_settle = sqlite_store._run_group, sqlite_store._settle

    def spy_group(conn: Any, group: list[Any]) -> None:
        sizes.append(len(group))
        real_group(conn, group)

    def spy_settle(replies: list[Any]) -> None:
        settled.append(len(replies))
        real_settle(replies)

    monkeypatch.setattr(sqlite_store, "_run_group", spy_group)
    monkeypatch.setattr(sqlite_store, "_settle", spy_settle)

    async def main() -> list[Any]:
        store = SqliteStore(str(tmp_path / "w.db"))
        await store.start()
        try:
            return await asyncio.gather(
                *(store.write("", lambda tx, i=i: tx.insert(entity(i)) or i) for i in range(100))
            )
        finally:
            await store.close()

    assert asyncio.run(main()) == list(range(100))
    assert settled == sizes
    assert max(settled) > 1


def test_a_write_given_up_before_it_runs_is_not_made(tmp_path: Path) -> None:
    async def main() -> list[str]:
        store = SqliteStore(str(tmp_path / "c.db"))
        await store.start()
        try:
            release = asyncio.get_running_loop().create_future()
            started = asyncio.Event()
            loop = asyncio.get_running_loop()

            def hold(conn: Any) -> None:  # keeps the writer busy until released
                loop.call_soon_threadsafe(started.set)
                asyncio.run_coroutine_threadsafe(asyncio.wait_for(release, 10), loop).result()

            held = asyncio.ensure_future(store.run_write(hold))
            await started.wait()
            given_up = asyncio.ensure_future(store.write("", lambda tx: tx.insert(entity(1))))
            await asyncio.sleep(0)
            given_up.cancel()
            release.set_result(None)
            await held
            await store.write("", lambda tx: tx.insert(entity(2)))
            with contextlib.suppress(asyncio.CancelledError):
                await given_up
            return await store.run_read(
                lambda c: [r[0] for r in c.execute("SELECT id FROM entities ORDER BY rowid")]
            )
        finally:
            await store.close()

    assert asyncio.run(main()) == ["urn:ngsi-ld:Thing:2"]
