"""Shared fixtures: an app on a throwaway SQLite file, driven in-process (no server, no network)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.settings import Settings
from tests.postgres.fixtures import postgres_server, postgres_url  # noqa: F401 (fixtures)
from tests.skip_summary import pytest_terminal_summary  # noqa: F401 (hook: what was skipped)

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def make_client(tmp_path: Path, store: str | None = None, **overrides: object) -> TestClient:
    store = store or f"sqlite:///{tmp_path / 'test.db'}"
    # the city services write back to entities after the commit; tests of other features
    # compare entities exactly, so they run without them (tests/airquality turns them on)
    overrides.setdefault("airquality_service", False)
    overrides.setdefault("indicators_service", False)
    settings = Settings(store=store, **overrides)  # type: ignore[arg-type]
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every backend in turn (the contract suite): a fresh SQLite file, or a fresh schema of
    PostgreSQL (skipped, with the reason, when no PostgreSQL can be had; tests/postgres)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def client(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(tmp_path, store_url) as c:
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
