"""The catalogue as Smart Data Models DCAT-AP entities (issue 19 item 3), for NGSI-LD
harvesters such as ckanext-harvest-ngsild: a Catalogue entity listing a Dataset entity per
published type, each listing its Distribution entities, kept equal to the publishing rules."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.testclient import TestClient

from tests.opendata.helpers import publish, publish_city, seed

DCAT_AP = "https://smartdatamodels.org/dataModel.DCAT-AP/"
CATALOGUE = "urn:ngsi-ld:Catalogue:cityhub"


def _get(client: TestClient, entity_id: str) -> Any:
    return client.get(f"/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}")


def _ids(client: TestClient, kind: str) -> list[str]:
    found = client.get("/ngsi-ld/v1/entities", params={"type": DCAT_AP + kind, "limit": 1000})
    assert found.status_code == 200, found.text
    return sorted(e["id"] for e in found.json())


def test_the_rules_are_harvestable_entities(client: TestClient) -> None:
    seed(client)
    assert _get(client, CATALOGUE).status_code == 404  # nothing published: no catalogue
    publish_city(client)
    catalogue = _get(client, CATALOGUE).json()
    assert catalogue["type"] == DCAT_AP + "Catalogue"
    assert catalogue["title"]["value"] == "cityhub open data"  # dct:title, the core @context's
    datasets = catalogue[DCAT_AP + "dataset"]["value"]
    assert datasets == [
        "urn:ngsi-ld:Dataset:cityhub:AirQualityObserved",
        "urn:ngsi-ld:Dataset:cityhub:OffStreetParking",
    ]
    dataset = _get(client, datasets[0]).json()
    assert dataset["type"] == DCAT_AP + "Dataset"
    assert dataset[DCAT_AP + "publisher"]["value"] == "cityhub"
    assert dataset[DCAT_AP + "license"]["value"] == "https://creativecommons.org/licenses/by/4.0/"
    assert dataset[DCAT_AP + "rights"]["value"] == "Seongnam City"
    distributions = dataset[DCAT_AP + "distribution"]["value"]
    urls = set()
    for distribution_id in distributions:
        distribution = _get(client, distribution_id).json()
        assert distribution["type"] == DCAT_AP + "Distribution"
        assert distribution["format"]["value"]
        urls.update(distribution[DCAT_AP + "accessUrl"]["value"])
    assert "http://127.0.0.1:1026/opendata/AirQualityObserved.csv" in urls
    assert any(u.endswith("/ogcapi/collections/AirQualityObserved/items") for u in urls)
    assert len(_ids(client, "Distribution")) == 8


def test_removing_rules_removes_their_entities_only(client: TestClient) -> None:
    seed(client)
    publish_city(client)
    # a Dataset entity someone else wrote is never touched
    foreign = {"id": "urn:ngsi-ld:Dataset:other:1", "type": DCAT_AP + "Dataset"}
    assert client.post("/ngsi-ld/v1/entities", json=foreign).status_code == 201
    assert client.delete("/admin/publishing/OffStreetParking").status_code == 204
    assert _ids(client, "Dataset") == [
        "urn:ngsi-ld:Dataset:cityhub:AirQualityObserved",
        "urn:ngsi-ld:Dataset:other:1",
    ]
    assert len(_ids(client, "Distribution")) == 4
    catalogue = _get(client, CATALOGUE).json()
    assert catalogue[DCAT_AP + "dataset"]["value"] == [
        "urn:ngsi-ld:Dataset:cityhub:AirQualityObserved"
    ]
    publish(client, "AirQualityObserved", title="대기질")  # a replaced rule rewrites its dataset
    dataset = _get(client, "urn:ngsi-ld:Dataset:cityhub:AirQualityObserved").json()
    assert dataset["title"]["value"] == "대기질"
    assert client.delete("/admin/publishing/AirQualityObserved").status_code == 204
    assert _get(client, CATALOGUE).status_code == 404
    assert _ids(client, "Dataset") == ["urn:ngsi-ld:Dataset:other:1"]
    assert _ids(client, "Distribution") == []


def test_each_tenant_has_its_own(client: TestClient) -> None:
    seed(client, {"NGSILD-Tenant": "city2"})
    response = client.put("/admin/publishing/OffStreetParking?tenant=city2", json={})
    assert response.status_code == 201
    assert _get(client, CATALOGUE).status_code == 404
    there = client.get(
        f"/ngsi-ld/v1/entities/{CATALOGUE}", headers={"NGSILD-Tenant": "city2"}
    ).json()
    assert there[DCAT_AP + "dataset"]["value"] == ["urn:ngsi-ld:Dataset:cityhub:OffStreetParking"]
