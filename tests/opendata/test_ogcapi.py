"""OGC API - Features Part 1 Core (OGC 17-069r4) under /ogcapi (issue 19 item 2), in-process
on both backends; tests/opendata/test_gdal.py reads a served hub with GDAL's OAPIF driver.
Requirement ids (/req/core/...) are the standard's."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from tests.opendata.helpers import ROUTES, publish_city, seed

ITEMS = "/ogcapi/collections/AirQualityObserved/items"


@pytest.fixture
def city(client: TestClient) -> TestClient:
    seed(client)
    publish_city(client)
    return client


def _rels(doc: dict[str, Any]) -> dict[str, str]:
    return {f"{link['rel']} {link['type']}": link["href"] for link in doc["links"]}


def _ids(doc: dict[str, Any]) -> list[str]:
    return sorted(f["id"].rsplit(":", 1)[-1] for f in doc["features"])


def test_landing_conformance_and_api(city: TestClient) -> None:
    # /req/core/root-success: links to the API definition, conformance and collections
    for path in ("/ogcapi/", "/ogcapi"):
        rels = _rels(city.get(path).json())
        assert rels["service-desc application/vnd.oai.openapi+json;version=3.0"].endswith(
            "/ogcapi/api"
        )
        assert rels["conformance application/json"].endswith("/ogcapi/conformance")
        assert rels["data application/json"].endswith("/ogcapi/collections")
    # /req/core/conformance-success
    classes = city.get("/ogcapi/conformance").json()["conformsTo"]
    for c in ("core", "oas30", "geojson", "html"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}" in classes
    # /req/oas30/oas-definition-1: OpenAPI 3.0 with the published collections only
    api = city.get("/ogcapi/api")
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = api.json()
    assert doc["openapi"].startswith("3.0")
    assert "/collections/AirQualityObserved/items" in doc["paths"]
    assert not any("Camera" in path for path in doc["paths"])
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert (limit["minimum"], limit["default"], limit["maximum"]) == (1, 10, 1000)
    filters = [
        p["name"]
        for p in doc["paths"]["/collections/AirQualityObserved/items"]["get"]["parameters"]
        if "name" in p
    ]
    assert filters == ["dateObserved", "name", "pm25"]


def test_collections(city: TestClient) -> None:
    doc = city.get("/ogcapi/collections").json()
    assert [c["id"] for c in doc["collections"]] == ["AirQualityObserved", "OffStreetParking"]
    aqo = city.get("/ogcapi/collections/AirQualityObserved").json()
    assert aqo["itemType"] == "feature"
    assert aqo["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    assert aqo["attribution"] == "Seongnam City"
    assert _rels(aqo)["items application/geo+json"].endswith(ITEMS)
    parking = city.get("/ogcapi/collections/OffStreetParking").json()
    assert parking["license"] == "CC0-1.0"


def test_items_are_geojson_with_public_attributes_only(city: TestClient) -> None:
    response = city.get(ITEMS)
    assert response.headers["content-type"] == "application/geo+json"
    doc = response.json()
    assert doc["type"] == "FeatureCollection"
    assert (doc["numberMatched"], doc["numberReturned"]) == (5, 5)
    first = next(f for f in doc["features"] if f["id"].endswith(":1"))
    assert first["geometry"] == {"type": "Point", "coordinates": [127.11, 37.39]}
    assert first["properties"] == {
        "name": {"ko": "정자1동", "en": "J1"},
        "pm25": 38,
        "dateObserved": "2026-11-02T09:00:00Z",
    }
    assert "secretNote" not in response.text
    one = city.get(f"{ITEMS}/{quote('urn:ngsi-ld:AirQualityObserved:1', safe=':')}")
    assert one.status_code == 200
    assert one.headers["content-type"] == "application/geo+json"
    assert one.json()["properties"]["pm25"] == 38
    assert _rels(one.json())["collection application/json"].endswith(
        "/collections/AirQualityObserved"
    )


def test_limit_and_paging_links(city: TestClient) -> None:
    # /req/core/fc-limit-response, /req/core/fc-links, /rec/core/fc-next-1
    seen: list[str] = []
    url: str | None = f"{ITEMS}?limit=2"
    pages = 0
    while url is not None:
        doc = city.get(url).json()
        pages += 1
        assert doc["numberMatched"] == 5
        assert doc["numberReturned"] == len(doc["features"]) <= 2
        seen += [f["id"] for f in doc["features"]]
        rels = _rels(doc)
        if pages > 1:
            assert "prev application/geo+json" in rels
        url = rels.get("next application/geo+json")
        if url is not None:
            assert "limit=2" in url
            url = url.removeprefix("http://testserver")
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    # above the maximum: the maximum, not an error (permission 5)
    assert city.get(f"{ITEMS}?limit=1000000").json()["numberReturned"] == 5
    for bad in ("0", "-1", "x", "1.5", ""):
        response = city.get(f"{ITEMS}?limit={bad}")
        assert response.status_code == 400, bad
        assert response.json()["code"] == "InvalidParameterValue"


def test_bbox(city: TestClient) -> None:
    # /req/core/fc-bbox-response: what intersects the box (Seongnam, not Seoul)
    doc = city.get(f"{ITEMS}?bbox=127.05,37.30,127.20,37.45").json()
    assert _ids(doc) == ["0", "1", "2", "4"]
    assert doc["numberMatched"] == 4
    assert _ids(city.get(f"{ITEMS}?bbox=127.05,37.30,0,127.20,37.37,0").json()) == ["0"]
    assert city.get(f"{ITEMS}?bbox=0,0,1,1").json()["features"] == []
    # across the antimeridian, and a box of no width
    assert city.get(f"{ITEMS}?bbox=170,30,127.2,40").json()["numberMatched"] == 5
    assert _ids(city.get(f"{ITEMS}?bbox=127.11,37.39,127.11,37.39").json()) == ["1"]
    for bad in (
        "1,2,3",
        "a,b,c,d",
        "0,50,1,40",
        "0,0,200,1",
        "nan,0,1,1",
        "inf,0,1,1",
        "1,2,3,4,5",
        "",
    ):
        response = city.get(f"{ITEMS}?bbox={bad}")
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["detail"]
    other_crs = city.get(f"{ITEMS}?bbox=0,0,1,1&bbox-crs=EPSG:4326")
    assert other_crs.status_code == 400


def test_datetime(city: TestClient) -> None:
    # /req/core/fc-time-response on the rule's datetimeAttribute (dateObserved)
    assert _ids(city.get(f"{ITEMS}?datetime=2026-11-02T09:00:00Z").json()) == ["1", "4"]
    assert _ids(city.get(f"{ITEMS}?datetime=2026-11-02").json()) == ["1", "4"]
    between = city.get(f"{ITEMS}?datetime=2026-11-02T00:00:00Z/2026-11-03T23:00:00Z").json()
    assert _ids(between) == ["1", "2", "4"]
    assert _ids(city.get(f"{ITEMS}?datetime=../2026-11-01T12:00:00Z").json()) == ["0", "3"]
    assert _ids(city.get(f"{ITEMS}?datetime=2026-11-03T00:00:00Z/..").json()) == ["2"]
    assert _ids(city.get(f"{ITEMS}?datetime=2026-11-03T00:00:00Z/").json()) == ["2"]
    for bad in ("yesterday", "2026-11-02T09:00:00", "../..", "a/b", "2026-13-01", "1/2/3"):
        response = city.get(f"{ITEMS}?datetime={quote(bad)}")
        assert response.status_code == 400, (bad, response.text)


def test_property_filters_and_unknown_parameters(city: TestClient) -> None:
    assert _ids(city.get(f"{ITEMS}?pm25=38").json()) == ["1", "4"]
    assert _ids(city.get(f"{ITEMS}?pm25=55.5").json()) == ["2"]
    assert _ids(city.get(f"{ITEMS}?pm25=38&bbox=127.115,37.37,127.13,37.385").json()) == ["4"]
    # /req/core/query-param-unknown: an attribute that is not public is unknown here
    for param in ("secretNote=x", "foo=1", "streamUrl=x", "location=1", "q=pm25>1"):
        response = city.get(f"{ITEMS}?{param}")
        assert response.status_code == 400, param
        assert "unknown parameter" in response.json()["detail"]
    assert city.get(f"{ITEMS}?limit=1&limit=2").status_code == 400
    assert city.get("/ogcapi/collections?foo=1").status_code == 400
    assert city.get("/ogcapi/collections?f=xml").status_code == 400


def test_html(city: TestClient) -> None:
    page = city.get(f"{ITEMS}?f=html")
    assert page.headers["content-type"].startswith("text/html")
    assert "정자1동" in page.text and "secretNote" not in page.text
    browser = city.get("/ogcapi/collections", headers={"Accept": "text/html,*/*"})
    assert browser.headers["content-type"].startswith("text/html")
    assert "AirQualityObserved" in browser.text
    for path in ("/ogcapi/?f=html", "/ogcapi/conformance?f=html", "/ogcapi/api?f=html"):
        assert city.get(path).headers["content-type"].startswith("text/html"), path
    escaped = city.get(f"{ITEMS}/urn:ngsi-ld:AirQualityObserved:1?f=html").text
    assert "<script" not in escaped


def test_unpublished_types_never_appear(city: TestClient) -> None:
    """A type without a rule (Camera), a removed rule, an entity of another type by id: every
    route is a 404 (as if absent) and no listing names it."""
    camera = "urn:ngsi-ld:Camera:1"
    for route in ROUTES:
        response = city.get(route.format(c="Camera", i=camera))
        assert response.status_code == 404, route
        assert "rtsp" not in response.text
    # an entity of an unpublished type through a published collection
    assert city.get(f"{ITEMS}/{camera}").status_code == 404
    for path in ("/ogcapi/", "/ogcapi/collections", "/ogcapi/api", f"{ITEMS}?limit=1000"):
        assert "Camera" not in city.get(path).text, path
    assert city.delete("/admin/publishing/OffStreetParking").status_code == 204
    for route in ROUTES:
        path = route.format(c="OffStreetParking", i="urn:ngsi-ld:OffStreetParking:1")
        assert city.get(path).status_code == 404, path
    assert "OffStreetParking" not in city.get("/ogcapi/collections").text
