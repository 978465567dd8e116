"""Geo-queries (ETSI GS CIM 009 clause 4.10) answer the same on PostgreSQL/PostGIS as on SQLite:
one data set, every georel, both backends, the same entities (in any order: without orderBy the
spec sets none, and SQLite walks its spatial index centre first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import make_client

E = "/ngsi-ld/v1/entities"
POINTS = [(127.10 + 0.01 * i, 37.40 + 0.005 * (i % 4)) for i in range(12)]
AREA = [
    [[127.115, 37.395], [127.175, 37.395], [127.175, 37.42], [127.115, 37.42], [127.115, 37.395]]
]
QUERIES = [
    {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": "[127.12,37.40]"},
    {"georel": "near;minDistance==5000", "geometry": "Point", "coordinates": "[127.12,37.40]"},
    {"georel": "within", "geometry": "Polygon", "coordinates": str(AREA).replace(" ", "")},
    {"georel": "intersects", "geometry": "Polygon", "coordinates": str(AREA).replace(" ", "")},
    {"georel": "disjoint", "geometry": "Polygon", "coordinates": str(AREA).replace(" ", "")},
    {"georel": "contains", "geometry": "Point", "coordinates": "[127.2,37.40]"},
    {"georel": "equals", "geometry": "Point", "coordinates": "[127.13,37.415]"},
    {"georel": "overlaps", "geometry": "Polygon", "coordinates": str(AREA).replace(" ", "")},
]


def _entities() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "id": f"urn:ngsi-ld:Sensor:{i}",
            "type": "Sensor",
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [x, y]}},
        }
        for i, (x, y) in enumerate(POINTS)
    ]
    square = [[[127.19, 37.39], [127.21, 37.39], [127.21, 37.41], [127.19, 37.41], [127.19, 37.39]]]
    out.append(
        {
            "id": "urn:ngsi-ld:Park:1",
            "type": "Sensor",
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Polygon", "coordinates": square},
            },
        }
    )
    return out


def _answers(tmp_path: Path, store: str) -> list[list[str]]:
    with make_client(tmp_path, store) as client:
        r = client.post(f"{E[:-9]}/entityOperations/upsert", json=_entities())
        assert r.status_code in (200, 201, 204), r.text
        moved = {"location": {"type": "Point", "coordinates": [127.13, 37.415]}}
        r = client.patch(f"{E}/urn:ngsi-ld:Sensor:3/attrs", json=moved)  # the index follows
        assert r.status_code == 204, r.text
        answers = []
        for q in QUERIES:
            r = client.get(E, params={"type": "Sensor", "limit": "100", **q})
            assert r.status_code == 200, (q, r.text)
            answers.append([d["id"] for d in r.json()])
        return answers


def test_every_georel_answers_as_on_sqlite(tmp_path: Path, postgres_url: str) -> None:
    sqlite = _answers(tmp_path, f"sqlite:///{tmp_path / 'geo.db'}")
    postgres = _answers(tmp_path, postgres_url)
    for q, a, b in zip(QUERIES, sqlite, postgres, strict=True):
        assert sorted(a) == sorted(b), q["georel"]
    assert all(sqlite[:4]) and "urn:ngsi-ld:Sensor:3" in sqlite[6]  # not vacuously equal
