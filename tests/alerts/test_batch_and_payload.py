"""What the alert engine carries and reads per work item (issue 16, "Speed and reliability":
the services' cost in a batch upsert), with the episodes unchanged:

- an item, written in the client's transaction, carries only the watched attributes of the
  entity before and after, without the system times of instances that have ``observedAt``;
  the alert's text and place still come from the source's name and location (read in the
  evaluation's transaction when it acts);
- a claimed batch reads its sources' episode states in one query (``AlertService.prepare``),
  not one read per item, and the episodes come out as they do item by item."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cityhub.alerts import service as alert_service
from cityhub.alerts.defaults import PREFIX
from cityhub.alerts.service import AlertService
from cityhub.store.base import Change, EntityQuery, QueryResult
from tests.conftest import make_client

API = "/ngsi-ld/v1"
NS = "https://uri.etsi.org/ngsi-ld/default-context/"
CORE = "https://uri.etsi.org/ngsi-ld/"
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


class _NoRules:
    """A store with no AlertRule entities (the tenant keeps the defaults)."""

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        return QueryResult()


def _stored(pm25: float, hours: float) -> dict[str, Any]:
    stamps = {"createdAt": "2026-12-01T00:00:01Z", "modifiedAt": at(hours)}
    reading = {"type": "Property", "unitCode": "GQ", "observedAt": at(hours), **stamps}
    return {
        "id": "urn:ngsi-ld:AirQualityObserved:slim",
        "type": [NS + "AirQualityObserved"],
        "modifiedAt": at(hours),
        "attrs": {
            NS + "pm25": [{**reading, "value": pm25}],
            NS + "pm10": [{**reading, "value": 40}],
            NS + "temperature": [{**reading, "value": 3.5}],
            NS + "name": [{"type": "Property", "value": "Jeongja", **stamps}],
            CORE + "location": [
                {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127, 37]}}
            ],
            # no observedAt: its system times are what tells when it was written
            NS + "airQualityIndex": [{"type": "Property", "value": 120, **stamps}],
        },
    }


def _watched(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity as a rule reads it: the watched attributes, an instance with observedAt
    without its system times."""
    watched = {NS + "pm25", NS + "pm10", NS + "airQualityIndex"}
    return {
        "id": entity["id"],
        "type": entity["type"],
        "modifiedAt": entity["modifiedAt"],
        "attrs": {
            iri: [
                {k: v for k, v in i.items() if k not in ("createdAt", "modifiedAt")}
                if "observedAt" in i
                else i
                for i in instances
            ]
            for iri, instances in entity["attrs"].items()
            if iri in watched
        },
    }


