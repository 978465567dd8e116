"""History written through the temporal API recomputes the CAI (issue 16, deliverable 1: "
recomputed when an observation arrives"): the temporal API changes no entity, so no write
hook sees it; the services hear of it after its commit (ServiceRunner.history_written). Both
backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.airquality.test_service import EID, observation, observe, readings, settle
from tests.conftest import make_client


@pytest.fixture
def aq(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(tmp_path, store_url, airquality_service=True) as c:
        yield c


def history(hours: range) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for hour in hours:
        for name, instance in readings(hour).items():
            out.setdefault(name, []).append(instance)
    return out


def test_history_added_through_the_temporal_api_recomputes_the_cai(aq: TestClient) -> None:
    observe(aq, 0)
    settle(aq)
    first = observation(aq)
    assert "airQualityIndex" not in first  # one hour of PM is too little
    assert first["airQualityIndexStatus"]["observedAt"] == "2026-11-01T00:00:00.000000Z"
    r = aq.post(f"/ngsi-ld/v1/temporal/entities/{EID}/attrs", json=history(range(1, 12)))
    assert r.status_code == 204, r.text
    settle(aq)
    body = observation(aq)
    # the hour of the latest reading written, with the whole window in the average
    assert body["airQualityIndex"]["observedAt"] == "2026-11-01T11:00:00.000000Z"
    assert body["airQualityIndex"]["value"] == 74  # PM2.5 25 steady, as in test_service
    # the entity's own readings are what the temporal API left them
    assert body["pm25"]["observedAt"] == "2026-11-01T00:30:00Z"


def test_a_new_observation_written_through_the_temporal_api_gets_its_cai(aq: TestClient) -> None:
    body = {"id": EID, "type": "AirQualityObserved", **history(range(12))}
    r = aq.post("/ngsi-ld/v1/temporal/entities", json=body)
    assert r.status_code == 201, r.text
    settle(aq)
    index = observation(aq)["airQualityIndex"]
    assert (index["value"], index["observedAt"]) == (74, "2026-11-01T11:00:00.000000Z")


def test_history_of_other_types_or_attributes_asks_for_nothing(aq: TestClient) -> None:
    body = {
        "id": "urn:ngsi-ld:WeatherObserved:1",
        "type": "WeatherObserved",
        "pm25": [{"type": "Property", "value": 3, "observedAt": "2026-11-01T00:00:00Z"}],
    }
    assert aq.post("/ngsi-ld/v1/temporal/entities", json=body).status_code == 201
    r = aq.post(
        f"/ngsi-ld/v1/temporal/entities/{body['id']}/attrs",
        json={
            "temperature": [{"type": "Property", "value": 3, "observedAt": "2026-11-01T00:00:00Z"}]
        },
    )
    assert r.status_code == 204, r.text
    health = aq.get("/health").json()["services"]["airquality"]
    assert health["pending"] == 0 and health["done"] == 0 and health["hookErrors"] == 0


def _series(client: TestClient, eid: str, attr: str) -> dict[str, object]:
    """observedAt -> value of an attribute's history (temporalValues), without the deletions
    (a live station's index is deleted while its CAI cannot be computed; the history records
    that at the time of the write, not of an hour)."""
    r = client.get(
        f"/ngsi-ld/v1/temporal/entities/{eid}",
        params={"attrs": attr, "options": "temporalValues", "lastN": "1000"},
    )
    assert r.status_code == 200, r.text
    values = r.json().get(attr, {}).get("values", [])
    return {at: value for value, at in values if value != "urn:ngsi-ld:null"}


def test_backfilled_hours_get_the_cai_each_hour_would_have_had_live(aq: TestClient) -> None:
    """A station's history written through the temporal API (the demo's backfill, a
    provider's late batch) gets the CAI of every one of its hours, not only of the latest:
    the same airQualityIndex, airQualityLevel and status history, hour by hour, as a station
    that reported the same readings live through the entity API. The entity keeps the
    latest hour's. (Before, only the latest hour had a CAI: the indicators' grade
    distribution had nothing for the backfilled hours.)"""
    live = "urn:ngsi-ld:AirQualityObserved:live"
    dirty = {"pm10": 160.0, "pm25": 80.0, "no2": 0.02, "o3": 0.02}
    hours = range(20)

    def values(hour: int) -> dict[str, float]:
        return (
            dirty
            if 6 <= hour < 10
            else {"pm10": 20.0 + hour, "pm25": 12.0 + hour, "no2": 0.02, "o3": 0.03}
        )

    for hour in hours:  # live: one write an hour, each computed before the next comes
        body = readings(hour, **values(hour))
        r = aq.post(
            "/ngsi-ld/v1/entityOperations/upsert",
            json=[{"id": live, "type": "AirQualityObserved", **body}],
        )
        assert r.status_code in (201, 204), r.text
        settle(aq)
    backfill: dict[str, list[dict[str, object]]] = {}
    for hour in hours:
        for name, instance in readings(hour, **values(hour)).items():
            backfill.setdefault(name, []).append(instance)
    # in two requests, oldest first (as the demo sends its backfill, a day at a time)
    early = {k: v[:10] for k, v in backfill.items()}
    late = {k: v[10:] for k, v in backfill.items()}
    r = aq.post(
        "/ngsi-ld/v1/temporal/entities", json={"id": EID, "type": "AirQualityObserved", **early}
    )
    assert r.status_code == 201, r.text
    settle(aq)
    r = aq.post(f"/ngsi-ld/v1/temporal/entities/{EID}/attrs", json=late)
    assert r.status_code == 204, r.text
    settle(aq)
    for attr in ("airQualityIndex", "airQualityLevel", "airQualityIndexStatus"):
        assert _series(aq, EID, attr) == _series(aq, live, attr), attr
    levels = _series(aq, EID, "airQualityLevel")
    assert len(_series(aq, EID, "airQualityIndexStatus")) == 20
    # PM needs 8 hours for its average: a grade from the 9th hour on, through the dirty hours
    assert len(levels) == 12 and set(levels.values()) == {"unhealthy", "moderate"}
    body = observation(aq)
    assert body["airQualityIndex"]["observedAt"] == "2026-11-01T19:00:00.000000Z"
    # run again (a second worker, a restart): nothing is added twice
    r = aq.post(f"/ngsi-ld/v1/temporal/entities/{EID}/attrs", json=early)
    assert r.status_code == 204, r.text
    settle(aq)
    assert len(_series(aq, EID, "airQualityIndexStatus")) == 20
    health = aq.get("/health").json()["services"]["airquality"]
    # every hour but the latest of each request (that one is the entity's own computation)
    assert health["counters"]["hoursBackfilled"] == 18
