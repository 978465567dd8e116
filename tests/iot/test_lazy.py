"""Lazy attributes answered through a context source registration, on both backends.

FIWARE: iotagent-node-lib doc/devel/architecture.md "Lazy attributes" (the agent registers
itself as the context provider of a device's lazy measures, and a read of them through the
broker is forwarded to it, which asks the device); doc/howto.md "IOTA With Lazy attributes"
(the device asked with ``GET <device>?i=&k=&q=t,l``, answering ``5,6``). NGSI-LD: the
registration is ETSI GS CIM 009 v1.8.1 clause 5.9.2 (Register Context Source); the reads are
forwarded as clauses 5.7.1.4 (Retrieve Entity) and 5.7.2.4 (Query Entities) say, merged as
4.3.6.2 says; a source that fails gives an NGSILD-Warning (clause 6.3.17), never an error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiomqtt
import pytest
from starlette.testclient import TestClient

from cityhub.iot.errors import WrongSyntax
from cityhub.iot.lazy import parse_answer
from cityhub.iot.mqtt import parse_topic
from tests.conftest import make_client
from tests.iot._support import APIKEY, LD, H, provision_group
from tests.iot.test_mqtt import connected, needs_mosquitto, wait_for
from tests.notify._receivers import free_port, mosquitto

SENSOR = "urn:ngsi-ld:Thing:sensor1"
ODD_ENTITY = "urn:ngsi-ld:Thing:odd/slash%41-é?x"
REGISTRATIONS = "/ngsi-ld/v1/csourceRegistrations"
#: how long the hub waits for a device in the tests where one hangs: long enough that a
#: device that does answer (a thread of this process) is not late on a loaded machine
LAZY_TIMEOUT = 2.0
LAZY = [
    {
        "object_id": "l",
        "name": "luminosity",
        "type": "Number",
        "metadata": {"unitCode": {"type": "Text", "value": "LUX"}},
    }
]


class Device:
    """A device answering lazy reads over HTTP: ``reply`` (bytes), or nothing until the test
    ends (``hang``); records the queries it got."""

    def __init__(self) -> None:
        self.asked: list[dict[str, list[str]]] = []
        self.reply = b"l|42"
        self.hang = False
        self.release = threading.Event()
        device = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                device.asked.append(parse_qs(urlsplit(self.path).query))
                if device.hang:
                    device.release.wait(30)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(device.reply)))
                self.end_headers()
                self.wfile.write(device.reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port(18300, 18399)), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/iot/d"

    @contextmanager
    def running(self) -> Iterator[Device]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()


def provision_sensor(client: TestClient, **extra: Any) -> None:
    body = {"device_id": "sensor1", "apikey": APIKEY, "lazy": LAZY, **extra}
    r = client.post("/iot/devices", json={"devices": [body]}, headers=H)
    assert r.status_code == 201, r.text


def registrations(client: TestClient) -> list[dict[str, Any]]:
    r = client.get(f"{REGISTRATIONS}?type=Thing", headers=LD)
    if r.status_code == 404 and "NonexistentTenant" in r.text:
        return []  # nothing was ever registered in the tenant
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def measure(client: TestClient, payload: str = "t|20") -> None:
    r = client.post(
        f"/iot/d?k={APIKEY}&i=sensor1", content=payload, headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 200, r.text


def test_the_answer_topics() -> None:
    for topic in (
        f"/ul/{APIKEY}/d1/lazyexe",
        f"/json/{APIKEY}/d1/lazyexe",
        f"/{APIKEY}/d1/lazyexe",
    ):
        where = parse_topic(topic)
        assert where is not None and where.lazyexe and not where.cmdexe
        assert (where.apikey, where.device_id) == (APIKEY, "d1")
    assert parse_topic(f"/xx/{APIKEY}/d1/lazyexe") is None
    assert parse_topic(f"/{APIKEY}/d1/lazy") is None  # what the agent publishes


def test_the_answer_forms() -> None:
    """UltraLight, JSON, and the howto's values in the order asked."""
    assert parse_answer(b"l|42|h|3", ["l"]) == ({"l": "42", "h": "3"}, True)
    assert parse_answer(b'{"l": 42}', ["l"]) == ({"l": 42}, False)
    assert parse_answer(b"5,6", ["t", "l"]) == ({"t": "5", "l": "6"}, True)
    for bad in (b"5,6,7", b"\xff", b"{no", b"[1]", b""):
        with pytest.raises(WrongSyntax):
            parse_answer(bad, ["t", "l"])


