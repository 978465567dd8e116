"""A late batch's CAI reaches the indicators (issue 16 deliverables 1 and 3: "recomputed when an
observation arrives, including late or out-of-order ones"), on both backends: a provider's
late readings posted through the temporal API (NGSI-LD clause 5.6.12) to a running hub get
their CAI from the air-quality service, added to the history only; when those grades come
after the indicators computed the hours (held back here, so the order is certain), the
indicators hear of them and compute the hours again, so the hour's ``caiGradeDistribution``
KPI counts them."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_client
from tests.indicators.helpers import area_entities, point
from tests.indicators.test_indicators_api import API, get, kpi, settle, upsert

A = "urn:ngsi-ld:AirQualityObserved:late:a"
UNITS = {"pm10": "GQ", "pm25": "GQ", "no2": "59", "o3": "59"}


CLEAN = {"pm10": 20.0, "pm25": 25.0, "no2": 0.02, "o3": 0.02}


def at(hour: int) -> dict[str, Any]:
    """The station's readings of ``hour`` (at half past)."""
    when = f"2026-11-01T{hour:02d}:30:00Z"
    return {
        name: {"type": "Property", "value": value, "unitCode": UNITS[name], "observedAt": when}
        for name, value in CLEAN.items()
    }


@pytest.fixture
def hub(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(
        tmp_path,
        store_url,
        airquality_service=True,
        indicators_service=True,
        indicators_lookback_hours=24,
    ) as c:
        upsert(c, area_entities())
        yield c


def grade_series(client: TestClient, eid: str) -> dict[str, Any]:
    """observedAt -> kpiValue of an hourly KPI's history."""
    r = client.get(
        f"{API}/temporal/entities/{eid}",
        params={"attrs": "kpiValue", "options": "temporalValues"},
    )
    assert r.status_code == 200, r.text
    return {at: value for value, at in r.json()["kpiValue"]["values"]}


def test_grades_computed_after_the_indicators_computed_their_hours_are_counted(
    hub: TestClient,
) -> None:
    app: Any = hub.app
    runner = app.state.services
    assert hub.portal is not None
    # the station reports live at 00:30, then at 13:30 (hours 0 to 12 are computed: hour 0
    # without a grade, one hour of PM being too little for a CAI; the others have no data)
    for hour in (0, 13):
        upsert(hub, [{"id": A, "type": "AirQualityObserved", "location": point("a"), **at(hour)}])
        settle(hub)
    hourly = kpi("caiGradeDistribution", "hourly", "a")
    assert grade_series(hub, hourly) == {"2026-11-01T01:00:00.000000Z": "noData"}
    # the provider's late batch for hours 1 to 11; the air-quality service is held until the
    # indicators computed those hours from it (without a grade)
    gate = asyncio.Event()
    service = next(s for s in runner.services if s.name == "airquality")
    process = service.process

    async def held(item: Any, ctx: Any) -> None:
        await gate.wait()
        await process(item, ctx)

    service.process = held
    batch: dict[str, list[dict[str, Any]]] = {}
    for hour in range(1, 12):
        for name, instance in at(hour).items():
            batch.setdefault(name, []).append(instance)
    r = hub.post(f"{API}/temporal/entities/{A}/attrs", json=batch)
    assert r.status_code == 204, r.text
    hub.portal.call(functools.partial(runner.settle, 120, services=["indicators"]))
    assert grade_series(hub, hourly)["2026-11-01T11:00:00.000000Z"] == "noData"
    # now the CAI (PM2.5 25 steady: 74, moderate), added to the history ...
    hub.portal.call(gate.set)
    settle(hub)
    r = hub.get(
        f"{API}/temporal/entities/{A}",
        params={"attrs": "airQualityLevel", "options": "temporalValues"},
    )
    assert r.status_code == 200, r.text
    levels = {when: value for value, when in r.json()["airQualityLevel"]["values"]}
    # hours 8 to 11 (before, too few hours of PM for the predicted average), and the live hour
    # 13 computed again with the batch in its window
    assert levels == {f"2026-11-01T{h:02d}:00:00.000000Z": "moderate" for h in (8, 9, 10, 11, 13)}
    # ... and the indicators computed those hours again with them (a KPI instance is timed by
    # the end of its hour; the recomputed one replaces the first)
    after = grade_series(hub, hourly)
    assert [after[f"2026-11-01T{h:02d}:00:00.000000Z"] for h in range(8, 13)] == [
        "noData",
        {"moderate": 1.0},
        {"moderate": 1.0},
        {"moderate": 1.0},
        {"moderate": 1.0},
    ]
    health = hub.get("/health").json()["services"]
    assert health["indicators"]["hookErrors"] == 0 and health["airquality"]["givenUp"] == 0
    # the day's daily KPI (Seoul's day ends 15:00Z), written when a reading closes it
    upsert(hub, [{"id": A, "type": "AirQualityObserved", "location": point("a"), **at(15)}])
    settle(hub)
    daily = get(hub, kpi("caiGradeDistribution", "daily", "a"))["kpiValue"]
    assert daily["counts"]["value"] == {"moderate": 5.0}
