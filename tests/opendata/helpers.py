"""Helpers of the open data tests: a small city of two published types and one that is not."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

#: every open data route a published collection has, {c} the collection, {i} an item's id
ROUTES = (
    "/ogcapi/collections/{c}",
    "/ogcapi/collections/{c}/items",
    "/ogcapi/collections/{c}/items?f=html",
    "/ogcapi/collections/{c}/items/{i}",
)


def station(n: int, lon: float, lat: float, pm25: float, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:AirQualityObserved:{n}",
        "type": "AirQualityObserved",
        "name": {"type": "LanguageProperty", "languageMap": {"ko": f"정자{n}동", "en": f"J{n}"}},
        "pm25": {
            "type": "Property",
            "value": pm25,
            "unitCode": "GQ",
            "observedAt": "2026-11-01T09:00:00Z",
        },
        "dateObserved": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": f"2026-11-0{1 + n % 3}T09:00:00Z"},
        },
        "secretNote": {"type": "Property", "value": "not for the public"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }
    body.update(extra)
    return body


def seed(client: TestClient, headers: dict[str, str] | None = None) -> None:
    """Five stations around Seongnam, a parking lot, and a Camera that is never published."""
    entities = [
        station(0, 127.10, 37.36, 12),
        station(1, 127.11, 37.39, 38),
        station(2, 127.13, 37.42, 55.5),
        station(3, 127.02, 37.50, 20),  # Seoul: outside the Seongnam box
        station(4, 127.12, 37.38, 38),
        {
            "id": "urn:ngsi-ld:OffStreetParking:1",
            "type": "OffStreetParking",
            "availableSpotNumber": {"type": "Property", "value": 7},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.11, 37.39]},
            },
        },
        {
            "id": "urn:ngsi-ld:Camera:1",
            "type": "Camera",
            "streamUrl": {"type": "Property", "value": "rtsp://private"},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.11, 37.39]},
            },
        },
    ]
    response = client.post(
        "/ngsi-ld/v1/entityOperations/create", json=entities, headers=headers or {}
    )
    assert response.status_code == 201, response.text


def publish(
    client: TestClient, type_name: str, headers: dict[str, str] | None = None, **rule: Any
) -> dict[str, Any]:
    response = client.put(f"/admin/publishing/{type_name}", json=rule, headers=headers or {})
    assert response.status_code in (200, 201), response.text
    doc: dict[str, Any] = response.json()
    return doc


def publish_city(client: TestClient, headers: dict[str, str] | None = None) -> None:
    publish(
        client,
        "AirQualityObserved",
        headers,
        attributes=["name", "pm25", "dateObserved", "location"],
        attribution="Seongnam City",
        history=True,
    )
    publish(client, "OffStreetParking", headers, license="CC0-1.0")