def test_a_read_asks_the_http_device_and_writes_nothing(client: TestClient) -> None:
    provision_group(client)
    with Device().running() as device:
        provision_sensor(client, endpoint=device.url)
        # the registration: the entity, the lazy names, the agent's own endpoint
        [reg] = registrations(client)
        info = reg["information"][0]
        assert info["entities"] == [{"id": SENSOR, "type": "Thing"}]
        assert info["propertyNames"] == ["luminosity"]
        assert reg["endpoint"].startswith("http://iot.cityhub.invalid/")
        assert set(reg["operations"]) == {
            "retrieveEntity", "queryEntity", "queryBatch", "updateEntity", "updateAttrs",
            "mergeEntity", "replaceAttrs",
        }  # fmt: skip
        # the provisioning API does not show the secret of that endpoint
        shown = client.get("/iot/devices/sensor1", headers=H).json()
        assert "lazy_key" not in shown and shown["lazy"][0]["name"] == "luminosity"
        # the device's entity does not exist yet: a retrieve is its lazy attribute alone
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
        assert r.status_code == 200, r.text
        assert r.json()["luminosity"]["value"] == 42
        assert r.json()["luminosity"]["unitCode"] == "LUX"
        assert "NGSILD-Warning" not in r.headers
        assert device.asked == [{"k": [APIKEY], "i": ["sensor1"], "q": ["l"]}]
        # with active measures: both; the lazy value is the device's now
        measure(client)
        device.reply = b"17"  # the howto's form: values in the order asked
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
        assert r.json()["temperature"]["value"] == 20 and r.json()["luminosity"]["value"] == 17
        # attrs naming it, and a query asking for it
        device.reply = b'{"l": 9}'
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}?attrs=luminosity", headers=LD)
        assert r.status_code == 200 and r.json()["luminosity"]["value"] == 9
        assert "temperature" not in r.json()
        r = client.get("/ngsi-ld/v1/entities?type=Thing&attrs=luminosity,temperature", headers=LD)
        assert r.status_code == 200, r.text
        [found] = r.json()
        assert found["luminosity"]["value"] == 9 and found["temperature"]["value"] == 20
        # the same query by POST (clause 5.7.2.4 through /entityOperations/query, queryBatch)
        query = {"type": "Query", "entities": [{"type": "Thing"}], "attrs": ["luminosity"]}
        r = client.post("/ngsi-ld/v1/entityOperations/query", json=query, headers=LD)
        assert r.status_code == 200, r.text
        assert [e["luminosity"]["value"] for e in r.json()] == [9]
        # a query the agent cannot filter by the device's value: answered without it
        asked = len(device.asked)
        r = client.post(
            "/ngsi-ld/v1/entityOperations/query", json={**query, "q": "luminosity>3"}, headers=LD
        )
        assert r.status_code == 200 and all("luminosity" not in e for e in r.json())
        r = client.get("/ngsi-ld/v1/entities?type=Thing&q=temperature>3", headers=LD)
        assert r.status_code == 200 and all("luminosity" not in e for e in r.json())
        assert len(device.asked) == asked
        # a read that does not want it does not ask the device
        asked = len(device.asked)
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}?attrs=temperature", headers=LD)
        assert r.status_code == 200 and "luminosity" not in r.json()
        assert len(device.asked) == asked
        # nothing was written: the hub alone (local=true) holds the active measure only
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}?local=true", headers=LD)
        assert r.status_code == 200 and "luminosity" not in r.json()
        # deleting the device deletes its registration
        assert client.delete("/iot/devices/sensor1", headers=H).status_code == 204
        assert registrations(client) == []
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
        assert r.status_code == 200 and "luminosity" not in r.json()


