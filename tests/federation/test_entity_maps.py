"""EntityMaps (ETSI GS CIM 009 v1.9.1 clauses 5.2.39, 5.5.14, 5.14; HTTP binding 6.32, 6.34)
and /info/sourceIdentity (clause 5.15, 5.2.40), on both backends, with a context source
played by an ``httpx.MockTransport`` (the ``source`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from starlette.testclient import TestClient

from tests.federation.support import BASE, REG, VEHICLE, Source, create, ok, prop, register, vehicle

MAPS = f"{BASE}/entityMaps"


def _local(client: TestClient, *suffixes: str) -> None:
    for s in suffixes:
        create(client, vehicle(s, speed=prop(50)))


def _map_id(r: httpx.Response) -> str:
    return r.headers["NGSILD-EntityMap"].rsplit("/", 1)[-1]


def _ids(r: httpx.Response) -> list[str]:
    return [e["id"][len(VEHICLE) :] for e in r.json()]


def test_create_entity_map_names_the_source_of_each_entity(
    client: TestClient, source: Source
) -> None:
    """Clause 5.14.4 (6.34.3.1): GET /entityMaps runs the query here and at the matching
    sources; 201, the map's location in NGSILD-EntityMap, and each entity id with "@none"
    (held here) or the registration holding it (5.2.39); no entity payload."""
    _local(client, "L1", "L2")
    register(client)
    source.answer = ok([vehicle("R1", speed=prop(1)), vehicle("L2", speed=prop(2))])
    r = client.get(MAPS, params={"type": "Vehicle"})
    assert r.status_code == 201, r.text
    assert r.headers["NGSILD-EntityMap"] == f"{MAPS}/{r.json()['id']}"
    body = r.json()
    assert body["type"] == "EntityMap" and "speed" not in body
    assert body["entityMap"] == {
        f"{VEHICLE}L1": ["@none"],
        f"{VEHICLE}L2": ["@none", f"{REG}1"],
        f"{VEHICLE}R1": [f"{REG}1"],
    }
    got = client.get(f"{MAPS}/{body['id']}")
    assert got.status_code == 200 and got.json()["entityMap"] == body["entityMap"]
    assert datetime.fromisoformat(got.json()["expiresAt"]) > datetime.now(UTC)


def test_a_paged_query_keeps_to_its_map(client: TestClient, source: Source) -> None:
    """Clause 5.5.14: a query with entityMap=true answers its page and the location of a new
    map; later pages naming it (NGSILD-EntityMap header) consider only the entities it
    lists, in its order, however the sources change meanwhile; an entity that no longer
    matches is removed from the map and the page still fills; count counts the map's."""
    _local(client, "A", "B", "C")
    register(client)
    source.answer = ok([vehicle("D", speed=prop(1)), vehicle("E", speed=prop(1))])
    first = client.get(
        f"{BASE}/entities", params={"type": "Vehicle", "limit": 2, "entityMap": "true"}
    )
    assert first.status_code == 201, first.text  # a map was created (Table 6.4.3.2-3)
    location = first.headers["NGSILD-EntityMap"]
    assert _ids(first) == ["A", "B"]
    _local(client, "F")  # a new entity: not in the map, never in its pages
    source.answer = ok([vehicle("E", speed=prop(1)), vehicle("D", speed=prop(1)), vehicle("G")])
    headers = {"NGSILD-EntityMap": location}
    page = client.get(
        f"{BASE}/entities", params={"type": "Vehicle", "limit": 2, "offset": 2}, headers=headers
    )
    assert page.status_code == 200 and page.headers["NGSILD-EntityMap"] == location
    assert _ids(page) == ["C", "D"]
    assert client.delete(f"{BASE}/entities/{VEHICLE}B").status_code == 204
    page = client.get(
        f"{BASE}/entities",
        params={"type": "Vehicle", "limit": 3, "count": "true"},
        headers=headers,
    )
    assert _ids(page) == ["A", "C", "D"] and page.headers["NGSILD-Results-Count"] == "4"
    entity_map = client.get(f"{MAPS}/{location.rsplit('/', 1)[-1]}").json()["entityMap"]
    assert f"{VEHICLE}B" not in entity_map and f"{VEHICLE}F" not in entity_map
    assert list(entity_map) == [f"{VEHICLE}{s}" for s in "ACDE"]


