"""A city's own zone mapping for the gap (issue 16 deliverable 4, "grouping from the area
entities, e.g. DOMAIN.md 3.3's zones"; a city gives its own), on both backends: an
IndicatorZoneMapping entity written through the entity API groups the districts instead of
their cityhubZone, by the gap's ``zones`` parameter or as the tenant's default; a mapping that
is not one is refused by its write with a 400 ProblemDetails (clause 5.5.4's BadRequestData,
or a per-entity error of a batch, clause 5.6.7), and a gap asking for a mapping the tenant
does not have is a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_client
from tests.indicators.helpers import dong_id
from tests.indicators.test_indicators_api import API, ERR, city

MAPPING = "urn:ngsi-ld:IndicatorZoneMapping:west-east"
DEFAULT = "urn:ngsi-ld:IndicatorZoneMapping:default"


@pytest.fixture
def hub(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(
        tmp_path, store_url, indicators_service=True, indicators_lookback_hours=4
    ) as c:
        city(c)
        yield c


def mapping(eid: str, zones: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": eid,
        "type": "IndicatorZoneMapping",
        "zones": {"type": "Property", "value": zones},
        **extra,
    }


def gap(client: TestClient, **params: str) -> dict[str, Any]:
    r = client.get("/indicators/gap", params={"indicator": "pm25ExposureWho", **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def districts_by_zone(body: dict[str, Any]) -> dict[str, set[str]]:
    return {z["zone"]: {d["id"] for d in z["districtValues"]} for z in body["zones"]}


def test_a_mapping_groups_the_districts_by_parameter_or_as_the_default(hub: TestClient) -> None:
    own = gap(hub)
    assert own["zonesFrom"] == "cityhubZone"
    assert districts_by_zone(own) == {
        "old-downtown": {dong_id("a"), dong_id("b")},
        "new-town-1990s": {dong_id("c"), dong_id("d")},
    }
    zones = {"inner": [dong_id("a"), dong_id("c")], "outer": [dong_id("b")]}
    r = hub.post(f"{API}/entities", json=mapping(MAPPING, zones))
    assert r.status_code == 201, r.text
    for name in ("west-east", MAPPING):  # by the id's last part or in full
        body = gap(hub, zones=name, reference="inner")
        assert body["zonesFrom"] == MAPPING
        # d is in no zone of the mapping: left out
        assert districts_by_zone(body) == {
            "inner": {dong_id("a"), dong_id("c")},
            "outer": {dong_id("b")},
        }
        assert body["reference"] == "inner"
    # CSV too
    r = hub.get(
        "/indicators/gap",
        params={"indicator": "pm25ExposureWho", "zones": "west-east", "format": "csv"},
    )
    assert r.status_code == 200 and {"inner", "outer"} <= set(r.text.replace(",", " ").split())
    # the tenant's default mapping needs no parameter
    r = hub.post(f"{API}/entities", json=mapping(DEFAULT, {"all": [dong_id(n) for n in "abcd"]}))
    assert r.status_code == 201, r.text
    body = gap(hub)
    assert body["zonesFrom"] == DEFAULT and set(districts_by_zone(body)) == {"all"}


@pytest.mark.parametrize(
    ("zones", "extra", "says"),
    [
        (None, {}, "zones must be an object"),
        ([dong_id("a")], {}, "zones must be an object"),
        ({}, {}, "zones must be an object"),
        ({"<b>": [dong_id("a")]}, {}, "zone name"),
        ({"inner": []}, {}, "must list the ids"),
        ({"inner": "a"}, {}, "must list the ids"),
        ({"inner": [5]}, {}, "not an entity id"),
        ({"inner": ["a"]}, {}, "not an entity id"),
        ({"inner": [dong_id("a")], "outer": [dong_id("a")]}, {}, "is in zones inner and outer"),
        ({f"z{i}": [f"urn:x:{i}"] for i in range(65)}, {}, "at most 64 zones"),
        ({"inner": [dong_id("a")]}, {"colour": {"type": "Property", "value": 1}}, "not colour"),
    ],
)
def test_a_mapping_that_is_not_one_is_refused_by_its_write(
    hub: TestClient, zones: Any, extra: dict[str, Any], says: str
) -> None:
    body = mapping(MAPPING, zones, **extra)
    if zones is None:
        del body["zones"]
    r = hub.post(f"{API}/entities", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == ERR + "BadRequestData" and says in r.json()["detail"]
    assert hub.get(f"{API}/entities/{MAPPING}").status_code == 404


def test_a_change_that_breaks_a_mapping_is_refused_and_the_mapping_stays(hub: TestClient) -> None:
    r = hub.post(f"{API}/entities", json=mapping(MAPPING, {"inner": [dong_id("a")]}))
    assert r.status_code == 201, r.text
    r = hub.patch(
        f"{API}/entities/{MAPPING}/attrs",
        json={"zones": {"type": "Property", "value": {"inner": "everything"}}},
    )
    assert r.status_code == 400, r.text
    r = hub.post(
        f"{API}/entityOperations/upsert",
        json=[mapping(MAPPING, {"inner": 1}), mapping(DEFAULT, {"x": [dong_id("b")]})],
    )
    assert r.status_code == 207, r.text
    assert [e["entityId"] for e in r.json()["errors"]] == [MAPPING]
    assert districts_by_zone(gap(hub, zones="west-east")) == {"inner": {dong_id("a")}}


@pytest.mark.parametrize(
    ("zones", "says"),
    [("nowhere", "has no IndicatorZoneMapping"), ("<script>", "zones must be the id")],
)
def test_a_gap_by_a_mapping_the_tenant_lacks_is_a_problem(
    hub: TestClient, zones: str, says: str
) -> None:
    r = hub.get("/indicators/gap", params={"indicator": "pm25ExposureWho", "zones": zones})
    assert r.status_code == 400, r.text
    assert r.json()["type"] == ERR + "BadRequestData" and says in r.json()["detail"]
