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