def test_a_source_that_fails_keeps_its_entities_in_the_map(
    client: TestClient, source: Source
) -> None:
    """Clause 5.5.14: nothing can be inferred about the entities of a source that did not
    answer, so they stay in the map (the page misses them, with a warning)."""
    _local(client, "A")
    register(client)
    source.answer = ok([vehicle("R", speed=prop(1))])
    r = client.get(MAPS, params={"type": "Vehicle"})
    map_id = r.json()["id"]
    source.answer = lambda request: httpx.Response(503)
    page = client.get(
        f"{BASE}/entities", params={"type": "Vehicle"}, headers={"NGSILD-EntityMap": map_id}
    )
    assert page.status_code == 200 and _ids(page) == ["A"]
    assert "answered HTTP 503" in page.headers["NGSILD-Warning"]
    assert f"{VEHICLE}R" in client.get(f"{MAPS}/{map_id}").json()["entityMap"]


def test_an_unknown_or_expired_map_makes_a_new_one(client: TestClient, source: Source) -> None:
    """Clause 5.5.14: a request naming a map that expired or cannot be accessed gets a new
    one (its location in the answer)."""
    _local(client, "A")
    r = client.get(
        f"{BASE}/entities",
        params={"type": "Vehicle"},
        headers={"NGSILD-EntityMap": f"{MAPS}/urn:ngsi-ld:EntityMap:gone"},
    )
    assert r.status_code == 201 and _ids(r) == ["A"]  # a map was (re)created
    new = _map_id(r)
    assert new != "urn:ngsi-ld:EntityMap:gone"
    assert client.get(f"{MAPS}/{new}").json()["entityMap"] == {f"{VEHICLE}A": ["@none"]}


def test_update_changes_only_expires_at_within_the_brokers_bound(
    client: TestClient, source: Source
) -> None:
    """Clause 5.14.2.4: only expiresAt changes (output-only members are ignored), and the
    broker bounds it (Table 6.4.3.2-1, "possibly overriding the requested duration"); an
    expired map cannot be accessed (5.5.14)."""
    _local(client, "A")
    map_id = client.get(MAPS, params={"type": "Vehicle"}).json()["id"]
    r = client.patch(
        f"{MAPS}/{map_id}",
        json={"expiresAt": "2099-01-01T00:00:00Z", "entityMap": {f"{VEHICLE}X": ["@none"]}},
    )
    assert r.status_code == 204, r.text
    got = client.get(f"{MAPS}/{map_id}").json()
    assert got["entityMap"] == {f"{VEHICLE}A": ["@none"]}
    expires = datetime.fromisoformat(got["expiresAt"])
    assert datetime.now(UTC) < expires < datetime.now(UTC) + timedelta(days=2)
    for bad in ({"expiresAt": "tomorrow"}, {"expiresAt": 5}, {"speed": 1}, []):
        r = client.patch(f"{MAPS}/{map_id}", json=bad)
        assert r.status_code == 400, r.text
        assert r.json()["type"].rsplit("/", 1)[-1] in ("BadRequestData", "InvalidRequest")
    r = client.patch(f"{MAPS}/{map_id}", json={"expiresAt": "2000-01-01T00:00:00Z"})
    assert r.status_code == 204
    assert client.get(f"{MAPS}/{map_id}").status_code == 404
    assert client.delete(f"{MAPS}/{map_id}").status_code == 404


def test_maps_refuse_bad_ids_and_stay_in_their_tenant(client: TestClient, source: Source) -> None:
    """Clauses 5.14.1.4, 5.14.3.4: an id that is not a URI is BadRequestData, an unknown one
    ResourceNotFound; another tenant sees none of the map (4.14); delete is 204, then 404."""
    _local(client, "A")
    map_id = client.get(MAPS, params={"type": "Vehicle"}).json()["id"]
    for method in ("GET", "DELETE"):
        r = client.request(method, f"{MAPS}/not a uri")
        assert r.status_code == 400 and r.json()["type"].endswith("BadRequestData"), r.text
        r = client.request(method, f"{MAPS}/urn:ngsi-ld:EntityMap:unknown")
        assert r.status_code == 404 and r.json()["type"].endswith("ResourceNotFound")
    other = {"NGSILD-Tenant": "other"}
    client.post(f"{BASE}/entities", json=vehicle("O"), headers=other)
    for method in ("GET", "DELETE"):
        r = client.request(method, f"{MAPS}/{map_id}", headers=other)
        assert r.status_code == 404 and VEHICLE not in r.text
    assert client.delete(f"{MAPS}/{map_id}").status_code == 204
    assert client.get(f"{MAPS}/{map_id}").status_code == 404