def test_an_update_of_a_lazy_attribute_is_sent_to_the_http_device(client: TestClient) -> None:
    """iotagent-node-lib doc/howto.md "UpdateContext implementation": an update of a lazy
    attribute through the broker reaches the device as ``GET <device>?i=&k=&d=<values>``.
    Forwarded as clause 5.6.2.4 (Update Entity Attributes) and 5.6.4.4 (Partial Attribute
    Update) say for an inclusive registration: the hub writes it too."""
    provision_group(client)
    with Device().running() as device:
        provision_sensor(client, endpoint=device.url)
        measure(client)
        url = f"/ngsi-ld/v1/entities/{SENSOR}/attrs"
        body = {"luminosity": {"type": "Property", "value": 8}, "temperature": 21}
        r = client.patch(url, json=body, headers=LD)
        assert r.status_code == 204, r.text
        assert device.asked == [{"k": [APIKEY], "i": ["sensor1"], "d": ["l|8"]}]
        # the active attribute is the hub's alone; the lazy one is written here as well
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}?local=true", headers=LD)
        assert r.json()["temperature"]["value"] == 21 and r.json()["luminosity"]["value"] == 8
        # once the hub holds it, a Partial Attribute Update (5.6.4) of it: the same
        r = client.patch(f"{url}/luminosity", json={"value": 7}, headers=LD)
        assert r.status_code == 204, r.text
        assert device.asked[-1] == {"k": [APIKEY], "i": ["sensor1"], "d": ["l|7"]}
        # an update of active attributes only does not ask the device
        asked = len(device.asked)
        assert client.patch(url, json={"temperature": 22}, headers=LD).status_code == 204
        assert len(device.asked) == asked


def test_a_merge_or_a_replace_of_a_lazy_attribute_is_sent_to_the_device(
    client: TestClient,
) -> None:
    """Merge Entity (clause 5.6.17, PATCH /entities/{id}) and Replace Attribute (5.6.19, PUT
    .../attrs/{attrId}) reach the device as an update does (iotagent-node-lib's NGSI-LD
    context server takes PATCH of the entity and PUT of an attribute as it takes PATCH of
    attributes); a merge's NGSI-LD Null of the lazy attribute is not sent (a device's
    attribute cannot be deleted), nor a merge of active attributes only."""
    provision_group(client)
    with Device().running() as device:
        provision_sensor(client, endpoint=device.url)
        measure(client)
        [reg] = registrations(client)
        assert {"mergeEntity", "replaceAttrs"} <= set(reg["operations"])
        entity = f"/ngsi-ld/v1/entities/{SENSOR}"
        body = {"luminosity": {"type": "Property", "value": 9}, "temperature": 23}
        r = client.patch(entity, json=body, headers=LD)
        assert r.status_code == 204, r.text
        assert device.asked == [{"k": [APIKEY], "i": ["sensor1"], "d": ["l|9"]}]
        r = client.get(f"{entity}?local=true", headers=LD)
        assert r.json()["temperature"]["value"] == 23 and r.json()["luminosity"]["value"] == 9
        r = client.put(
            f"{entity}/attrs/luminosity", json={"type": "Property", "value": 10}, headers=LD
        )
        assert r.status_code == 204, r.text
        assert device.asked[-1] == {"k": [APIKEY], "i": ["sensor1"], "d": ["l|10"]}
        asked = len(device.asked)
        assert client.patch(entity, json={"temperature": 24}, headers=LD).status_code == 204
        r = client.patch(entity, json={"luminosity": "urn:ngsi-ld:null"}, headers=LD)
        assert r.status_code == 207, r.text
        [error] = r.json()["errors"]
        assert "keeps luminosity: an attribute of a device cannot be deleted" in str(error)
        assert len(device.asked) == asked


def test_an_update_the_device_does_not_take_says_so(tmp_path: Path, store_url: str) -> None:
    """A device that does not answer in time, or answers an error: the hub's own part is
    written, and the answer says which attribute the device did not take and why (207,
    UpdateResult ``notUpdated``, clause 5.2.18), never a hang or a 500."""
    with make_client(tmp_path, store_url, iot_lazy_timeout=LAZY_TIMEOUT) as client:
        provision_group(client)
        with Device().running() as device:
            provision_sensor(client, endpoint=device.url)
            measure(client)
            device.hang = True
            body = {"luminosity": {"type": "Property", "value": 8}, "temperature": 21}
            r = client.patch(f"/ngsi-ld/v1/entities/{SENSOR}/attrs", json=body, headers=LD)
            assert r.status_code == 207, r.text
            [failed] = r.json()["notUpdated"]
            # (the federation's UpdateResult names it by IRI; clause 5.2.18 says by name)
            assert failed["attributeName"].rpartition("/")[2] == "luminosity"
            assert f"did not take the update of l within {LAZY_TIMEOUT:g} s" in failed["reason"]
            r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}?local=true", headers=LD)
            assert r.json()["temperature"]["value"] == 21


