"""Entity routes: clauses 5.6.1-5.6.6, 5.6.17-5.6.19, 5.7.1-5.7.2 of ETSI GS CIM 009 v1.8.1."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import DEFAULT, entity

ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def problem(response: object, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == ERR + kind
    assert body["title"] and body["detail"] and body["status"] == status
    return body  # type: ignore[no-any-return]


# 5.6.1 Create Entity
def test_create_then_retrieve(client: TestClient) -> None:
    r = client.post("/ngsi-ld/v1/entities", json=entity())
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1"
    r = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1")
    assert r.status_code == 200
    body = r.json()
    assert body == {**entity()}
    assert "ngsi-ld-core-context" in r.headers["link"]
    assert r.headers["content-type"].startswith("application/json")


def test_create_twice_is_already_exists(client: TestClient) -> None:
    assert client.post("/ngsi-ld/v1/entities", json=entity()).status_code == 201
    problem(client.post("/ngsi-ld/v1/entities", json=entity()), 409, "AlreadyExists")


def test_create_rejects_bad_bodies_and_changes_nothing(client: TestClient) -> None:
    bad = [
        {"type": "T"},  # no id
        {"id": "not a uri", "type": "T"},
        {"id": "urn:x:1"},  # no type
        {"id": "urn:x:1", "type": "T", "a": {"type": "Property"}},  # no value
        {"id": "urn:x:1", "type": "T", "a": {"type": "Relationship", "object": "nope"}},
        {"id": "urn:x:1", "type": "T", "a": {"type": "Wrong", "value": 1}},
        {
            "id": "urn:x:1",
            "type": "T",
            "location": {"type": "GeoProperty", "value": {"type": "Point"}},
        },
        {"id": "urn:x:1", "type": "T", "a": None},
        {"id": "urn:x:1", "type": "T", "a=b": 1},
        {
            "id": "urn:x:1",
            "type": "T",
            "a": {"type": "Property", "value": 1, "observedAt": "yesterday"},
        },
    ]
    for body in bad:
        problem(client.post("/ngsi-ld/v1/entities", json=body), 400, "BadRequestData")
    problem(client.get("/ngsi-ld/v1/entities/urn:x:1"), 404, "ResourceNotFound")


def test_malformed_json_is_invalid_request(client: TestClient) -> None:
    r = client.post(
        "/ngsi-ld/v1/entities", content=b"{not json", headers={"content-type": "application/json"}
    )
    problem(r, 400, "InvalidRequest")


def test_media_types(client: TestClient) -> None:
    # clause 6.3.4: 415 for an unsupported Content-Type, 406 for an Accept we cannot produce
    r = client.post("/ngsi-ld/v1/entities", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    client.post("/ngsi-ld/v1/entities", json=entity())
    r = client.get(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1", headers={"accept": "text/html"}
    )
    assert r.status_code == 406
    r = client.get(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1",
        headers={"accept": "application/ld+json"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/ld+json")
    assert "link" not in r.headers
    assert r.json()["@context"]


def test_ld_json_body_needs_context(client: TestClient) -> None:
    r = client.post(
        "/ngsi-ld/v1/entities", json=entity(), headers={"content-type": "application/ld+json"}
    )
    problem(r, 400, "BadRequestData")
    body = {**entity(), "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"}
    r = client.post(
        "/ngsi-ld/v1/entities",
        content=__import__("orjson").dumps(body),
        headers={"content-type": "application/ld+json"},
    )
    assert r.status_code == 201, r.text


def test_representations(client: TestClient) -> None:
    client.post(
        "/ngsi-ld/v1/entities",
        json=entity(
            name={"type": "LanguageProperty", "languageMap": {"en": "Pangyo", "ko": "판교"}},
            near={"type": "Relationship", "object": "urn:ngsi-ld:School:1"},
            pm25={"type": "Property", "value": 18},
        ),
    )
    url = "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1"
    kv = client.get(url, params={"options": "keyValues"}).json()
    assert kv == {
        "id": "urn:ngsi-ld:AirQualityObserved:1",
        "type": "AirQualityObserved",
        "name": {"en": "Pangyo", "ko": "판교"},
        "near": "urn:ngsi-ld:School:1",
        "pm25": 18,
    }
    concise = client.get(url, params={"format": "concise"}).json()
    assert concise["pm25"] == 18
    assert concise["near"] == {"object": "urn:ngsi-ld:School:1"}
    lang = client.get(url, params={"lang": "ko"}).json()
    assert lang["name"] == {"type": "Property", "value": "판교", "lang": "ko"}
    sys = client.get(url, params={"options": "sysAttrs"}).json()
    assert sys["createdAt"] and sys["pm25"]["modifiedAt"]
    picked = client.get(url, params={"pick": "id,pm25"}).json()
    assert picked == {
        "id": "urn:ngsi-ld:AirQualityObserved:1",
        "pm25": {"type": "Property", "value": 18},
    }
    omitted = client.get(url, params={"omit": "name,near,type"}).json()
    assert set(omitted) == {"id", "pm25"}


def test_query_by_type_q_and_count(client: TestClient) -> None:
    for i in range(5):
        client.post(
            "/ngsi-ld/v1/entities",
            json=entity(
                f"urn:ngsi-ld:AirQualityObserved:{i}", pm25={"type": "Property", "value": i * 10}
            ),
        )
    r = client.get(
        "/ngsi-ld/v1/entities",
        params={"type": "AirQualityObserved", "q": "pm25>15", "count": "true"},
    )
    assert r.status_code == 200, r.text
    assert sorted(e["id"][-1] for e in r.json()) == ["2", "3", "4"]
    assert r.headers["ngsild-results-count"] == "3"
    r = client.get(
        "/ngsi-ld/v1/entities", params={"type": "AirQualityObserved", "limit": 2, "offset": 1}
    )
    assert [e["id"][-1] for e in r.json()] == ["1", "2"]
    problem(
        client.get("/ngsi-ld/v1/entities", params={"type": "T", "limit": 5000}),
        403,
        "TooManyResults",
    )
    problem(client.get("/ngsi-ld/v1/entities"), 400, "BadRequestData")
    problem(
        client.get("/ngsi-ld/v1/entities", params={"type": "T", "limit": "x"}),
        400,
        "BadRequestData",
    )


def test_append_update_patch_delete_attrs(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=entity())
    url = "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1"
    # 5.6.3 append, noOverwrite reports what it kept
    r = client.post(url + "/attrs", json={"no2": {"type": "Property", "value": 0.02}})
    assert r.status_code == 204, r.text
    r = client.post(
        url + "/attrs",
        params={"options": "noOverwrite"},
        json={"no2": {"type": "Property", "value": 9}},
    )
    assert r.status_code == 207
    # UpdateResult has no @context, so names are full IRIs (as ETSI test 010_04_01 expects)
    assert r.json()["notUpdated"][0]["attributeName"] == DEFAULT + "no2"
    # 5.6.2 update (as the ETSI suite reads v1.8: 011_01_03 appends attributes that do not
    # exist; 011_05_02 reports a scope update on an entity without scope as not updated)
    r = client.patch(
        url + "/attrs",
        json={"no2": {"type": "Property", "value": 0.03}, "o3": {"type": "Property", "value": 1}},
    )
    assert r.status_code == 204
    assert client.get(url).json()["o3"] == {"type": "Property", "value": 1}
    r = client.patch(url + "/attrs", json={"scope": "/Seongnam"})
    assert r.status_code == 207
    assert r.json()["notUpdated"][0]["attributeName"] == "scope"
    # 5.6.4 partial attribute update keeps the other members
    r = client.patch(url + "/attrs/pm25", json={"value": 40})
    assert r.status_code == 204, r.text
    pm = client.get(url).json()["pm25"]
    assert pm["value"] == 40 and pm["unitCode"] == "GQ"
    # 5.6.5 delete attribute
    assert client.delete(url + "/attrs/no2").status_code == 204
    assert "no2" not in client.get(url).json()
    problem(client.delete(url + "/attrs/no2"), 404, "ResourceNotFound")


def test_dataset_ids(client: TestClient) -> None:
    client.post(
        "/ngsi-ld/v1/entities",
        json=entity(
            pm25=[
                {"type": "Property", "value": 1},
                {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:b"},
            ]
        ),
    )
    url = "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1"
    assert len(client.get(url).json()["pm25"]) == 2
    r = client.delete(url + "/attrs/pm25", params={"datasetId": "urn:ngsi-ld:Dataset:b"})
    assert r.status_code == 204
    assert client.get(url).json()["pm25"] == {"type": "Property", "value": 1}
    problem(
        client.post(
            "/ngsi-ld/v1/entities",
            json=entity(
                "urn:x:2", pm25=[{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]
            ),
        ),
        400,
        "BadRequestData",
    )


def test_merge_and_replace(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=entity())
    url = "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1"
    r = client.patch(
        url,
        json={"pm25": {"value": 30}, "no2": 0.1},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 204, r.text
    body = client.get(url).json()
    assert body["pm25"]["value"] == 30 and body["pm25"]["unitCode"] == "GQ"
    assert body["no2"] == {"type": "Property", "value": 0.1}
    r = client.patch(url, json={"no2": "urn:ngsi-ld:null"})
    assert r.status_code == 204
    assert "no2" not in client.get(url).json()
    r = client.put(url, json={"type": "AirQualityObserved", "so2": 3})
    assert r.status_code == 204, r.text
    assert set(client.get(url).json()) == {"id", "type", "so2"}


def test_delete_entity_and_purge(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=entity())
    client.post("/ngsi-ld/v1/entities", json=entity("urn:ngsi-ld:AirQualityObserved:2"))
    assert client.delete("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1").status_code == 204
    problem(
        client.delete("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1"),
        404,
        "ResourceNotFound",
    )
    assert (
        client.delete("/ngsi-ld/v1/entities", params={"type": "AirQualityObserved"}).status_code
        == 204
    )
    assert client.get("/ngsi-ld/v1/entities", params={"type": "AirQualityObserved"}).json() == []


def test_tenants(client: TestClient) -> None:
    # clause 5.5.9 / 6.3.14: a tenant exists from its first write; reads of an unknown one → 404
    problem(
        client.get(
            "/ngsi-ld/v1/entities", params={"type": "T"}, headers={"NGSILD-Tenant": "goyang"}
        ),
        404,
        "NonexistentTenant",
    )
    r = client.post("/ngsi-ld/v1/entities", json=entity(), headers={"NGSILD-Tenant": "goyang"})
    assert r.status_code == 201
    r = client.get(
        "/ngsi-ld/v1/entities",
        params={"type": "AirQualityObserved"},
        headers={"NGSILD-Tenant": "goyang"},
    )
    assert len(r.json()) == 1
    assert client.get("/ngsi-ld/v1/entities", params={"type": "AirQualityObserved"}).json() == []


def test_types_and_attributes(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=entity())
    assert client.get("/ngsi-ld/v1/types").json()["typeList"] == ["AirQualityObserved"]
    info = client.get("/ngsi-ld/v1/types/AirQualityObserved").json()
    assert info["entityCount"] == 1
    assert {a["attributeName"] for a in info["attributeDetails"]} == {"pm25", "location"}
    attrs = client.get("/ngsi-ld/v1/attributes").json()["attributeList"]
    assert sorted(attrs) == ["location", "pm25"]
    pm = client.get("/ngsi-ld/v1/attributes/pm25").json()
    assert pm["attributeCount"] == 1 and pm["typeNames"] == ["AirQualityObserved"]
    problem(client.get("/ngsi-ld/v1/types/Nope"), 404, "ResourceNotFound")


def test_the_plain_type_list_matches_the_detailed_one(client: TestClient) -> None:
    """Clause 5.7.5/5.7.6: the plain list comes from the type index alone (it read every entity
    and attribute before: 4-7 s at 100,000 entities), so it must name the same types as the
    detailed list, multi-typed entities and tenants included; /types/{type} reads one type."""
    client.post("/ngsi-ld/v1/entities", json=entity())
    both = entity("urn:ngsi-ld:Thing:2", speed={"type": "Property", "value": 3})
    both["type"] = ["Streetlight", "Camera"]
    client.post("/ngsi-ld/v1/entities", json=both)
    client.post(
        "/ngsi-ld/v1/entities",
        json=entity("urn:ngsi-ld:Thing:3", speed={"type": "Property", "value": 3})
        | {"type": "Bus"},
        headers={"NGSILD-Tenant": "goyang"},
    )
    plain = client.get("/ngsi-ld/v1/types").json()
    detailed = client.get("/ngsi-ld/v1/types", params={"details": "true"}).json()
    assert plain["type"] == "EntityTypeList"
    assert plain["typeList"] == ["AirQualityObserved", "Camera", "Streetlight"]
    assert [d["typeName"] for d in detailed] == plain["typeList"]
    other = client.get("/ngsi-ld/v1/types", headers={"NGSILD-Tenant": "goyang"}).json()
    assert other["typeList"] == ["Bus"]
    camera = client.get("/ngsi-ld/v1/types/Camera").json()
    assert camera["entityCount"] == 1
    assert [a["attributeName"] for a in camera["attributeDetails"]] == ["speed"]


def test_oversized_body_is_413_and_changes_nothing(tmp_path: object) -> None:
    from tests.conftest import make_client

    with make_client(tmp_path, max_body_bytes=200) as c:  # type: ignore[arg-type]
        big = entity(pm25={"type": "Property", "value": "x" * 500})
        r = c.post("/ngsi-ld/v1/entities", json=big)
        assert r.status_code == 413
        assert r.json()["detail"].startswith("the body is")
        assert c.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1").status_code == 404


def test_unknown_url_parameter_is_invalid_request(client: TestClient) -> None:
    # clause 6.3.20 (ETSI 059_01): a parameter the API does not define is a 400 InvalidRequest
    problem(
        client.get("/ngsi-ld/v1/entities", params={"type": "T", "limt": "5"}), 400, "InvalidRequest"
    )


def test_ids_alone_do_not_make_a_query(client: TestClient) -> None:
    # clause 6.4.3.2 (ETSI 019_03_05): id needs type, attrs, q or a geo-query beside it
    problem(client.get("/ngsi-ld/v1/entities", params={"id": "urn:a:1"}), 400, "BadRequestData")


def test_linked_entities_inline_and_flat(client: TestClient) -> None:
    # clause 4.5.23: join=inline puts the target under "entity"; join=flat appends it
    client.post("/ngsi-ld/v1/entities", json={"id": "urn:ngsi-ld:School:1", "type": "School"})
    client.post(
        "/ngsi-ld/v1/entities",
        json=entity(near={"type": "Relationship", "object": "urn:ngsi-ld:School:1"}),
    )
    url = "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:1"
    inline = client.get(url, params={"join": "inline"}).json()
    assert inline["near"]["entity"] == {"id": "urn:ngsi-ld:School:1", "type": "School"}
    flat = client.get(url, params={"join": "flat", "options": "keyValues"}).json()
    assert [e["id"] for e in flat] == ["urn:ngsi-ld:AirQualityObserved:1", "urn:ngsi-ld:School:1"]


def test_order_by(client: TestClient) -> None:
    for i, v in enumerate([30, 10, 20]):
        client.post("/ngsi-ld/v1/entities", json=entity(f"urn:a:{i}", pm25=v))
    r = client.get(
        "/ngsi-ld/v1/entities", params={"type": "AirQualityObserved", "orderBy": "pm25;desc"}
    )
    assert [e["id"] for e in r.json()] == ["urn:a:0", "urn:a:2", "urn:a:1"]


def test_every_attribute_type_round_trips(client: TestClient) -> None:
    # clause 4.5: the eight attribute types, normalized in and out unchanged
    attrs = {
        "name": {"type": "LanguageProperty", "languageMap": {"ko": "판교", "en": "Pangyo"}},
        "category": {"type": "VocabProperty", "vocab": "residential"},
        "config": {"type": "JsonProperty", "json": {"a": [1, 2], "b": None}},
        "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
        "sensors": {
            "type": "ListRelationship",
            "objectList": [{"object": "urn:s:1"}, {"object": "urn:s:2"}],
        },
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Org:1"},
        "area": {
            "type": "GeoProperty",
            "value": {
                "type": "Polygon",
                "coordinates": [[[127.1, 37.4], [127.2, 37.4], [127.2, 37.5], [127.1, 37.4]]],
            },
        },
        "pm25": {
            "type": "Property",
            "value": 12.5,
            "unitCode": "GQ",
            "observedAt": "2026-11-22T09:00:00Z",
            "quality": {"type": "Property", "value": "good"},
        },
    }
    r = client.post(
        "/ngsi-ld/v1/entities",
        json={"id": "urn:x:all", "type": ["A", "B"], "scope": "/Seongnam/Bundang", **attrs},
    )
    assert r.status_code == 201, r.text
    body = client.get("/ngsi-ld/v1/entities/urn:x:all").json()
    assert body["type"] == ["A", "B"] and body["scope"] == "/Seongnam/Bundang"
    for name, value in attrs.items():
        assert body[name] == value, name


def test_malformed_context_url_is_bad_request_not_500(client: TestClient) -> None:
    # found by the ETSI run (053_06 setup sends a doubled URL): httpx.InvalidURL must not be a 500
    body = {**entity(), "@context": "http://127.0.0.1:8087http://127.0.0.1:8087/api/v1/ctx.jsonld"}
    r = client.post(
        "/ngsi-ld/v1/entities",
        content=__import__("orjson").dumps(body),
        headers={"content-type": "application/ld+json"},
    )
    problem(r, 400, "BadRequestData")
