"""Crash safety of the alert engine (issue 16 "Speed and reliability"): a real ``cityhub serve``
killed with SIGKILL right after the writes that open, hold and close an episode, and started
again on the same store, ends with exactly one Alert for the episode, opened and closed: the
work items and the episode state are in the store, and the alert's id is the episode's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from cityhub.alerts.defaults import PREFIX
from tests.hostile.hub_process import HubProcess

API = "/ngsi-ld/v1"
AQ = "urn:ngsi-ld:AirQualityObserved:crash"


def _write(hub: HubProcess, hour: int, pm25: float) -> None:
    body = {
        "id": AQ,
        "type": "AirQualityObserved",
        "pm25": {
            "type": "Property",
            "value": pm25,
            "observedAt": f"2026-12-01T{hour:02d}:00:00Z",
        },
    }
    r = httpx.post(hub.base_url + API + "/entityOperations/upsert", json=[body], timeout=30)
    assert r.status_code in (201, 204), r.text


def _advisories(hub: HubProcess) -> list[dict[str, Any]]:
    r = httpx.get(
        hub.base_url + API + "/entities",
        params={"type": "Alert", "options": "keyValues", "limit": "100"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return [a for a in r.json() if a["data"]["rule"] == PREFIX + "pm25-advisory"]


def _eventually(hub: HubProcess, done: Any) -> list[dict[str, Any]]:
    """The hub is another process: ask until it has done its work (bounded)."""
    deadline = time.monotonic() + 120  # a dead PostgreSQL worker's lease: 60 s
    while True:
        found = _advisories(hub)
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_sigkill_in_the_middle_of_an_episode_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, store_url: str
) -> None:
    hub = HubProcess(store_url, tmp_path)
    hub.start()
    try:
        for hour, value in [(0, 40), (1, 80), (2, 90)]:
            _write(hub, hour, value)
        hub.kill()  # SIGKILL at once: the last item may not have been done
        hub.start()
        found = _eventually(hub, lambda f: len(f) >= 1)
        assert len(found) == 1 and "validTo" not in found[0]
        opened = found[0]["id"]
        _write(hub, 3, 120)
        hub.kill()
        hub.start()
        _write(hub, 4, 10)
        hub.kill()
        hub.start()
        found = _eventually(hub, lambda f: any("validTo" in a for a in f))
        assert [a["id"] for a in found] == [opened]
        assert "validTo" in found[0] and found[0]["data"]["peak"] == 120
    finally:
        hub.stop()
