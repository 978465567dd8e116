"""Exports (issue 19 item 4): the current state of a published type as CSV, GeoJSON and
Parquet, a day of its history as CSV and Parquet, with a district filter; public attributes
only; GDAL loads the exported GeoJSON and CSV (skipped, with the reason, without gdal-bin)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from tests.opendata.helpers import publish, publish_city, seed
from tests.opendata.served import needs_gdal, ogr

DISTRICT = "urn:ngsi-ld:AdministrativeArea:jeongja"


def _district(client: TestClient) -> None:
    """A dong around stations 0 and 1, published with its boundary."""
    ring = [[127.09, 37.35], [127.115, 37.35], [127.115, 37.395], [127.09, 37.395], [127.09, 37.35]]
    body = {
        "id": DISTRICT,
        "type": "AdministrativeArea",
        "name": {"type": "Property", "value": "정자동"},
        "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [ring]}},
    }
    assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
    publish(client, "AdministrativeArea")


@pytest.fixture
def city(client: TestClient) -> TestClient:
    seed(client)
    publish_city(client)
    return client


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_has_a_column_per_attribute_with_units_and_times(city: TestClient) -> None:
    response = city.get("/opendata/AirQualityObserved.csv")
    assert 'filename="AirQualityObserved.csv"' in response.headers["content-disposition"]
    rows = _csv(response)
    assert list(rows[0]) == [
        "id",
        "geometry",
        "dateObserved",
        "name",
        "pm25",
        "pm25_unitCode",
        "pm25_observedAt",
    ]
    first = rows[1]
    assert first["id"] == "urn:ngsi-ld:AirQualityObserved:1"
    assert first["geometry"] == "POINT (127.11 37.39)"
    assert (first["pm25"], first["pm25_unitCode"]) == ("38", "GQ")
    assert first["pm25_observedAt"] == "2026-11-01T09:00:00Z"
    assert "정자1동" in first["name"]
    assert len(rows) == 5
    assert "secretNote" not in response.text and "not for the public" not in response.text


def test_geojson_and_parquet(city: TestClient) -> None:
    collection = city.get("/opendata/AirQualityObserved.geojson")
    assert collection.headers["content-type"] == "application/geo+json"
    doc = collection.json()
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 5
    assert "secretNote" not in collection.text
    parquet = city.get("/opendata/AirQualityObserved.parquet")
    assert parquet.status_code == 200
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 5
    schema = table.schema
    assert schema.field("id").type == pa.string()
    assert schema.field("pm25").type == pa.float64()
    assert schema.field("pm25_observedAt").type == pa.timestamp("us", tz="UTC")
    assert "secretNote" not in schema.names
    assert schema.metadata[b"cityhub:attribution"] == b"Seongnam City"
    assert sorted(table.column("pm25").to_pylist()) == [12.0, 20.0, 38.0, 38.0, 55.5]


def test_many_entities_are_streamed_in_pages(client: TestClient) -> None:
    """More entities than a page (500): every one exactly once, in every format."""
    entities = [
        {
            "id": f"urn:ngsi-ld:WasteContainer:{i}",
            "type": "WasteContainer",
            "fillingLevel": {"type": "Property", "value": i / 1000},
        }
        for i in range(1203)
    ]
    for start in range(0, len(entities), 400):
        chunk = entities[start : start + 400]
        response = client.post("/ngsi-ld/v1/entityOperations/create", json=chunk)
        assert response.status_code == 201
    publish(client, "WasteContainer")
    rows = _csv(client.get("/opendata/WasteContainer.csv"))
    assert len({r["id"] for r in rows}) == len(rows) == 1203
    assert list(rows[0]) == ["id", "geometry", "fillingLevel"]
    doc = client.get("/opendata/WasteContainer.geojson").json()
    assert len({f["id"] for f in doc["features"]}) == 1203
    table = pq.read_table(io.BytesIO(client.get("/opendata/WasteContainer.parquet").content))
    assert table.num_rows == 1203
    assert table.schema.field("fillingLevel").type == pa.float64()


def test_history_extract_of_a_day(city: TestClient) -> None:
    update = {"pm25": {"type": "Property", "value": 41, "observedAt": "2026-11-01T10:00:00Z"}}
    eid = "urn:ngsi-ld:AirQualityObserved:1"
    assert city.patch(f"/ngsi-ld/v1/entities/{eid}/attrs", json=update).status_code == 204
    rows = _csv(city.get("/opendata/AirQualityObserved/history/2026-11-01.csv"))
    assert list(rows[0]) == [
        "entityId",
        "attribute",
        "value",
        "unitCode",
        "observedAt",
        "datasetId",
    ]
    mine = [(r["attribute"], r["value"], r["observedAt"]) for r in rows if r["entityId"] == eid]
    assert mine == [("pm25", "38", "2026-11-01T09:00:00Z"), ("pm25", "41", "2026-11-01T10:00:00Z")]
    assert {r["attribute"] for r in rows} == {"pm25"}
    assert _csv(city.get("/opendata/AirQualityObserved/history/2026-11-02.csv")) == []
    parquet = city.get("/opendata/AirQualityObserved/history/2026-11-01.parquet")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 6
    assert table.schema.field("value").type == pa.float64()
    assert table.schema.field("observedAt").type == pa.timestamp("us", tz="UTC")
    # the history of a type whose rule does not publish it
    assert city.get("/opendata/OffStreetParking/history/2026-11-01.csv").status_code == 404


def test_district_filter(city: TestClient) -> None:
    _district(city)
    rows = _csv(city.get(f"/opendata/AirQualityObserved.csv?district={DISTRICT}"))
    assert sorted(r["id"][-1] for r in rows) == ["0", "1"]
    history = _csv(
        city.get(f"/opendata/AirQualityObserved/history/2026-11-01.csv?district={DISTRICT}")
    )
    assert sorted({r["entityId"][-1] for r in history}) == ["0", "1"]
    # a point is no district; neither is an entity of an unpublished type
    for bad in ("urn:ngsi-ld:AirQualityObserved:1", "urn:ngsi-ld:Camera:1", "nothing"):
        response = city.get(f"/opendata/AirQualityObserved.csv?district={bad}")
        assert response.status_code == 400, bad
        assert "rtsp" not in response.text


def test_bad_export_requests(city: TestClient) -> None:
    for path in (
        "/opendata/Camera.csv",
        "/opendata/Camera.geojson",
        "/opendata/Camera/history/2026-11-01.csv",
        "/opendata/AirQualityObserved.xlsx",
        "/opendata/AirQualityObserved",
        "/opendata/AirQualityObserved/history/2026-11-01.geojson",
    ):
        response = city.get(path)
        assert response.status_code == 404, path
        assert "rtsp" not in response.text
    for path in (
        "/opendata/AirQualityObserved.csv?limit=1",
        "/opendata/AirQualityObserved/history/yesterday.csv",
        "/opendata/AirQualityObserved/history/2026-13-01.csv",
        "/opendata/AirQualityObserved/history/2026-11-1.csv",
    ):
        response = city.get(path)
        assert response.status_code == 400, path
        assert response.json()["detail"]


@needs_gdal
def test_gdal_loads_the_exported_geojson_and_csv(city: TestClient, tmp_path: Path) -> None:
    geojson = tmp_path / "aqo.geojson"
    geojson.write_bytes(city.get("/opendata/AirQualityObserved.geojson").content)
    listing = ogr("ogrinfo", "-ro", "-al", str(geojson))
    assert "Feature Count: 5" in listing
    assert "Geometry: Point" in listing
    assert "pm25 (Real) = 55.5" in listing
    exported = tmp_path / "aqo.csv"
    exported.write_bytes(city.get("/opendata/AirQualityObserved.csv").content)
    listing = ogr(
        "ogrinfo", "-ro", "-al", "-oo", "GEOM_POSSIBLE_NAMES=geometry", "-oo",
        "AUTODETECT_TYPE=YES", str(exported),
    )  # fmt: skip
    assert "Feature Count: 5" in listing
    assert "POINT (127.13 37.42)" in listing
    assert "정자2동" in listing  # UTF-8 read through the byte order mark
    assert "id (String) = urn:ngsi-ld:AirQualityObserved:0" in listing  # no BOM in the name
    # ogr2ogr converts it on (a GIS user's first step)
    out = tmp_path / "aqo.gpkg"
    ogr("ogr2ogr", "-f", "GPKG", str(out), str(geojson))
    assert "Feature Count: 5" in ogr("ogrinfo", "-ro", "-al", "-so", str(out))
