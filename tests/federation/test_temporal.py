"""Temporal reads forwarded to context sources (ETSI GS CIM 009 v1.9.1 clauses 5.7.3.4
Retrieve Temporal Evolution of an Entity and 5.7.4.4 Query Temporal Evolution of Entities,
distributed; operation names retrieveTemporal / queryTemporal of table 4.20-1, in no
operation group of table 4.20-2), on both backends, against a source played by an
``httpx.MockTransport``."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.federation.support import BASE, VEHICLE, Source, ok, register

T = f"{BASE}/temporal/entities"


def _speeds(*pairs: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": v, "observedAt": t} for v, t in pairs]


def _history(client: TestClient, suffix: str, *pairs: tuple[int, str]) -> None:
    body = {"id": VEHICLE + suffix, "type": "Vehicle", "speed": _speeds(*pairs)}
    r = client.post(T, json=body)
    assert r.status_code in (201, 204), r.text


def _times(doc: dict[str, Any]) -> list[str]:
    return [i["observedAt"] for i in doc["speed"]]


def test_retrieve_merges_a_sources_instances_in_time_order(
    client: TestClient, source: Source
) -> None:
    """Clause 5.7.3.4: the source of a registration that takes retrieveTemporal is asked
    (the same path, the caller's temporal query), and its instances merge with the local
    ones in time order; one both hold is given once."""
    _history(client, "A", (10, "2026-01-01T10:00:00Z"), (30, "2026-01-01T12:00:00Z"))
    register(client, operations=["retrieveTemporal"])
    remote = {
        "id": VEHICLE + "A",
        "type": "Vehicle",
        "speed": _speeds((20, "2026-01-01T11:00:00Z"), (30, "2026-01-01T12:00:00Z")),
    }
    source.answer = ok(remote)
    params = {"timerel": "after", "timeAt": "2026-01-01T00:00:00Z"}
    r = client.get(f"{T}/{VEHICLE}A", params=params)
    assert r.status_code == 200, r.text
    assert _times(r.json()) == [
        "2026-01-01T10:00:00Z",
        "2026-01-01T11:00:00Z",
        "2026-01-01T12:00:00Z",
    ]
    (sent,) = source.requests
    assert sent.url.path == f"{T}/{VEHICLE}A" and sent.url.params["timerel"] == "after"


def test_an_auxiliary_source_only_adds_instances_at_new_times(
    client: TestClient, source: Source
) -> None:
    """Clause 5.7.3.4 (auxiliary): a source's instance is added only when no instance
    received from elsewhere has its time."""
    _history(client, "B", (10, "2026-01-01T10:00:00Z"))
    register(client, mode="auxiliary", operations=["retrieveTemporal"])
    source.answer = ok(
        {
            "id": VEHICLE + "B",
            "type": "Vehicle",
            "speed": _speeds((99, "2026-01-01T10:00:00Z"), (11, "2026-01-01T11:00:00Z")),
        }
    )
    got = client.get(f"{T}/{VEHICLE}B").json()
    assert [(i["value"], i["observedAt"]) for i in got["speed"]] == [
        (10, "2026-01-01T10:00:00Z"),
        (11, "2026-01-01T11:00:00Z"),
    ]


def test_only_registrations_that_take_temporal_reads_are_asked(
    client: TestClient, source: Source
) -> None:
    """Table 4.20-2: no operation group holds retrieveTemporal or queryTemporal, so a
    registration with the default federationOps is not asked."""
    _history(client, "C", (10, "2026-01-01T10:00:00Z"))
    register(client)
    r = client.get(f"{T}/{VEHICLE}C")
    assert r.status_code == 200 and source.requests == []
    r = client.get(T, params={"type": "Vehicle"})
    assert r.status_code == 200 and source.requests == []


def test_an_entity_only_a_source_holds_and_one_nobody_holds(
    client: TestClient, source: Source
) -> None:
    """Clause 5.7.3.4: without a local history the source's is the answer; held nowhere,
    ResourceNotFound."""
    register(client, operations=["retrieveTemporal"])
    source.answer = ok(
        {"id": VEHICLE + "R", "type": "Vehicle", "speed": _speeds((5, "2026-01-01T10:00:00Z"))}
    )
    r = client.get(f"{T}/{VEHICLE}R")
    assert r.status_code == 200 and r.json()["speed"][0]["value"] == 5
    source.answer = lambda request: httpx.Response(404)
    assert client.get(f"{T}/{VEHICLE}Nowhere").status_code == 404


def test_a_failing_or_wrong_source_is_a_warning(client: TestClient, source: Source) -> None:
    """Clause 6.3.17: a source that hangs, fails or answers what is not a temporal entity
    (or another entity) leaves the local answer whole, with an NGSILD-Warning; never a 500
    or a hang."""
    _history(client, "D", (10, "2026-01-01T10:00:00Z"))
    register(client, operations=["retrieveTemporal", "queryTemporal"])
    for answer in (
        lambda r: httpx.Response(200, json=["not", "an", "entity"]),
        lambda r: httpx.Response(500),
        lambda r: httpx.Response(200, content=b"<html>"),
    ):
        source.answer = answer
        r = client.get(f"{T}/{VEHICLE}D")
        assert r.status_code == 200 and _times(r.json()) == ["2026-01-01T10:00:00Z"]
        assert "NGSILD-Warning" in r.headers, r.headers
    source.answer = ok({"id": VEHICLE + "Other", "type": "Vehicle", "speed": _speeds()})
    r = client.get(f"{T}/{VEHICLE}D")
    assert r.status_code == 200 and r.json()["id"] == VEHICLE + "D"
    source.hang = True
    r = client.get(T, params={"type": "Vehicle"})
    assert r.status_code == 200 and [d["id"] for d in r.json()] == [VEHICLE + "D"]
    assert "did not answer within" in r.headers["NGSILD-Warning"]


def test_query_merges_the_sources_entities(client: TestClient, source: Source) -> None:
    """Clause 5.7.4.4: a temporal query goes to the registrations of its type that take
    queryTemporal; an entity both hold is merged, the source's others are added."""
    _history(client, "E", (10, "2026-01-01T10:00:00Z"))
    register(client, operations=["queryTemporal"])
    source.answer = ok(
        [
            {"id": VEHICLE + "E", "type": "Vehicle", "speed": _speeds((1, "2026-01-01T09:00:00Z"))},
            {"id": VEHICLE + "F", "type": "Vehicle", "speed": _speeds((2, "2026-01-01T09:00:00Z"))},
        ]
    )
    r = client.get(
        T, params={"type": "Vehicle", "timerel": "after", "timeAt": "2026-01-01T00:00:00Z"}
    )
    assert r.status_code == 200, r.text
    got = {d["id"][len(VEHICLE) :]: _times(d) for d in r.json()}
    assert got == {
        "E": ["2026-01-01T09:00:00Z", "2026-01-01T10:00:00Z"],
        "F": ["2026-01-01T09:00:00Z"],
    }
    (sent,) = source.requests
    assert sent.url.path == T and sent.url.params["type"] == "Vehicle"
    r = client.get(T, params={"type": "Vehicle", "local": "true"})
    assert [d["id"] for d in r.json()] == [VEHICLE + "E"] and len(source.requests) == 1
