"""Late readings (issue 16 deliverable 3, "recomputed when an observation arrives, including late
or out-of-order ones"), on both backends: a reading that arrives through the entity API or the
temporal API for an hour whose indicators are computed already computes that hour again, and
its day (a finished day's daily KPIs, or the running day's tallies), by replacing the hour's
KPI instance in the history (NGSI-LD clause 5.6.12: an instance added at the observedAt of one
the attribute has replaces it), never adding a second one; a reading the computation had read
already costs nothing; an hour beyond the lookback is left as it is and counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_client
from tests.indicators.helpers import point
from tests.indicators.test_indicators_api import (
    API,
    air,
    city,
    get,
    kpi,
    settle,
    upsert,
)

A, C = "urn:ngsi-ld:AirQualityObserved:a", "urn:ngsi-ld:AirQualityObserved:c"


@pytest.fixture
def hub(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    # a lookback long enough to reach the first hours of the day from its end
    with make_client(
        tmp_path, store_url, indicators_service=True, indicators_lookback_hours=24
    ) as c:
        city(c)
        yield c


def series(client: TestClient, eid: str) -> list[tuple[Any, str]]:
    r = client.get(
        f"{API}/temporal/entities/{eid}",
        params={"attrs": "kpiValue", "options": "temporalValues"},
    )
    assert r.status_code == 200, r.text
    return [(v[0], v[1]) for v in r.json()["kpiValue"]["values"]]


def counters(client: TestClient) -> dict[str, int]:
    found: dict[str, int] = client.get("/health").json()["services"]["indicators"]["counters"]
    return found


def test_a_late_reading_through_the_entity_api_recomputes_its_hour_and_its_day(
    hub: TestClient,
) -> None:
    hourly, daily = kpi("pm25ExposureKorea", "hourly", "c"), kpi("pm25ExposureKorea", "daily", "c")
    assert [v for v, _ in series(hub, hourly)] == [0.0, 0.0, 0.0, 0.0]  # hours 0 to 3
    assert get(hub, daily)["kpiValue"]["value"] == 0.0
    # c's hour 2 was 12; a reading of 100 at 02:30 arrives after the day was computed
    upsert(hub, [air(C, point("c"), 100, "2026-11-01T02:30:00Z")])
    settle(hub)
    # the hour's mean is 56, "unhealthy": its instance is replaced, not added; the entity's
    # value stays hour 3's
    assert series(hub, hourly) == [
        (0.0, "2026-11-01T01:00:00.000000Z"),
        (0.0, "2026-11-01T02:00:00.000000Z"),
        (1.0, "2026-11-01T03:00:00.000000Z"),
        (0.0, "2026-11-01T04:00:00.000000Z"),
    ]
    now = get(hub, hourly)["kpiValue"]
    assert now["value"] == 0.0 and now["observedAt"] == "2026-11-01T04:00:00.000000Z"
    # the finished day is computed again from its hours: one hour above for c
    day = get(hub, daily)["kpiValue"]
    assert day["value"] == 1.0 and day["hoursIncluded"]["value"] == 4
    assert [v for v, _ in series(hub, daily)] == [1.0]
    # the east gu (c 2000 residents with 1 hour, d 4000 from c's sensor: 1 hour)
    east = get(hub, "urn:ngsi-ld:KeyPerformanceIndicator:pm25ExposureKorea:daily:test:east")
    assert east["kpiValue"]["value"] == 1.0
    assert counters(hub)["lateHoursRecomputed"] == 1


def test_a_late_reading_through_the_temporal_api_replaces_an_older_hour(hub: TestClient) -> None:
    hourly, daily = kpi("pm25ExposureKorea", "hourly", "a"), kpi("pm25ExposureKorea", "daily", "a")
    assert [v for v, _ in series(hub, hourly)] == [1.0, 0.0, 1.0, 0.0]
    assert get(hub, daily)["kpiValue"]["value"] == 2.0
    r = hub.post(
        f"{API}/temporal/entities/{A}/attrs",
        json={"pm25": [{"type": "Property", "value": 80, "observedAt": "2026-11-01T01:40:00Z"}]},
    )
    assert r.status_code == 204, r.text
    settle(hub)
    # hour 1 of a: (10 + 80) / 2 = 45; the entity's value stays hour 3's
    assert [v for v, _ in series(hub, hourly)] == [1.0, 1.0, 1.0, 0.0]
    current = get(hub, hourly)
    assert current["kpiValue"]["observedAt"] == "2026-11-01T04:00:00.000000Z"
    assert get(hub, daily)["kpiValue"]["value"] == 3.0
    # posting the same instance again changes nothing: the hour's digest is what was read
    before = counters(hub)["lateHoursRecomputed"]
    r = hub.post(
        f"{API}/temporal/entities/{A}/attrs",
        json={"pm25": [{"type": "Property", "value": 80, "observedAt": "2026-11-01T01:40:00Z"}]},
    )
    assert r.status_code == 204, r.text
    settle(hub)
    assert counters(hub)["lateHoursRecomputed"] == before
    assert len(series(hub, hourly)) == 4 and len(series(hub, daily)) == 1


def test_a_late_reading_of_the_running_day_changes_the_daily_written_at_its_end(
    hub: TestClient,
) -> None:
    # 16:10 closes hour 15 (a's 11 at 15:20): under the limit
    upsert(hub, [air(A, point("a"), 11, "2026-11-01T16:10:00Z")])
    settle(hub)
    hourly = kpi("pm25ExposureKorea", "hourly", "a")
    assert get(hub, hourly)["kpiValue"]["value"] == 0.0
    # a late 90 at 15:50 (the entity closed that hour already): the mean is 50.5
    upsert(hub, [air(A, point("a"), 90, "2026-11-01T15:50:00Z")])
    settle(hub)
    assert get(hub, hourly)["kpiValue"]["value"] == 1.0
    assert [v for v, _ in series(hub, hourly)][-1] == 1.0
    assert len(series(hub, hourly)) == 5  # hours 0 to 3 and 15
    # the day ends (Seoul's midnight, 15:00Z): its daily counts hour 15 as recomputed
    upsert(hub, [air(A, point("a"), 11, "2026-11-02T15:20:00Z")])
    settle(hub)
    daily = get(hub, kpi("pm25ExposureKorea", "daily", "a"))["kpiValue"]
    assert daily["observedAt"] == "2026-11-02T15:00:00.000000Z"
    assert daily["value"] == 1.0


def test_an_hour_beyond_the_lookback_is_left_and_counted(tmp_path: Path, store_url: str) -> None:
    with make_client(
        tmp_path, store_url, indicators_service=True, indicators_lookback_hours=4
    ) as client:
        city(client)
        hourly = kpi("pm25ExposureKorea", "hourly", "c")
        upsert(client, [air(C, point("c"), 100, "2026-11-01T02:30:00Z")])
        settle(client)
        assert [v for v, _ in series(client, hourly)] == [0.0, 0.0, 0.0]
        assert counters(client)["lateReadingsTooOld"] == 1
        assert "lateHoursRecomputed" not in counters(client)


def test_a_cai_written_only_to_the_history_is_counted_before_or_after_its_hour(
    hub: TestClient,
) -> None:
    """The air-quality service gives a backfill's hours their CAI in the history only (no
    live change): the grade distribution counts it whether it comes before the hour is
    computed or after."""
    hourly = kpi("caiGradeDistribution", "hourly", "a")
    daily = kpi("caiGradeDistribution", "daily", "a")
    assert get(hub, daily)["kpiValue"]["value"] == "noData"

    def grades(*pairs: tuple[str, str]) -> None:
        body = {
            "airQualityLevel": [
                {"type": "Property", "value": grade, "observedAt": f"2026-11-01T{hhmm}:00Z"}
                for grade, hhmm in pairs
            ]
        }
        r = hub.post(f"{API}/temporal/entities/{A}/attrs", json=body)
        assert r.status_code == 204, r.text
        settle(hub)

    # after: hours 0 to 2 were computed without a grade
    grades(("unhealthy", "00:00"), ("good", "01:00"), ("unhealthy", "02:00"))
    day = get(hub, daily)["kpiValue"]
    assert day["value"] == {"good": 0.333333, "unhealthy": 0.666667}
    assert day["counts"]["value"] == {"good": 1.0, "unhealthy": 2.0}
    assert [v for v, _ in series(hub, hourly)][:3] == [
        {"unhealthy": 1.0},
        {"good": 1.0},
        {"unhealthy": 1.0},
    ]
    # before: hour 15's grade is in the history when a reading closes the hour
    grades(("moderate", "15:00"))
    upsert(hub, [air(A, point("a"), 11, "2026-11-01T16:10:00Z")])
    settle(hub)
    assert get(hub, hourly)["kpiValue"]["value"] == {"moderate": 1.0}