def _request(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    service = AlertService(interval=None)
    asyncio.run(service.rulebook.refresh(_NoRules(), ""))  # type: ignore[arg-type]
    (request,) = service.requests(Change("entityUpdated", "", after["id"], before, after))
    return request


def test_an_item_carries_the_watched_readings_only() -> None:
    before, after = _stored(40, 0), _stored(80, 1)
    before["attrs"][NS + "pm10"] = after["attrs"][NS + "pm10"]  # left as it was
    request = _request(before, after)
    slim = request.payload["after"]
    assert slim["id"] == after["id"] and slim["type"] == after["type"]
    # pm25 and pm10 (the PM and Asian dust rules), the CAI: no name, place or temperature
    assert set(slim["attrs"]) == {NS + "pm25", NS + "pm10", NS + "airQualityIndex"}
    assert slim["attrs"][NS + "pm25"] == [
        {"type": "Property", "unitCode": "GQ", "observedAt": at(1), "value": 80}
    ]
    (cai,) = slim["attrs"][NS + "airQualityIndex"]
    assert cai["modifiedAt"] == at(1)  # kept: it has no observedAt
    # of before, only what differs: pm10 is carried once
    diff = request.payload["beforeDiff"]
    assert "before" not in request.payload
    assert diff["modifiedAt"] == at(0)
    assert set(diff["attrs"]) == {NS + "pm25", NS + "airQualityIndex"}
    assert diff["attrs"][NS + "pm25"] == [
        {"type": "Property", "unitCode": "GQ", "observedAt": at(0), "value": 40}
    ]
    # what the engine reads back is before as a rule sees it
    assert alert_service._before(request.payload, slim) == _watched(before)
    # the entity's own attributes are not touched
    assert "createdAt" in after["attrs"][NS + "pm25"][0]


def test_the_before_an_item_carries_is_the_before_a_rule_reads() -> None:
    """Random changes of a station (readings new or the same, re-stamped, added, dropped,
    with a dataset): what the engine reads back of before is before's watched attributes,
    none missing, none changed, the order of the attributes aside."""
    rng = random.Random(16)
    names = ["pm25", "pm10", "airQualityIndex", "temperature", "name"]
    kinds: Counter[str] = Counter()
    for _ in range(300):
        entities = []
        for _side in range(2):
            entity = _stored(rng.choice([10, 40, 80]), rng.choice([0, 1]))
            for name in names:
                if rng.random() < 0.2:
                    entity["attrs"].pop(NS + name, None)
                elif rng.random() < 0.2:
                    entity["attrs"][NS + name] = [
                        {"type": "Property", "value": rng.random() < 0.5, "datasetId": "urn:x"}
                    ]
            entities.append(entity)
        before, after = entities
        if rng.random() < 0.3:  # some attributes left exactly as they were
            for name in names:
                if NS + name in before["attrs"] and rng.random() < 0.5:
                    after["attrs"][NS + name] = before["attrs"][NS + name]
        request = _request(before, after)
        back = alert_service._before(request.payload, request.payload["after"])
        assert back is not None
        assert back == _watched(before), (before, after, request.payload)
        diff = request.payload["beforeDiff"]["attrs"]
        kinds.update(
            "dropped" if iri not in after["attrs"] else "added" if v is None else "differs"
            for iri, v in diff.items()
        )
        kinds["carried once"] += len(set(_watched(before)["attrs"]) - set(diff))
    assert min(kinds.values()) > 20, kinds  # every case, many times
    # a created entity has no before
    created = _request(None, _stored(40, 0))
    assert created.payload["beforeDiff"] is None
    assert alert_service._before(created.payload, created.payload["after"]) is None


def test_an_item_queued_before_the_diff_is_read_as_it_was() -> None:
    """An item a hub of the last release queued (``before`` whole) after an upgrade."""
    before, after = _watched(_stored(40, 0)), _watched(_stored(80, 1))
    assert alert_service._before({"before": before, "after": after}, after) == before
    assert alert_service._before({"before": None, "after": after}, after) is None


def test_a_batch_reads_its_sources_states_once(tmp_path: Path, store_url: str) -> None:
    """Ten stations over 75 µg/m³ for three hourly readings (two hours), their items claimed
    together: each opens its PM2.5 advisory, named after the station and placed where it is,
    and no item read its state by itself."""
    stations = [f"urn:ngsi-ld:AirQualityObserved:batch:{n}" for n in range(10)]

    def body(eid: str, hours: float) -> dict[str, Any]:
        reading = {"type": "Property", "value": 90, "unitCode": "GQ", "observedAt": at(hours)}
        return {
            "id": eid,
            "type": "AirQualityObserved",
            "name": {"type": "Property", "value": "station " + eid[-1]},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
            "pm25": reading,
        }

    with make_client(tmp_path, store_url) as client:
        runner = client.app.state.services  # type: ignore[attr-defined]
        store = runner.store
        single: list[str] = []
        get_entity = store.get_entity

        async def counted(tenant: str, entity_id: str) -> Any:
            if entity_id.startswith("urn:ngsi-ld:AlertState:"):
                single.append(entity_id)
            return await get_entity(tenant, entity_id)

        store.get_entity = counted
        for hours in (0, 1, 2):
            client.portal.call(runner.stop)  # type: ignore[union-attr]
            r = client.post(
                API + "/entityOperations/upsert", json=[body(e, hours) for e in stations]
            )
            assert r.status_code in (201, 204), r.text
            client.portal.call(runner.start)  # type: ignore[union-attr]
            client.portal.call(runner.settle)  # type: ignore[union-attr]
        assert single == []
        r = client.get(
            API + "/entities", params={"type": "Alert", "options": "keyValues", "limit": "100"}
        )
        assert r.status_code == 200, r.text
        opened = {
            a["alertSource"]: a for a in r.json() if a["data"]["rule"] == PREFIX + "pm25-advisory"
        }
        assert set(opened) == set(stations)
        for eid, alert in opened.items():
            assert alert["location"] == {"type": "Point", "coordinates": [1, 2]}
            full = client.get(API + f"/entities/{alert['id']}", params={"lang": "en"}).json()
            assert "station " + eid[-1] in full["description"]["value"]
