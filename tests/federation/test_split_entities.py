"""Split entities (ETSI GS CIM 009 v1.9.1 clause 5.7.2.4, ``splitEntities``): an entity whose
attributes are held here and by an inclusive source is filtered once merged. The filters (q,
geo-query, scopeQ, attrs) are taken off the forwarded query and applied to the merged
entities (``cityhub.ngsild.split``), with the q evaluator whose answers are the stores'
(tests/store/contract/test_q_evaluator.py). Both backends, the source an httpx.MockTransport."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from starlette.testclient import TestClient

from tests.federation.support import (
    BASE,
    VEHICLE,
    Source,
    create,
    federate,
    ok,
    prop,
    register,
    vehicle,
)

Q = 'speed>50;brandName=="Tesla"'


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return sorted(e["id"].removeprefix(VEHICLE) for e in r.json())


def _query(client: TestClient, q: str = Q, **params: str) -> httpx.Response:
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return client.get(f"{BASE}/entities?type=Vehicle&q={quote(q)}{extra}")


def test_without_split_entities_the_filters_are_forwarded(
    client: TestClient, source: Source
) -> None:
    """5.7.2.4, the deployment's default (setting federation_split_entities false): each
    source filters its own part (so a part that needs the other to match is missed)."""
    create(client, vehicle("S", brandName=prop("Tesla")))
    register(client)
    source.answer = ok([])
    assert _ids(_query(client, scopeQ="/A")) == []
    (sent,) = source.requests
    assert sent.url.params["q"] == Q and sent.url.params["scopeQ"] == "/A"


def test_split_entities_strips_the_filters_and_filters_the_merged_entities(
    client: TestClient, source: Source
) -> None:
    """The fork's 5724_02_02 and the clause's point: the local part holds the brand, the
    source the speed; only merged do they match. A part that matches alone but whose merged
    entity does not (the source's newer speed) is left out; a local entity the source does
    not hold is judged as it is."""
    create(client, vehicle("S", brandName=prop("Tesla")))  # speed from the source: 99
    create(client, vehicle("Slow", brandName=prop("Tesla")))  # speed from the source: 10
    create(  # matches alone, but the source's newer speed does not
        client,
        vehicle(
            "Stale",
            brandName=prop("Tesla"),
            speed=prop(90, observedAt="2026-01-01T10:00:00Z"),
        ),
    )
    create(client, vehicle("Here", brandName=prop("Tesla"), speed=prop(70)))  # local only
    create(client, vehicle("Other", brandName=prop("Volvo")))  # speed from the source: 99
    register(client)
    source.answer = ok(
        [
            vehicle("S", speed=prop(99)),
            vehicle("Slow", speed=prop(10)),
            vehicle("Stale", speed=prop(20, observedAt="2026-01-01T11:00:00Z")),
            vehicle("Other", speed=prop(99)),
            vehicle("Remote", speed=prop(99), brandName=prop("Tesla")),  # remote only
        ]
    )
    r = _query(client, splitEntities="true", scopeQ="/%23", attrs="speed,brandName", count="true")
    assert r.status_code == 200, r.text
    # scopeQ=/# asks for entities with a scope: none has one, so nothing matches
    assert r.json() == [] and r.headers["NGSILD-Results-Count"] == "0"
    source.requests.clear()
    r = _query(client, splitEntities="true", attrs="speed,brandName", count="true")
    assert _ids(r) == ["Here", "Remote", "S"]
    assert r.headers["NGSILD-Results-Count"] == "3"
    merged = {e["id"].removeprefix(VEHICLE): e for e in r.json()}
    assert merged["S"]["speed"]["value"] == 99 and merged["S"]["brandName"]["value"] == "Tesla"
    (sent,) = source.requests
    assert sent.url.params["type"] == "Vehicle"
    assert not {"q", "scopeQ", "attrs", "georel"} & set(sent.url.params)
    assert sent.url.params["splitEntities"] == "true"


def test_split_entities_filters_scope_and_geo_after_merging(
    client: TestClient, source: Source
) -> None:
    """scopeQ (4.19) and the geo-query (4.10) read the merged entity: the scope and the
    location are held here, the speed q asks for by the source."""
    near = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.1, 37.4]}}
    far = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}}
    create(client, {**vehicle("Near", location=near), "scope": "/Seongnam/Bundang"})
    create(client, {**vehicle("Far", location=far), "scope": "/Seongnam/Bundang"})
    create(client, {**vehicle("Elsewhere", location=near), "scope": "/Seoul"})
    register(client)
    source.answer = ok([vehicle(n, speed=prop(99)) for n in ("Near", "Far", "Elsewhere")])
    geo = "georel=near;maxDistance==2000&geometry=Point&coordinates=[127.1,37.401]"
    r = client.get(
        f"{BASE}/entities?type=Vehicle&q=speed>50&scopeQ=/Seongnam/%23&{geo}&splitEntities=true"
    )
    assert _ids(r) == ["Near"]
    (sent,) = source.requests
    assert not {"q", "scopeQ", "georel", "geometry", "coordinates"} & set(sent.url.params)


def test_the_deployment_default_and_the_request_override_it(client: TestClient) -> None:
    """Setting federation_split_entities: the default a request's splitEntities overrides."""
    source = Source()
    federate(client, source, federation_timeout=0.5, federation_split_entities=True)
    create(client, vehicle("S", brandName=prop("Tesla")))
    register(client)
    source.answer = ok([vehicle("S", speed=prop(99))])
    assert _ids(_query(client)) == ["S"]
    assert "q" not in source.requests[-1].url.params
    assert _ids(_query(client, splitEntities="false")) == ["S"]  # the source ignored q here
    assert source.requests[-1].url.params["q"] == Q


def test_a_post_query_with_split_entities_forwards_its_query_without_filters(
    client: TestClient, source: Source
) -> None:
    """POST /entityOperations/query: the Query forwarded has no q, geoQ, scopeQ or attrs."""
    create(client, vehicle("S", brandName=prop("Tesla")))
    register(client, operations=["federationOps"])
    source.answer = ok([vehicle("S", speed=prop(99)), vehicle("T", speed=prop(99))])
    body = {"type": "Query", "entities": [{"type": "Vehicle"}], "q": Q, "scopeQ": "/a/#"}
    r = client.post(f"{BASE}/entityOperations/query?splitEntities=true", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == []  # no merged entity has a scope under /a
    sent = json.loads(source.requests[-1].content)
    assert sent["entities"] == [{"type": "Vehicle"}] and not {"q", "scopeQ"} & set(sent)
    del body["scopeQ"]
    r = client.post(f"{BASE}/entityOperations/query?splitEntities=true", json=body)
    assert _ids(r) == ["S"]


@pytest.mark.parametrize(
    "q",
    [
        'speed~="(unclosed"',
        "speed.observedAt.x==1",
        "speed==true..false",
        "speed>urn:a",
        "((((speed==1",
        "speed==1;;",
        'speed=="' + "x" * 10 + "\\",
        "createdAt.x==1",
    ],
)
def test_a_hostile_q_is_a_400_before_any_source_is_asked(
    client: TestClient, source: Source, q: str
) -> None:
    register(client)
    source.answer = ok([vehicle("S", speed=prop(99))])
    r = _query(client, q, splitEntities="true")
    assert r.status_code == 400, r.text
    media = r.headers["content-type"].split(";")[0]
    assert media in ("application/json", "application/problem+json")
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert source.requests == []


def test_split_entities_takes_true_or_false_only(client: TestClient, source: Source) -> None:
    register(client)
    r = _query(client, splitEntities="yes")
    assert r.status_code == 400 and "splitEntities" in r.json()["detail"]
    assert source.requests == []
