"""Shared fixtures: an app on a throwaway SQLite file, driven in-process (no server, no network)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.settings import Settings

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def make_client(tmp_path: Path, **overrides: object) -> TestClient:
    settings = Settings(store=f"sqlite:///{tmp_path / 'test.db'}", **overrides)  # type: ignore[arg-type]
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def entity(eid: str = "urn:ngsi-ld:AirQualityObserved:1", **attrs: object) -> dict[str, object]:
    body: dict[str, object] = {"id": eid, "type": "AirQualityObserved"}
    body.update(
        attrs
        or {
            "pm25": {
                "type": "Property",
                "value": 18,
                "unitCode": "GQ",
                "observedAt": "2026-11-01T09:00:00Z",
            },
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.1, 37.4]},
            },
        }
    )
    return body
