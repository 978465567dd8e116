"""Several workers on one PostgreSQL database (issue 16: "no duplicate ... with several
workers"): the change stream's items and the offline timer, run by two hubs' alert services
at once, open one alert per episode."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityhub.alerts.alert_entity import ALERT_TYPE, iri
from cityhub.alerts.defaults import PREFIX
from cityhub.alerts.service import AlertService
from cityhub.ngsild.context import DEFAULT_VOCAB as V
from cityhub.ngsild.datetime import now_iso
from cityhub.services import ServiceRunner
from cityhub.settings import Settings
from cityhub.store.backend import Backend
from cityhub.store.base import EntityQuery, Transaction
from cityhub.store.open import open_backend

TENANT = "workers"


def _open(url: str) -> tuple[Backend, ServiceRunner, AlertService]:
    backend = open_backend(url, Settings(reader_threads=1))
    service = AlertService(interval=None)
    runner = ServiceRunner(
        backend.store, backend.temporal, backend.work, [service], poll_interval=0.05, batch=2
    )
    backend.add_tx_hook(runner.hook)
    return backend, runner, service


def _upsert(entity: dict[str, Any]) -> Any:
    def fn(tx: Transaction) -> None:
        before = tx.get(entity["id"])
        now = now_iso()
        fresh = {**entity, "createdAt": now, "modifiedAt": now}
        if before is None:
            tx.insert(fresh)
        else:
            tx.save({**fresh, "createdAt": before["createdAt"]}, before)

    return fn


def _aq(n: int, value: float, at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:w{n}",
        "type": [V + "AirQualityObserved"],
        "attrs": {V + "pm25": [{"type": "Property", "value": value, "observedAt": stamp}]},
    }


def _device(n: int, at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    value = {"@type": "DateTime", "@value": stamp}
    return {
        "id": f"urn:ngsi-ld:Device:w{n}",
        "type": [V + "Device"],
        "attrs": {V + "dateLastValueReported": [{"type": "Property", "value": value}]},
    }


async def _alerts(backend: Backend) -> list[dict[str, Any]]:
    result = await backend.store.query_entities(
        TENANT, EntityQuery(types=(ALERT_TYPE,), limit=1000)
    )
    return result.entities


def _rule(alert: dict[str, Any]) -> str:
    return str(alert["attrs"][iri("data")][0]["value"]["rule"])


def test_two_workers_raise_one_alert_per_episode(postgres_url: str) -> None:
    pytest.importorskip("asyncpg")

    async def main() -> None:
        hubs = [_open(postgres_url) for _ in range(2)]
        for backend, runner, _ in hubs:
            await backend.start()
            await runner.start()
        writer = hubs[0][0]
        try:
            t0 = datetime(2026, 12, 1, tzinfo=UTC)
            for step, value in enumerate([-5, -6, -7, -8]):  # one episode per source
                for n in range(10):
                    await writer.store.write(
                        TENANT, _upsert(_aq(n, value, t0 + timedelta(minutes=step)))
                    )
            for _, runner, _ in hubs:
                await runner.settle()
            found = [a for a in await _alerts(writer) if _rule(a) == PREFIX + "pm25-range"]
            sources = [a["attrs"][iri("alertSource")][0]["object"] for a in found]
            assert sorted(sources) == sorted(
                f"urn:ngsi-ld:AirQualityObserved:w{n}" for n in range(10)
            )
            done = [runner.stats["alerts"].done for _, runner, _ in hubs]
            assert sum(done) >= 10
        finally:
            for backend, runner, _ in hubs:
                await runner.stop()
                await backend.close()

    asyncio.run(main())


def test_two_offline_timers_at_once_raise_one_alert(postgres_url: str) -> None:
    pytest.importorskip("asyncpg")

    async def main() -> None:
        hubs = [_open(postgres_url) for _ in range(2)]
        for backend, runner, _ in hubs:
            await backend.start()
            await runner.start()
        writer = hubs[0][0]
        try:
            now = datetime.now(UTC)
            await writer.store.write(TENANT, _upsert(_device(1, now - timedelta(hours=4))))
            await writer.store.write(TENANT, _upsert(_device(2, now)))
            for _, runner, _ in hubs:
                await runner.settle()
            rule = next(
                r for r in hubs[0][2].rulebook.defaults.values() if r.kind == "deviceOffline"
            )
            overdue = await asyncio.gather(
                *(
                    service.check_offline(runner.contexts["alerts"], TENANT, rule)
                    for _, runner, service in hubs
                )
            )
            assert overdue == [1, 1]  # both saw the quiet device ...
            found = [a for a in await _alerts(writer) if _rule(a) == rule.id]
            assert len(found) == 1  # ... and one alert was raised
            assert found[0]["attrs"][iri("alertSource")][0]["object"] == "urn:ngsi-ld:Device:w1"
        finally:
            for backend, runner, _ in hubs:
                await runner.stop()
                await backend.close()

    asyncio.run(main())
