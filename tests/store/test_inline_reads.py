"""reader_threads = 0: reads run on the event loop's own connection (no thread hop)."""

from __future__ import annotations

import threading
from pathlib import Path

from cityhub.store.sqlite.store import SqliteStore
from tests.conftest import entity, make_client


def test_the_api_works_with_reads_on_the_event_loop(tmp_path: Path) -> None:
    with make_client(tmp_path, reader_threads=0) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        assert isinstance(store, SqliteStore) and store._readers is None
        assert client.post("/ngsi-ld/v1/entities", json=entity()).status_code == 201
        r = client.get("/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm25>10")
        assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:AirQualityObserved:1"]
        near = "georel=near;maxDistance==10&geometry=Point&coordinates=[127.1,37.4]"
        r = client.get(f"/ngsi-ld/v1/entities?type=AirQualityObserved&{near}")
        assert len(r.json()) == 1


def test_inline_reads_run_on_the_calling_thread(tmp_path: Path) -> None:
    import asyncio

    async def main() -> tuple[str, str]:
        store = SqliteStore(str(tmp_path / "inline.db"), reader_threads=0)
        await store.start()
        try:
            name = await store.run_read(lambda conn: threading.current_thread().name)
            return name, threading.current_thread().name
        finally:
            await store.close()

    ran_on, caller = asyncio.run(main())
    assert ran_on == caller