def test_a_device_that_does_not_answer_gives_a_warning(tmp_path: Path, store_url: str) -> None:
    """No answer within iot_lazy_timeout, an endpoint nobody listens on, an answer that is
    not measures: the entity without the attribute and an NGSILD-Warning naming the device
    and why (clause 6.3.17), never a hang or a 500."""
    with make_client(tmp_path, store_url, iot_lazy_timeout=LAZY_TIMEOUT) as client:
        provision_group(client)
        with Device().running() as device:
            provision_sensor(client, endpoint=device.url)
            measure(client)
            device.hang = True
            r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
            assert r.status_code == 200, r.text
            assert r.json()["temperature"]["value"] == 20 and "luminosity" not in r.json()
            warning = r.headers["NGSILD-Warning"]
            assert (
                f"device 'sensor1' did not answer the read of l within {LAZY_TIMEOUT:g} s"
                in warning
            )
            # a query: the same
            r = client.get("/ngsi-ld/v1/entities?type=Thing", headers=LD)
            assert r.status_code == 200 and len(r.json()) == 1
            assert "did not answer" in r.headers["NGSILD-Warning"]
            # an answer that is not measures
            device.hang = False
            device.reply = b"1,2,3"
            r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
            assert r.status_code == 200 and "luminosity" not in r.json()
            assert "answered what is not its measures" in r.headers["NGSILD-Warning"]
            device.reply = b"l|dark"  # luminosity is a Number
            r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
            assert "needs a number" in r.headers["NGSILD-Warning"]
        # the device is gone: nobody listens at its endpoint
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
        assert r.status_code == 200 and r.json()["temperature"]["value"] == 20
        assert "could not be reached at its endpoint" in r.headers["NGSILD-Warning"]
        # after federation_breaker_failures failures in a row it is not asked for a while
        for _ in range(5):
            r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
        assert "was not asked" in r.headers["NGSILD-Warning"]
        # the device provisioned again (a new endpoint) is asked afresh
        with Device().running() as again:
            r = client.put("/iot/devices/sensor1", json={"endpoint": again.url}, headers=H)
            assert r.status_code == 204, r.text
            r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
            assert r.json()["luminosity"]["value"] == 42 and "NGSILD-Warning" not in r.headers


def test_the_registration_follows_the_device_and_its_group(client: TestClient) -> None:
    provision_group(client, lazy=[{"object_id": "h", "name": "humidity", "type": "Number"}])
    # a device that polls cannot be asked: no registration
    provision_sensor(client)
    assert registrations(client) == []
    r = client.put("/iot/devices/sensor1", json={"endpoint": "http://127.0.0.1:9/d"}, headers=H)
    assert r.status_code == 204, r.text
    [reg] = registrations(client)
    assert sorted(reg["information"][0]["propertyNames"]) == ["humidity", "luminosity"]
    # the group's lazy attributes go: its devices' registrations follow
    r = client.put(f"/iot/groups?resource=/iot/d&apikey={APIKEY}", json={"lazy": []}, headers=H)
    assert r.status_code == 204, r.text
    [reg] = registrations(client)
    assert reg["information"][0]["propertyNames"] == ["luminosity"]
    # the device's own go too: no registration
    r = client.put("/iot/devices/sensor1", json={"lazy": []}, headers=H)
    assert r.status_code == 204, r.text
    assert registrations(client) == []


def test_an_older_registration_gets_the_new_operations_at_start(
    tmp_path: Path, store_url: str
) -> None:
    """A registration an older hub wrote (the read operations only) is brought up to date
    when the hub starts, so a merge of the lazy attribute reaches the device without the
    device being provisioned again."""
    provision = make_client(tmp_path, store_url)
    with provision as client, Device().running() as device:
        provision_group(client)
        provision_sensor(client, endpoint=device.url)
        [reg] = registrations(client)
        older = ["retrieveEntity", "queryEntity", "queryBatch"]
        r = client.patch(f"{REGISTRATIONS}/{reg['id']}", json={"operations": older}, headers=LD)
        assert r.status_code == 204, r.text
        assert set(registrations(client)[0]["operations"]) == set(older)
    with make_client(tmp_path, store_url) as client:
        [reg] = registrations(client)
        assert {"mergeEntity", "replaceAttrs", "updateAttrs"} <= set(reg["operations"])
    with make_client(tmp_path, store_url) as client:
        # nothing to bring up to date: the start leaves it as it was
        [again] = registrations(client)
        assert again["operations"] == reg["operations"]


