"""What a write asks of the air-quality service, decided inside the write's transaction
(``AirQualityService.requests``, issue 16 deliverable 1: "recomputed when an observation
arrives"): a change of a pollutant's reading asks for one computation; a write that leaves the
pollutants' readings as they were (other attributes, the service's own write-back, the same
readings sent again), another type, or a deletion asks for none. Pure: no store."""

from __future__ import annotations

import copy
from typing import Any

from cityhub.airquality.service import AirQualityService
from cityhub.store.base import Change

NS = "https://uri.etsi.org/ngsi-ld/default-context/"
SDM = "https://smartdatamodels.org/dataModel.Environment/"
EID = "urn:ngsi-ld:AirQualityObserved:req:1"


def observation(pm25: Any, at: str = "2026-11-01T01:30:00Z", ns: str = NS) -> dict[str, Any]:
    stamp = {"createdAt": "2026-11-01T01:31:00Z", "modifiedAt": "2026-11-01T01:31:00Z"}
    return {
        "id": EID,
        "type": [ns + "AirQualityObserved"],
        "attrs": {
            ns + "pm25": [
                {"type": "Property", "value": pm25, "unitCode": "GQ", "observedAt": at, **stamp}
            ],
            ns + "pm10": [
                {"type": "Property", "value": 20, "unitCode": "GQ", "observedAt": at, **stamp}
            ],
            ns + "name": [{"type": "Property", "value": "station", **stamp}],
        },
    }


def asks(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str | None]:
    service = AirQualityService()
    kind = "entityCreated" if before is None else "entityUpdated"
    return [r.key for r in service.requests(Change(kind, "", EID, before, after))]


def test_a_changed_reading_asks_for_one_computation() -> None:
    assert asks(None, observation(25)) == [EID]
    assert asks(observation(25), observation(26)) == [EID]
    assert asks(observation(25), observation(25, "2026-11-01T02:30:00Z")) == [EID]
    assert asks(observation(25, ns=SDM), observation(26, ns=SDM)) == [EID]  # any @context
    # a reading gone is a change too
    gone = observation(25)
    del gone["attrs"][NS + "pm10"]
    assert asks(observation(25), gone) == [EID]


def test_a_write_that_leaves_the_readings_asks_for_nothing() -> None:
    before = observation(25)
    renamed = copy.deepcopy(before)
    renamed["attrs"][NS + "name"][0]["value"] = "another name"
    assert asks(before, renamed) == []
    # the same readings sent again (a replace stamps them anew): the CAI reads the same
    again = observation(25)
    for instances in again["attrs"].values():
        instances[0]["modifiedAt"] = instances[0]["createdAt"] = "2026-11-01T01:45:00Z"
    assert asks(before, again) == []
    # the service's own write-back adds derived attributes only
    written = copy.deepcopy(before)
    written["attrs"][NS + "airQualityIndex"] = [{"type": "Property", "value": 74}]
    assert asks(before, written) == []


def test_other_types_and_deletions_ask_for_nothing() -> None:
    other = observation(25)
    other["type"] = [NS + "WeatherObserved"]
    assert asks(None, other) == []
    assert asks(observation(25), None) == []


def test_bad_readings_are_counted_once_per_write() -> None:
    service = AirQualityService()
    service.requests(Change("entityUpdated", "", EID, observation(25), observation(-5)))
    service.requests(Change("entityUpdated", "", EID, observation(-5), observation(-5)))
    service.requests(Change("entityUpdated", "", EID, observation(-5), observation("text")))
    assert service.stats.counters == {"badData": 2}
