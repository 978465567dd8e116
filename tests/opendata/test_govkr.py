"""The data.go.kr-style open API (issue 19 item 5) and the /data landing page (item 6).
The API answers in the portal's shape, its errors too, with the portal's result codes
(docs/opendata.md's table) and an HTTP status that says the same."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from starlette.testclient import TestClient

from tests.access.helpers import bearer, make_key
from tests.conftest import make_client
from tests.opendata.helpers import publish_city, seed

API = "/data/api/AirQualityObserved"


@pytest.fixture
def city(client: TestClient) -> TestClient:
    seed(client)
    publish_city(client)
    return client


def test_json_pages(city: TestClient) -> None:
    doc = city.get(f"{API}?resultType=json&numOfRows=2&pageNo=1").json()
    header, body = doc["response"]["header"], doc["response"]["body"]
    assert header == {"resultCode": "00", "resultMsg": "NORMAL SERVICE."}
    assert (body["numOfRows"], body["pageNo"], body["totalCount"]) == (2, 1, 5)
    first = body["items"]["item"][0]
    assert first["id"] == "urn:ngsi-ld:AirQualityObserved:0"
    assert (first["longitude"], first["latitude"]) == (127.1, 37.36)
    assert first["pm25"] == 12 and "secretNote" not in first
    third = city.get(f"{API}?_type=json&numOfRows=2&pageNo=3").json()["response"]["body"]
    assert [i["id"][-1] for i in third["items"]["item"]] == ["4"]
    past = city.get(f"{API}?_type=json&numOfRows=2&pageNo=9").json()["response"]
    assert past["header"]["resultCode"] == "03" and past["body"]["items"]["item"] == []


def test_xml_is_the_default(city: TestClient) -> None:
    response = city.get(f"{API}?numOfRows=5")
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "response"
    assert root.findtext("header/resultCode") == "00"
    assert root.findtext("body/totalCount") == "5"
    items = root.findall("body/items/item")
    assert len(items) == 5
    assert items[1].findtext("name/ko") == "정자1동"
    assert items[1].findtext("pm25") == "38"


def test_errors_keep_the_shape(city: TestClient) -> None:
    cases = [
        (f"{API}?_type=json&numOfRows=0", "10", 400),
        (f"{API}?_type=json&pageNo=x", "10", 400),
        (f"{API}?_type=json&numOfRows=100000", "10", 400),
        (f"{API}?_type=json&sort=asc", "10", 400),
        ("/data/api/Camera?_type=json", "12", 404),
        ("/data/api/OffStreetParking?_type=json&serviceKey=chk_x_y", "00", 200),  # open hub
    ]
    for path, code, status in cases:
        response = city.get(path)
        assert response.status_code == status, (path, response.text)
        header = response.json()["response"]["header"]
        assert header["resultCode"] == code, path
        if code != "00":
            assert "body" not in response.json()["response"]
            assert header["resultDetail"]
    for path in (f"{API}?numOfRows=-1", f"{API}?resultType=csv"):
        bad_xml = city.get(path)
        assert bad_xml.status_code == 400
        assert ET.fromstring(bad_xml.content).findtext("header/resultCode") == "10"


def test_service_keys(tmp_path, store_url: str) -> None:  # type: ignore[no-untyped-def]
    with make_client(tmp_path, store_url, rate_limit=1.0, rate_burst=3) as client:
        seed(client)
        admin = bearer(make_key(client, name="ops", admin=True))
        publish_city(client, admin)
        key = make_key(client, admin, name="app")
        ok = client.get(f"{API}?_type=json&serviceKey={key}")
        assert ok.json()["response"]["header"]["resultCode"] == "00"
        unknown = client.get(f"{API}?_type=json&serviceKey=chk_nope_nope")
        assert (unknown.status_code, unknown.json()["response"]["header"]["resultCode"]) == (
            401,
            "30",
        )
        key_id = key.split("_")[1]
        assert client.delete(f"/admin/keys/{key_id}", headers=admin).status_code == 204
        revoked = client.get(f"{API}?_type=json&serviceKey={key}").json()["response"]
        assert revoked["header"]["resultCode"] == "30"
        # the public without a key: its quota per address, then 22
        codes = [
            client.get(f"{API}?_type=json").json()["response"]["header"]["resultCode"]
            for _ in range(5)
        ]
        assert codes[0] == "00" and "22" in codes
        limited = client.get(f"{API}?_type=json")
        assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_the_landing_page(city: TestClient) -> None:
    korean = city.get("/data")
    assert korean.status_code == 200
    assert korean.headers["content-type"].startswith("text/html")
    text = korean.text
    assert 'lang="ko"' in text and "공공데이터" in text
    for link in (
        "/opendata/AirQualityObserved.csv",
        "/opendata/AirQualityObserved.parquet",
        "/ogcapi/collections/OffStreetParking/items?f=html",
        "/data/api/AirQualityObserved?resultType=json",
        "/catalog.ttl",
        "https://creativecommons.org/licenses/by/4.0/",
    ):
        assert link in text, link
    assert "/history/" in text  # AirQualityObserved publishes its history
    assert text.count("<svg") == 2  # a map preview per dataset
    assert "Camera" not in text and "secretNote" not in text
    english = city.get("/data?lang=en").text
    assert 'lang="en"' in english and "Open data" in english
    # the city's language, as the control tower opens in, whatever the browser sends (most
    # send English); the page links to the other
    english_browser = city.get("/data", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert 'lang="ko"' in english_browser and "/data?lang=en" in english_browser
    assert city.get("/data?lang=fr").status_code == 400
    assert city.get("/data?x=1").status_code == 400


def test_an_empty_landing_page(client: TestClient) -> None:
    page = client.get("/data")
    assert page.status_code == 200
    assert "아직 공개된 데이터가 없습니다" in page.text
