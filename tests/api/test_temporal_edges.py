"""Temporal queries at the edges of representable time (ETSI GS CIM 009 clause 4.11), on the
SQLite store: answers, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.settings import Settings

T = "/ngsi-ld/v1/temporal/entities"
VID = "urn:ngsi-ld:Vehicle:1"
LAST = "9999-12-31T23:59:59.999999Z"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(store=f"sqlite:///{tmp_path / 'edges.db'}"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_after_the_last_instant_is_empty(client: TestClient) -> None:
    speed = [{"type": "Property", "value": 1, "observedAt": LAST}]
    assert client.post(T, json={"id": VID, "type": "Vehicle", "speed": speed}).status_code == 201
    r = client.get(f"{T}/{VID}", params={"timerel": "after", "timeAt": LAST})
    assert r.status_code == 200 and "speed" not in r.json()
    r = client.get(f"{T}/{VID}", params={"timerel": "before", "timeAt": LAST})
    assert r.status_code == 200 and "speed" not in r.json()
    r = client.get(f"{T}/{VID}", params={"timerel": "after", "timeAt": "9999-12-31T23:59:59Z"})
    assert [i["value"] for i in r.json()["speed"]] == [1]
