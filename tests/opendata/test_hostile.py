"""Hostile requests to every open data route: never a 5xx, always an answer in the route's
error shape (ProblemDetails, or the open API's own), nothing unpublished in it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.opendata.helpers import publish_city, seed

C = "/ogcapi/collections/AirQualityObserved"
HOSTILE = [
    f"{C}/items?limit=999999999999",
    f"{C}/items?offset=999999999999",
    f"{C}/items?offset=99999999999999999999",
    f"{C}/items?bbox=1e308,1e308,1e308,1e308",
    f"{C}/items?bbox=-180,-90,180,90",
    f"{C}/items?bbox=,,,",
    f"{C}/items?bbox=" + "1," * 5000,
    f"{C}/items?datetime=" + "9" * 5000,
    f"{C}/items?datetime=0000-00-00T00:00:00Z",
    f"{C}/items?datetime=9999-12-31T23:59:59Z/..",
    f"{C}/items?pm25=%00",
    f"{C}/items?pm25=" + "x" * 10000,
    f"{C}/items?name=%27%3B%20DROP%20TABLE%20entities%3B--",
    f"{C}/items?%00=1",
    f"{C}/items?f=%3Cscript%3E",
    f"{C}/items/%00",
    f"{C}/items/" + "a" * 5000,
    f"{C}/items/urn:ngsi-ld:AirQualityObserved:1%2F..%2F..",
    "/ogcapi/collections/%00",
    "/ogcapi/collections/" + "A" * 3000,
    "/ogcapi/collections/..%2F..%2Fadmin",
    "/opendata/%00.csv",
    "/opendata/AirQualityObserved.csv?district=%00",
    "/opendata/AirQualityObserved.csv?district=" + "u" * 5000,
    "/opendata/AirQualityObserved/history/0000-01-01.csv",
    "/opendata/AirQualityObserved/history/9999-12-31.parquet",
    "/catalog.ttl?modified_since=%00",
    "/data/api/AirQualityObserved?pageNo=999999&numOfRows=1000&_type=json",
    "/data/api/AirQualityObserved?serviceKey=%00&_type=json",
    "/data/api/%3Cx%3E?_type=xml",
    "/data?lang=%00",
]


@pytest.fixture
def city(client: TestClient) -> TestClient:
    seed(client)
    publish_city(client)
    return client


def test_hostile_requests_never_fail_the_hub(city: TestClient) -> None:
    for path in HOSTILE:
        response = city.get(path, headers={"NGSILD-Tenant": ""})
        assert response.status_code < 500, (path[:200], response.text[:500])
        assert "rtsp" not in response.text
        if response.status_code >= 400:
            body = response.text
            assert "detail" in body or "resultDetail" in body, (path[:200], body[:300])
    # a tenant header that is not a name, on each kind of route
    for path in ("/ogcapi/collections", "/opendata/AirQualityObserved.csv", "/catalog.ttl"):
        response = city.get(path, headers={"NGSILD-Tenant": "../x"})
        assert response.status_code == 400, path