def test_a_registration_written_by_someone_else_is_not_answered(client: TestClient) -> None:
    """The agent answers only the endpoint of the registration it made (its secret key), so a
    registration a client writes, in another tenant, cannot read a device through it."""
    provision_group(client)
    with Device().running() as device:
        provision_sensor(client, endpoint=device.url)
        [reg] = registrations(client)
        forged = reg["endpoint"].rsplit("/", 1)[0] + "/" + "0" * 32
        for endpoint in (forged, reg["endpoint"]):
            r = client.post(
                REGISTRATIONS,
                json={
                    "type": "ContextSourceRegistration",
                    "information": [{"entities": [{"id": SENSOR, "type": "Thing"}]}],
                    "endpoint": endpoint,
                    **({"tenant": "openiot"} if endpoint == forged else {}),
                },
            )
            assert r.status_code == 201, r.text
        # the default tenant reads: the forged key is refused, the right key with no tenant
        # names no device of the default tenant
        r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}")
        assert r.status_code == 404, r.text
        assert device.asked == []


@needs_mosquitto
def test_lazy_attributes_over_mqtt(tmp_path: Path, store_url: str) -> None:
    """The agent publishes the names asked on /<apikey>/<device>/lazy and waits for the
    device's measures on /ul|json/<apikey>/<device>/lazyexe; a device that never answers
    gives the warning within iot_lazy_timeout."""
    with mosquitto(tmp_path, ports=(18300, 18399)) as port:
        with make_client(
            tmp_path, store_url, iot_mqtt_url=f"mqtt://127.0.0.1:{port}", iot_lazy_timeout=1.0
        ) as client:
            provision_group(client, resource="")
            connected(client)
            provision_sensor(client, transport="MQTT")
            provision_sensor_json = {
                "device_id": "sensor2",
                "apikey": APIKEY,
                "transport": "MQTT",
                "protocol": "IoTA-JSON",
                "lazy": LAZY,
            }
            r = client.post("/iot/devices", json={"devices": [provision_sensor_json]}, headers=H)
            assert r.status_code == 201, r.text
            got: list[tuple[str, bytes]] = []
            ready = threading.Event()
            stop = threading.Event()

            async def devices() -> None:
                async with aiomqtt.Client("127.0.0.1", port, identifier="sensors") as c:
                    await c.subscribe(f"/{APIKEY}/+/lazy", qos=1)
                    ready.set()
                    async for message in c.messages:
                        assert isinstance(message.payload, bytes)
                        got.append((message.topic.value, message.payload))
                        if message.topic.value == f"/{APIKEY}/sensor1/lazy":
                            await c.publish(f"/ul/{APIKEY}/sensor1/lazyexe", "l|321", qos=1)
                        elif stop.is_set():
                            return
                        # sensor2 never answers

            thread = threading.Thread(target=lambda: asyncio.run(devices()))
            thread.start()
            try:
                assert ready.wait(10)
                r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
                assert r.status_code == 200, r.text
                assert r.json()["luminosity"] == {
                    "type": "Property",
                    "value": 321,
                    "unitCode": "LUX",
                    "observedAt": r.json()["luminosity"]["observedAt"],
                }
                r = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:sensor2", headers=LD)
                assert r.status_code == 404, r.text
                assert (
                    "device 'sensor2' did not answer the read of l within 1 s"
                    in r.headers["NGSILD-Warning"]
                )
                # an update: the values on the same topic, as each device sends its measures
                measure(client)
                r = client.post(f"/iot/json?k={APIKEY}&i=sensor2", json={"t": 1})
                assert r.status_code == 200, r.text
                for entity_id in (SENSOR, "urn:ngsi-ld:Thing:sensor2"):
                    r = client.patch(
                        f"/ngsi-ld/v1/entities/{entity_id}/attrs",
                        json={"luminosity": {"type": "Property", "value": 5}},
                        headers=LD,
                    )
                    assert r.status_code == 204, r.text
                wait_for(lambda: (f"/{APIKEY}/sensor2/lazy", b'{"l":5}') in got)
                assert (f"/{APIKEY}/sensor1/lazy", b"l|5") in got
            finally:
                stop.set()
                # one more ask wakes the device loop so it ends
                client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:sensor2", headers=LD)
                thread.join(20)
            assert (f"/{APIKEY}/sensor1/lazy", b"l") in got
            assert (f"/{APIKEY}/sensor2/lazy", b'["l"]') in got  # a JSON device: JSON
            assert client.get("/iot/errors", headers=H).json()["errors"] == []


