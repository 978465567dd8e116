"""Two hubs as one (issue 23): a "national" hub holds a district's sensors and is registered
in a "city" hub; reads through the city hub reach both (ETSI GS CIM 009 v1.8.1 clauses
4.3.6.2, 5.7.1.4, 5.7.2.4). Two real ``cityhub serve`` processes; the city hub on each
backend, the national one on SQLite. docs/federation.md is the recipe."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx

from tests.hostile.hub_process import HubProcess

BASE = "/ngsi-ld/v1"
AQ = "urn:ngsi-ld:AirQualityObserved:"


def sensor(name: str, pm25: float, lon: float) -> dict[str, Any]:
    return {
        "id": AQ + name,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": pm25, "observedAt": "2026-12-07T03:00:00Z"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, 37.4]}},
    }


def registration(n: int, endpoint: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:ContextSourceRegistration:{n}",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "AirQualityObserved"}]}],
        "endpoint": endpoint,
    }


def post(hub: HubProcess, path: str, body: dict[str, Any]) -> None:
    r = httpx.post(hub.base_url + BASE + path, json=body, timeout=30)
    assert r.status_code == 201, r.text


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(e["id"] for e in response.json())


def test_a_city_hub_and_the_national_hub_answer_as_one(tmp_path: Path, store_url: str) -> None:
    national_dir, city_dir = tmp_path / "national", tmp_path / "city"
    national_dir.mkdir()
    city_dir.mkdir()
    (city_dir / "cityhub.toml").write_text("[cityhub]\nfederation_timeout = 2.0\n")
    national = HubProcess(f"sqlite:///{national_dir / 'national.db'}", national_dir)
    city = HubProcess(store_url, city_dir)
    national.start()
    city.start()
    silent = socket.socket()  # a source that takes the connection and never answers
    try:
        for name, pm25, lon in [("district-1", 31.0, 127.10), ("district-2", 48.0, 127.11)]:
            post(national, "/entities", sensor(name, pm25, lon))
        post(city, "/entities", sensor("city-1", 12.0, 127.20))
        post(city, "/csourceRegistrations", registration(1, national.base_url))
        everyone = [AQ + "city-1", AQ + "district-1", AQ + "district-2"]
        query = {"type": "AirQualityObserved"}
        url = city.base_url + BASE

        r = httpx.get(url + "/entities", params=query, timeout=30)
        assert ids(r) == everyone and "NGSILD-Warning" not in r.headers
        body = {"type": "Query", "entities": [{"type": "AirQualityObserved"}], "q": "pm25>20"}
        r = httpx.post(url + "/entityOperations/query", json=body, timeout=30)
        assert ids(r) == [AQ + "district-1", AQ + "district-2"]
        r = httpx.get(url + f"/entities/{AQ}district-2", timeout=30)
        assert r.status_code == 200 and r.json()["pm25"]["value"] == 48.0
        r = httpx.get(url + "/entities", params={**query, "local": "true"}, timeout=30)
        assert ids(r) == [AQ + "city-1"]

        # writes through the city hub: a redirect registration sends the district sensors'
        # writes to the national hub only (clauses 4.3.6.3, 5.6.2.4, 5.6.6.4)
        redirect = {
            **registration(4, national.base_url),
            "mode": "redirect",
            "operations": ["redirectionOps"],
            "information": [
                {"entities": [{"idPattern": "district", "type": "AirQualityObserved"}]}
            ],
        }
        post(city, "/csourceRegistrations", redirect)
        patch = {"pm25": {"type": "Property", "value": 5.0}}
        r = httpx.patch(url + f"/entities/{AQ}district-1/attrs", json=patch, timeout=30)
        assert r.status_code == 204, r.text
        r = httpx.get(national.base_url + BASE + f"/entities/{AQ}district-1", timeout=30)
        assert r.json()["pm25"]["value"] == 5.0
        post(city, "/entities", sensor("district-3", 7.0, 127.12))
        r = httpx.get(url + f"/entities/{AQ}district-3", params={"local": "true"}, timeout=30)
        assert r.status_code == 404  # held by the national hub only
        r = httpx.delete(url + f"/entities/{AQ}district-3", timeout=30)
        assert r.status_code == 204, r.text
        r = httpx.get(national.base_url + BASE + f"/entities/{AQ}district-3", timeout=30)
        assert r.status_code == 404

        # a loop: the national hub registers the city hub back; Via stops it
        post(national, "/csourceRegistrations", registration(2, city.base_url))
        r = httpx.get(url + "/entities", params=query, timeout=30)
        assert ids(r) == everyone

        # a source that never answers: the answer comes after its timeout, with a warning
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        post(
            city,
            "/csourceRegistrations",
            registration(3, f"http://127.0.0.1:{silent.getsockname()[1]}"),
        )
        started = time.monotonic()
        r = httpx.get(url + "/entities", params=query, timeout=30)
        waited = time.monotonic() - started
        assert ids(r) == everyone
        assert r.headers["NGSILD-Warning"].startswith("199 ")
        assert "did not answer within 2 s" in r.headers["NGSILD-Warning"]
        assert waited < 10, f"the silent source held the answer {waited:.1f} s"

        # the national hub down: the city still answers, with a warning
        national.stop()
        r = httpx.get(url + "/entities", params=query, timeout=30)
        assert ids(r) == [AQ + "city-1"]
        assert "could not be asked" in r.headers["NGSILD-Warning"]
        r = httpx.get(url + f"/entities/{AQ}district-1", timeout=30)
        assert r.status_code == 404 and "NGSILD-Warning" in r.headers
    finally:
        silent.close()
        city.stop()
        national.stop()


def test_temporal_reads_and_entity_maps_through_the_city_hub(
    tmp_path: Path, store_url: str
) -> None:
    """Issue 23 "two hubs as one", temporal reads (clauses 5.7.3.4, 5.7.4.4) and a paged query
    kept by an EntityMap (5.5.14): the national hub's history and sensors reach the city
    hub's answers, and the map names which hub holds each sensor."""
    national_dir, city_dir = tmp_path / "national", tmp_path / "city"
    national_dir.mkdir()
    city_dir.mkdir()
    national = HubProcess(f"sqlite:///{national_dir / 'national.db'}", national_dir)
    city = HubProcess(store_url, city_dir)
    national.start()
    city.start()
    try:
        for name, pm25, lon in [("district-1", 31.0, 127.10), ("district-2", 48.0, 127.11)]:
            post(national, "/entities", sensor(name, pm25, lon))
        later = {"pm25": {"type": "Property", "value": 33.0, "observedAt": "2026-12-07T04:00:00Z"}}
        r = httpx.patch(
            national.base_url + BASE + f"/entities/{AQ}district-1/attrs", json=later, timeout=30
        )
        assert r.status_code == 204, r.text
        post(city, "/entities", sensor("city-1", 12.0, 127.20))
        post(
            city,
            "/csourceRegistrations",
            {**registration(1, national.base_url), "operations": [
                "federationOps", "retrieveTemporal", "queryTemporal"]},
        )  # fmt: skip
        url = city.base_url + BASE
        window = {"timerel": "after", "timeAt": "2026-12-07T00:00:00Z"}

        r = httpx.get(url + f"/temporal/entities/{AQ}district-1", params=window, timeout=30)
        assert r.status_code == 200, r.text
        assert [i["value"] for i in r.json()["pm25"]] == [31.0, 33.0]
        r = httpx.get(
            url + "/temporal/entities", params={**window, "type": "AirQualityObserved"}, timeout=30
        )
        assert ids(r) == [AQ + "city-1", AQ + "district-1", AQ + "district-2"]

        query = {"type": "AirQualityObserved", "limit": "2", "entityMap": "true"}
        first = httpx.get(url + "/entities", params=query, timeout=30)
        assert first.status_code == 201 and len(first.json()) == 2
        location = first.headers["NGSILD-EntityMap"]
        post(city, "/entities", sensor("city-2", 15.0, 127.21))  # not in the map's pages
        second = httpx.get(
            url + "/entities",
            params={"type": "AirQualityObserved", "limit": "2", "offset": "2"},
            headers={"NGSILD-EntityMap": location},
            timeout=30,
        )
        seen = [e["id"] for e in first.json() + second.json()]
        assert sorted(seen) == [AQ + "city-1", AQ + "district-1", AQ + "district-2"]
        held = httpx.get(city.base_url + location, timeout=30).json()["entityMap"]
        registration_id = "urn:ngsi-ld:ContextSourceRegistration:1"
        assert held == {
            AQ + "city-1": ["@none"],
            AQ + "district-1": [registration_id],
            AQ + "district-2": [registration_id],
        }
    finally:
        city.stop()
        national.stop()
