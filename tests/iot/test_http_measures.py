"""The HTTP transport (iotagent-ul/iotagent-json "HTTP binding") on both backends: measures
become NGSI-LD attributes with unitCode and observedAt; autoprovision, explicitAttrs,
expressions, static attributes; every hostile payload refused whole, counted, nothing written."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.iot._support import APIKEY, LD, UL, H, entity, errors, provision_group

THING = "urn:ngsi-ld:Thing:motion001"
URL = f"/iot/d?k={APIKEY}&i=motion001"


def test_ultralight_measures_with_unit_and_time(client: TestClient) -> None:
    provision_group(client)
    r = client.post(URL, content="t|15|h|70", headers=UL)
    assert r.status_code == 200 and r.text == ""
    e = entity(client, THING)
    assert e is not None
    assert e["temperature"]["value"] == 15 and e["temperature"]["unitCode"] == "CEL"
    assert e["h"]["value"] == 70  # unmapped: its own name, cast from text
    assert e["temperature"]["observedAt"] == e["h"]["observedAt"]  # receipt time
    # the device's timestamp (an UltraLight group's, then t=) is observedAt
    r = client.post(URL, content="2030-11-01T09:00:00Z|t|16", headers=UL)
    assert r.status_code == 200
    assert entity(client, THING)["temperature"]["observedAt"] == "2030-11-01T09:00:00Z"  # type: ignore[index]
    r = client.post(URL + "&t=2030-11-01T10:00:00Z", content="t|17", headers=UL)
    assert entity(client, THING)["temperature"]["observedAt"] == "2030-11-01T10:00:00Z"  # type: ignore[index]
    # the device was autoprovisioned, and reports through its Device entity
    d = client.get("/iot/devices/motion001", headers=H).json()
    assert d["entity_name"] == THING and d["apikey"] == APIKEY
    dev = entity(client, "urn:ngsi-ld:Device:motion001")
    assert dev is not None and dev["deviceState"]["value"] == "ok"
    assert dev["controlledAsset"]["object"] == THING
    assert dev["dateLastValueReported"]["value"]["@type"] == "DateTime"


def test_several_measure_groups_each_land_in_history(client: TestClient) -> None:
    provision_group(client)
    payload = "2026-11-01T09:00:00Z|t|10#2026-11-01T09:10:00Z|t|11#2026-11-01T09:20:00Z|t|12"
    assert client.post(URL, content=payload, headers=UL).status_code == 200
    r = client.get(
        f"/ngsi-ld/v1/temporal/entities/{THING}?attrs=temperature",
        headers={"NGSILD-Tenant": "openiot"},
    )
    assert r.status_code == 200, r.text
    values = [i["value"] for i in r.json()["temperature"]]
    assert sorted(values) == [10, 11, 12]


def test_get_ultralight_and_json_measures(client: TestClient) -> None:
    provision_group(client)
    assert client.get(URL + "&d=t|21").status_code == 200
    assert entity(client, THING)["temperature"]["value"] == 21  # type: ignore[index]
    # an array is several groups of measures
    r = client.post(f"/iot/json?k={APIKEY}&i=motion001", json=[{"t": 1}, {"t": 2}])
    assert r.status_code == 200 and entity(client, THING)["temperature"]["value"] == 2  # type: ignore[index]
    r = client.post(
        f"/iot/json?k={APIKEY}&i=motion001",
        json={"t": 22.5, "status": "open", "TimeInstant": "2030-11-02T08:00:00Z"},
    )
    assert r.status_code == 200, r.text
    e = entity(client, THING)
    assert e is not None
    assert e["temperature"]["value"] == 22.5
    assert e["temperature"]["observedAt"] == "2030-11-02T08:00:00Z"
    assert e["status"]["value"] == "open" and "TimeInstant" not in e


def test_autoprovision_false_refuses_unknown_devices(client: TestClient) -> None:
    provision_group(client, autoprovision=False)
    r = client.post(URL, content="t|15", headers=UL)
    assert r.status_code == 404 and r.json()["name"] == "DEVICE_NOT_FOUND"
    assert entity(client, THING) is None
    assert client.get("/iot/devices", headers=H).json()["count"] == 0
    assert [e["kind"] for e in errors(client)] == ["unknown_device"]
    r = client.post(
        "/iot/devices",
        json={"devices": [{"device_id": "motion001", "apikey": APIKEY, "entity_type": "Motion"}]},
        headers=H,
    )
    assert r.status_code == 201
    assert client.post(URL, content="t|15", headers=UL).status_code == 200
    assert entity(client, "urn:ngsi-ld:Motion:motion001")["temperature"]["value"] == 15  # type: ignore[index]


def test_explicit_attrs_expressions_and_statics(client: TestClient) -> None:
    provision_group(
        client,
        explicitAttrs=True,
        attributes=[
            {"object_id": "t", "name": "temperature", "type": "Number"},
            {"object_id": "l", "name": "fillingLevel", "type": "Number", "expression": "l / 100"},
            {
                "name": "location",
                "type": "geo:json",
                "expression": "{coordinates: [lon, lat], type: 'Point'}",
            },
            {"object_id": "lat", "name": "lat", "type": "Number"},
            {"object_id": "lon", "name": "lon", "type": "Number"},
        ],
        static_attributes=[{"name": "category", "type": "Text", "value": "sensor"}],
    )
    r = client.post(URL, content="t|15|l|85|lat|37.36|lon|127.1|noise|3", headers=UL)
    assert r.status_code == 200, r.text
    e = entity(client, THING)
    assert e is not None
    assert e["fillingLevel"]["value"] == 0.85
    assert e["location"]["type"] == "GeoProperty"
    assert e["location"]["value"]["coordinates"] == [127.1, 37.36]
    assert e["category"]["value"] == "sensor"
    assert "noise" not in e  # explicitAttrs: only what the mapping names


def test_hostile_payloads_are_refused_whole_and_counted(client: TestClient) -> None:
    provision_group(client)
    assert client.post(URL, content="t|15", headers=UL).status_code == 200
    before = entity(client, THING)
    cases = [
        ("/iot/d?k=nokey&i=motion001", "t|15", 404, "DEVICE_GROUP_NOT_FOUND"),
        (URL, "t|abc|h|1", 400, "BAD_MEASURE"),  # wrong type: h is not written either
        (URL, "t|1|h", 400, "WRONG_SYNTAX"),
        (URL, "|1", 400, "WRONG_SYNTAX"),
        (URL, "", 400, "WRONG_SYNTAX"),
        (URL, "t|1##t|2", 400, "WRONG_SYNTAX"),
        (URL, "t|16#t|x", 400, "BAD_MEASURE"),  # the first group is not written either
        (URL, "bad name|1", 400, None),
        (f"/iot/d?k={APIKEY}&i=a/b", "t|1", 400, "WRONG_SYNTAX"),
        (f"/iot/d?k={APIKEY}", "t|1", 400, "MISSING_CONFIG_PARAMS"),
    ]
    for url, payload, status, name in cases:
        r = client.post(url, content=payload, headers=UL)
        assert r.status_code == status, (payload, r.text)
        assert r.json()["detail"], payload
        if name:
            assert r.json()["name"] == name, (payload, r.json())
    r = client.post(URL, content=b"t|\xff\xfe", headers=UL)
    assert r.status_code == 400
    json_url = f"/iot/json?k={APIKEY}&i=motion001"
    for body in (b"[1, 2]", b"{", b"7", b"[]", b"{}", b"[" * 5000 + b"]" * 5000):
        r = client.post(json_url, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, body[:20]
    huge = "t|1|" + "x|" * 600_000 + "y|1"
    r = client.post(URL, content=huge, headers=UL)
    assert r.status_code == 413
    assert entity(client, THING) == before
    kinds = {e["kind"] for e in errors(client)}
    assert {"malformed_payload", "wrong_type", "too_large"} <= kinds
    unknown = client.get("/iot/errors").json()["errors"]  # unknown apikeys: the default service
    assert [e["kind"] for e in unknown] == ["unknown_apikey"]
    assert client.get("/health").status_code == 200


def test_a_message_delivered_twice_is_written_once(client: TestClient) -> None:
    """MQTT delivers at least once: a measure with the device's own timestamp, received again,
    writes no second history instance, nor does one older than the entity's (the entity never
    goes back in time; counted as late_or_repeated); static attributes are not rewritten."""
    provision_group(
        client, static_attributes=[{"name": "category", "type": "Text", "value": "sensor"}]
    )
    for _ in range(3):
        r = client.post(URL, content="2026-11-01T09:00:00Z|t|10", headers=UL)
        assert r.status_code == 200
    assert client.post(URL, content="2026-11-01T09:05:00Z|t|11", headers=UL).status_code == 200
    assert client.post(URL, content="2026-11-01T09:01:00Z|t|99", headers=UL).status_code == 200
    assert entity(client, THING)["temperature"]["value"] == 11  # type: ignore[index]
    assert {e["kind"] for e in errors(client)} == {"late_or_repeated"}
    r = client.get(
        f"/ngsi-ld/v1/temporal/entities/{THING}?attrs=temperature,category",
        headers={"NGSILD-Tenant": "openiot"},
    )
    assert r.status_code == 200, r.text
    assert sorted(i["value"] for i in r.json()["temperature"]) == [10, 11]
    category = r.json()["category"]
    assert len(category if isinstance(category, list) else [category]) == 1


def test_attribute_names_expand_with_the_agents_context(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """iot_jsonld_context (FIWARE's IOTA_JSON_LD_CONTEXT): a reader with that @context sees the
    device's attributes under their terms; one without it, under full IRIs."""
    import httpx

    from cityhub.app import create_app
    from cityhub.contexts import ContextService
    from cityhub.settings import Settings

    url = "https://city.example/context.jsonld"
    doc = {
        "@context": {
            "temperature": "https://w3id.org/saref#temperature",
            "Thing": "https://city.example/Thing",
        }
    }

    def serve(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == url
        return httpx.Response(200, json=doc, headers={"Content-Type": "application/ld+json"})

    contexts = ContextService(client=httpx.AsyncClient(transport=httpx.MockTransport(serve)))
    settings = Settings(store=f"sqlite:///{tmp_path / 'ctx.db'}", iot_jsonld_context=url)
    with TestClient(create_app(settings, contexts=contexts)) as client:
        provision_group(client)
        assert client.post(URL, content="t|15", headers=UL).status_code == 200
        link = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
        r = client.get(f"/ngsi-ld/v1/entities/{THING}", headers={**LD, "Link": link})
        assert r.status_code == 200, r.text
        assert r.json()["temperature"]["value"] == 15 and r.json()["type"] == "Thing"
        plain = client.get(f"/ngsi-ld/v1/entities/{THING}", headers=LD).json()
        assert "https://w3id.org/saref#temperature" in plain


def test_a_message_cannot_grow_an_entity_without_bound(client: TestClient) -> None:
    provision_group(client)
    json_url = f"/iot/json?k={APIKEY}&i=motion001"
    r = client.post(json_url, json={f"m{n}": n for n in range(1001)})
    assert r.status_code == 400 and "at most 1000" in r.json()["detail"]
    r = client.post(json_url, json=[{"t": 1}] * 1001)
    assert r.status_code == 400
    r = client.post(URL, content="|".join(f"m{n}|{n}" for n in range(1001)), headers=UL)
    assert r.status_code == 400
    assert entity(client, THING) is None


def test_a_flood_of_bad_payloads_is_counted_exactly(client: TestClient) -> None:
    """Counts gather in memory and are written together (a flood costs no write each), and a
    read of /iot/errors includes the latest."""
    provision_group(client)
    for _ in range(60):
        assert client.post(URL, content="t|1|h", headers=UL).status_code == 400
    for _ in range(15):
        assert client.post("/iot/d?k=nokey&i=x", content="t|1", headers=UL).status_code == 404
    (row,) = errors(client)
    assert row["kind"] == "malformed_payload" and row["count"] == 60
    (unknown,) = client.get("/iot/errors").json()["errors"]
    assert unknown["count"] == 15


def test_entity_name_expression_names_autoprovisioned_devices(client: TestClient) -> None:
    """entityNameExp (doc/api.md "Entity Name expression support"): a new device's entity id
    from the device id, type and its first measures; one that gives no URI falls back."""
    provision_group(client, entityNameExp="'urn:ngsi-ld:' + type + ':' + site + ':' + id")
    r = client.post(URL, content="site|Pangyo|t|15", headers=UL)
    assert r.status_code == 200, r.text
    e = entity(client, "urn:ngsi-ld:Thing:Pangyo:motion001")
    assert e is not None and e["temperature"]["value"] == 15
    r = client.post(f"/iot/d?k={APIKEY}&i=nosite", content="t|1", headers=UL)  # site missing
    assert r.status_code == 200
    assert entity(client, "urn:ngsi-ld:Thing:nosite") is not None


def test_a_datetime_attribute_is_an_ngsi_ld_datetime(client: TestClient) -> None:
    """iotagent-node-lib's NGSI-LD mode writes a ``DateTime`` attribute as
    ``{"@type": "DateTime", "@value": ...}`` (NGSI-LD 4.6.3, a DateTime value); the device's
    ``TimeInstant`` may be mapped to one (``dateObserved``); a value that is no ISO 8601
    date-time refuses the message."""
    attrs = [
        {"object_id": "t", "name": "temperature", "type": "Number"},
        {"object_id": "TimeInstant", "name": "dateObserved", "type": "DateTime"},
        {"object_id": "s", "name": "since", "type": "DateTime"},
    ]
    provision_group(client, attributes=attrs)
    url = f"/iot/json?k={APIKEY}&i=motion001"
    r = client.post(url, json={"t": 3, "TimeInstant": "2030-11-01T09:00:00Z"})
    assert r.status_code == 200, r.text
    e = entity(client, THING)
    assert e is not None
    assert e["dateObserved"]["value"] == {"@type": "DateTime", "@value": "2030-11-01T09:00:00Z"}
    assert e["temperature"]["observedAt"] == "2030-11-01T09:00:00Z"
    r = client.post(url, json={"t": 4, "s": "yesterday"})
    assert r.status_code == 400 and "since" in r.json()["detail"]
    assert entity(client, THING)["temperature"]["value"] == 3  # type: ignore[index]


def test_a_known_device_does_not_wait_for_the_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A device the agent knows is answered from its cache, however old the entry: the cache
    holds until the provisioning changes (the store's version, read every
    ``iot_cache_seconds``), so a device's messages never wait on a read of the device."""
    import asyncio

    from cityhub.errors import CityhubError
    from tests.conftest import make_client

    with make_client(tmp_path, iot_cache_seconds=0) as client:
        provision_group(client)
        url = f"/iot/json?k={APIKEY}&i=motion001"
        assert client.post(url, json={"t": 1}).status_code == 200  # known from now on
        agent = client.app.state.iot  # type: ignore[attr-defined]
        lookups = []

        async def slow_lookup(*key: str) -> None:
            lookups.append(key)
            await asyncio.sleep(3)
            raise CityhubError("the store is slow today")

        agent.iot.get_device = slow_lookup
        r = client.post(url, json={"t": 2})
        assert r.status_code == 200, r.text
        assert entity(client, THING)["temperature"]["value"] == 2  # type: ignore[index]
        assert lookups == []