def test_create_refuses_a_too_wide_query_and_a_bad_lifetime(
    client: TestClient, source: Source
) -> None:
    """Clause 5.14.4.4: a query without type, attrs, q, geo-query or local is too wide
    (BadRequestData); entityMapLifetime is an ISO 8601 duration (Table 6.4.3.2-1), bounded
    by the broker; entityMap is true or false."""
    _local(client, "A")
    r = client.get(MAPS, params={"id": f"{VEHICLE}A"})
    assert r.status_code == 400 and r.json()["type"].endswith("BadRequestData")
    for bad in ("1hour", "P", "PT0S", "P" + "9" * 80 + "D"):
        r = client.get(MAPS, params={"type": "Vehicle", "entityMapLifetime": bad})
        assert r.status_code == 400, (bad, r.text)
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "entityMap": "yes"})
    assert r.status_code == 400
    r = client.get(MAPS, params={"type": "Vehicle", "entityMapLifetime": "P3650D"})
    expires = datetime.fromisoformat(r.json()["expiresAt"])
    assert expires < datetime.now(UTC) + timedelta(days=2)
    r = client.get(MAPS, params={"type": "Vehicle", "local": "true", "entityMapLifetime": "PT5M"})
    assert r.status_code == 201 and r.json()["entityMap"] == {f"{VEHICLE}A": ["@none"]}


def test_source_identity(client: TestClient) -> None:
    """Clause 5.15.1 (5.2.40): GET /info/sourceIdentity answers a ContextSourceIdentity whose
    alias is the name this hub puts in Via (so a peer can detect loops), per tenant."""
    r = client.get(f"{BASE}/info/sourceIdentity")
    assert r.status_code == 200, r.text
    body = r.json()
    identity = client.app.state.federation.identity  # type: ignore[attr-defined]
    assert body["type"] == "ContextSourceIdentity" and body["contextSourceAlias"] == identity
    assert body["id"].startswith("urn:ngsi-ld:ContextSourceIdentity:")
    assert body["contextSourceUptime"].startswith("P") and "T" in body["contextSourceUptime"]
    assert datetime.fromisoformat(body["contextSourceTimeAt"]) <= datetime.now(UTC)
    assert body["contextSourceExtras"]["product"] == "cityhub"
    client.post(f"{BASE}/entities", json=vehicle("D"), headers={"NGSILD-Tenant": "district"})
    r = client.get(f"{BASE}/info/sourceIdentity", headers={"NGSILD-Tenant": "district"})
    assert r.status_code == 200 and r.json()["contextSourceAlias"] == f"{identity}:district"
    ld = client.get(f"{BASE}/info/sourceIdentity", headers={"Accept": "application/ld+json"})
    assert "@context" in ld.json()


def test_a_temporal_entity_map_holds_the_entities_with_history_in_the_window(
    client: TestClient, source: Source
) -> None:
    """Clause 5.14.5.4 (6.35.3.1): GET /temporal/entityMaps needs a temporal query; the map
    holds the entities with instances in its window, here and at the sources that take
    queryTemporal; an empty window, an empty map."""
    body = {
        "id": f"{VEHICLE}H",
        "type": "Vehicle",
        "speed": [{"type": "Property", "value": 5, "observedAt": "2026-01-01T10:00:00Z"}],
    }
    assert client.post(f"{BASE}/temporal/entities", json=body).status_code in (201, 204)
    register(client, operations=["queryTemporal"])
    source.answer = ok([{"id": f"{VEHICLE}S", "type": "Vehicle"}])
    temporal_maps = f"{BASE}/temporal/entityMaps"
    r = client.get(temporal_maps, params={"type": "Vehicle"})
    assert r.status_code == 400 and r.json()["type"].endswith("BadRequestData")
    window = {"type": "Vehicle", "timerel": "before", "timeAt": "2999-01-01T00:00:00Z"}
    r = client.get(temporal_maps, params=window)
    assert r.status_code == 201, r.text
    assert r.json()["entityMap"] == {f"{VEHICLE}H": ["@none"], f"{VEHICLE}S": [f"{REG}1"]}
    assert client.get(f"{MAPS}/{_map_id(r)}").status_code == 200
    source.answer = ok([])
    r = client.get(temporal_maps, params={**window, "timeAt": "2000-01-01T00:00:00Z"})
    assert r.status_code == 201 and r.json()["entityMap"] == {}