def test_odd_device_ids_and_autoprovisioned_devices(client: TestClient) -> None:
    """Ids travel in the endpoint's path, quoted: a device id and an entity id with ':', '%',
    '?', '@' and non-ASCII letters are read back; a device its group autoprovisions gets the
    group's lazy attributes and its registration; deleting the group's lazy attributes,
    then the devices (/iot/op/delete), leaves no registration."""
    with Device().running() as device:
        provision_group(
            client,
            endpoint=device.url,
            lazy=[{"object_id": "h", "name": "humidity", "type": "Number"}],
        )
        odd = "a:b%3F?c@d-센서"
        body = {
            "device_id": odd,
            "apikey": APIKEY,
            "entity_name": ODD_ENTITY,
            "lazy": LAZY,
        }
        r = client.post("/iot/devices", json={"devices": [body]}, headers=H)
        assert r.status_code == 201, r.text
        device.reply = b"h|55|l|7"
        r = client.get(f"/ngsi-ld/v1/entities/{quote(ODD_ENTITY, safe=':')}", headers=LD)
        assert r.status_code == 200, r.text
        assert r.json()["humidity"]["value"] == 55 and r.json()["luminosity"]["value"] == 7
        assert device.asked[-1] == {"k": [APIKEY], "i": [odd], "q": ["h,l"]}
        # a device the group autoprovisions (its first measure) is asked too
        measure_of = client.post(
            f"/iot/d?k={APIKEY}&i=auto1", content="t|3", headers={"Content-Type": "text/plain"}
        )
        assert measure_of.status_code == 200, measure_of.text
        assert len(registrations(client)) == 2
        device.reply = b"h|12"
        r = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:auto1", headers=LD)
        assert r.json()["humidity"]["value"] == 12 and r.json()["temperature"]["value"] == 3
        # the group's lazy attributes go: the autoprovisioned device's registration goes
        r = client.put(f"/iot/groups?resource=/iot/d&apikey={APIKEY}", json={"lazy": []}, headers=H)
        assert r.status_code == 204, r.text
        [left] = registrations(client)
        assert left["information"][0]["propertyNames"] == ["luminosity"]
        r = client.post(
            "/iot/op/delete", json={"devices": [{"deviceId": odd, "apikey": APIKEY}]}, headers=H
        )
        assert r.status_code == 204, r.text
        assert registrations(client) == []


@needs_mosquitto
def test_a_worker_that_does_not_subscribe_hears_the_answer(tmp_path: Path, store_url: str) -> None:
    """With several workers only the first subscribes to the device topics; every worker
    subscribes to the lazy answers, so the one that asked hears its device."""
    with mosquitto(tmp_path, ports=(18300, 18399)) as port:
        with make_client(
            tmp_path,
            store_url,
            iot_mqtt_url=f"mqtt://127.0.0.1:{port}",
            iot_mqtt_subscribe=False,
            iot_mqtt_client_id="cityhub-iot-1",
        ) as client:
            provision_group(client, resource="")
            transport = client.app.state.iot_mqtt  # type: ignore[attr-defined]
            wait_for(transport.connected.is_set)
            provision_sensor(client, transport="MQTT")
            ready = threading.Event()

            async def sensor() -> None:
                async with aiomqtt.Client("127.0.0.1", port, identifier="sensor1") as c:
                    await c.subscribe(f"/{APIKEY}/sensor1/lazy", qos=1)
                    ready.set()
                    async for _ in c.messages:
                        await c.publish(f"/{APIKEY}/sensor1/lazyexe", "l|8", qos=1)
                        return

            thread = threading.Thread(target=lambda: asyncio.run(sensor()))
            thread.start()
            assert ready.wait(10)
            r = client.get(f"/ngsi-ld/v1/entities/{SENSOR}", headers=LD)
            thread.join(20)
            assert r.status_code == 200, r.text
            assert r.json()["luminosity"]["value"] == 8
