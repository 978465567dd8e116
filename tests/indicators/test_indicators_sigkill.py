"""Crash safety of the district indicators (issue 16 "Speed and reliability"): a real
``cityhub serve`` killed with SIGKILL right after the writes that close the hours, and again in
the middle of computing them, ends with every hour counted exactly once: the work item is in the
store, and each hour's KPI entities commit with ``lastComputedHour`` in one transaction."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.hostile.hub_process import HubProcess
from tests.indicators.helpers import area_entities, point

API = "/ngsi-ld/v1"
DAILY = "urn:ngsi-ld:KeyPerformanceIndicator:pm25ExposureKorea:daily:test:a"
HOURLY = "urn:ngsi-ld:KeyPerformanceIndicator:pm25ExposureKorea:hourly:test:a"
AIR = "urn:ngsi-ld:AirQualityObserved:a"


def _upsert(hub: HubProcess, entities: list[dict[str, Any]]) -> None:
    r = httpx.post(hub.base_url + API + "/entityOperations/upsert", json=entities, timeout=30)
    assert r.status_code in (201, 204), r.text


def _reading(value: float, hhmm: str) -> dict[str, Any]:
    return {
        "id": AIR,
        "type": "AirQualityObserved",
        "location": point("a"),
        "pm25": {"type": "Property", "value": value, "observedAt": f"2026-11-01T{hhmm}:00Z"},
    }


def _hours(hub: HubProcess, eid: str = DAILY) -> int | None:
    r = httpx.get(hub.base_url + API + "/entities/" + eid, timeout=30)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return int(r.json()["kpiValue"]["hoursIncluded"]["value"])


def _wait(hub: HubProcess, done: Any, eid: str = DAILY) -> int | None:
    deadline = time.monotonic() + 120  # a dead PostgreSQL worker's lease: 60 s
    while True:
        found = _hours(hub, eid)
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_sigkill_while_hours_are_computed_counts_each_hour_once(
    tmp_path: Path, store_url: str
) -> None:
    hub = HubProcess(store_url, tmp_path)
    hub.start()
    try:
        _upsert(hub, area_entities())
        # the last closes the day in Seoul (15:00 UTC): the daily KPIs are written
        for value, hhmm in [(40, "00:10"), (10, "01:10"), (40, "02:10"), (11, "15:20")]:
            _upsert(hub, [_reading(value, hhmm)])
        hub.kill()  # at once: the closing reading's work may not have started
        hub.start()
        _wait(hub, lambda n: n is not None, HOURLY)
        hub.kill()  # in the middle of the catch-up (its first hour with data is done)
        hub.start()
        assert _wait(hub, lambda n: n == 3) == 3
        daily = httpx.get(hub.base_url + API + "/entities/" + DAILY, timeout=30).json()
        assert daily["kpiValue"]["value"] == 2.0  # hours 0 and 2, each once
        r = httpx.get(
            hub.base_url + API + "/temporal/entities/" + HOURLY,
            params={"attrs": "kpiValue", "options": "temporalValues"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert [v[1] for v in r.json()["kpiValue"]["values"]] == [
            "2026-11-01T01:00:00.000000Z",
            "2026-11-01T02:00:00.000000Z",
            "2026-11-01T03:00:00.000000Z",
        ]
    finally:
        hub.stop()
