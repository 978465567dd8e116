"""Command transformations of JSON devices (iotagent-json docs/usermanual.md "Commands
transformations" and lib/commandHandler.js): a command's ``expression`` makes its payload
from the device's id, type, entity_name, service, subservice, static attributes and the
command's value; its ``payloadType`` serializes it (json, text, binaryfromstring,
binaryfromhex, binaryfromjson); ``contentType`` and ``headers`` go with an HTTP push; its
``mqtt`` options (QoS, retain) with an MQTT publish. On both backends."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from starlette.testclient import TestClient

from cityhub.iot.commands import serialized
from tests.conftest import make_client
from tests.iot._support import APIKEY, LD, H, entity, provision_group
from tests.iot.test_mqtt import connected, needs_mosquitto, wait_for
from tests.notify._receivers import free_port, mosquitto

LAMP = "urn:ngsi-ld:Lamp:lamp1"


@pytest.mark.parametrize(
    ("payload_type", "value", "expected"),
    [
        # the table of iotagent-json's manual, "Commands transformations"
        ("binaryfromstring", "12345", b"12345"),
        ("binaryfromstring", "484F4C41", b"484F4C41"),
        ("binaryfromstring", ["1", "23", "2", "50"], b"1,23,2,50"),
        ("binaryfromhex", "12345", b"\x12\x34"),
        ("binaryfromhex", "484F4C41", b"HOLA"),
        ("binaryfromhex", ["1", "23", "2", "50"], b"\x01\x17\x02\x32"),
        ("binaryfromjson", "12345", b'"12345"'),
        ("binaryfromjson", ["1", "23", "2", "50"], b'["1","23","2","50"]'),
        ("text", "on", b"on"),
        ("json", {"set": 0}, b'{"set":0}'),
        (None, {"set": 0}, b'{"set":0}'),
    ],
)
def test_payload_types(payload_type: str | None, value: Any, expected: bytes) -> None:
    assert serialized(value, payload_type, "c") == expected


def test_binaryfromhex_of_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="binaryfromhex"):
        serialized({"a": 1}, "binaryfromhex", "c")


class Device:
    """An HTTP device recording each command's Content-Type, X-Custom header and body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        device = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                device.received.append(
                    (self.headers.get("Content-Type", ""), self.headers.get("X-Custom", ""), body)
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port(18300, 18399)), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cmd"

    @contextmanager
    def running(self) -> Iterator[Device]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def invoke(client: TestClient, command: str, value: Any) -> None:
    r = client.patch(
        f"/ngsi-ld/v1/entities/{LAMP}/attrs/{command}",
        json={"type": "Property", "value": value},
        headers=LD,
    )
    assert r.status_code == 204, r.text


def status(client: TestClient, command: str) -> tuple[Any, Any]:
    e = entity(client, LAMP)
    assert e is not None
    return e[f"{command}_status"]["value"], e[f"{command}_info"]["value"]


def test_expression_payload_type_content_type_and_headers(client: TestClient) -> None:
    provision_group(client, resource="/iot/json")
    with Device().running() as device:
        body = {
            "device_id": "lamp1",
            "apikey": APIKEY,
            "entity_type": "Lamp",
            "entity_name": LAMP,
            "endpoint": device.url,
            "static_attributes": [{"name": "brand", "type": "Text", "value": "tef"}],
            "commands": [
                # the manual's example: the expression is the whole payload
                {"name": "reset", "type": "command", "expression": "{set: id + '_reset_' + reset}"},
                {
                    "name": "raw",
                    "type": "command",
                    "expression": "raw",
                    "payloadType": "binaryfromhex",
                    "contentType": "application/octet-stream",
                    "headers": {"X-Custom": "yes"},
                },
                {"name": "say", "type": "command", "expression": "brand + ':' + say"},
                {"name": "broken", "type": "command", "expression": "nothing.there"},
            ],
        }
        r = client.post("/iot/devices", json={"devices": [body]}, headers=H)
        assert r.status_code == 201, r.text
        invoke(client, "reset", 0)
        wait_for(lambda: len(device.received) == 1)
        assert device.received[0] == ("application/json", "", b'{"set":"lamp1_reset_0"}')
        invoke(client, "raw", "484F4C41")
        wait_for(lambda: len(device.received) == 2)
        assert device.received[1] == ("application/octet-stream", "yes", b"HOLA")
        invoke(client, "say", "hi")
        wait_for(lambda: len(device.received) == 3)
        assert device.received[2][2] == b'"tef:hi"'  # json, the default payloadType
        # an expression that gives nothing: ERROR with the reason, nothing sent
        invoke(client, "broken", 1)
        wait_for(lambda: status(client, "broken")[0] == "ERROR")
        assert "gave nothing" in status(client, "broken")[1]
        assert len(device.received) == 3


def test_bad_command_headers_are_refused(client: TestClient) -> None:
    provision_group(client, resource="/iot/json")
    for headers in ({"Bad Name": "x"}, {"X-A": "a\r\nInjected: 1"}, ["X-A"]):
        body = {
            "device_id": "lamp1",
            "commands": [{"name": "c", "type": "command", "headers": headers}],
        }
        r = client.post("/iot/devices", json={"devices": [body]}, headers=H)
        assert r.status_code == 400, r.text
        assert "headers" in r.json()["detail"]


def test_bad_command_mqtt_options_are_refused(client: TestClient) -> None:
    for mqtt in ({"qos": 3}, {"qos": True}, {"retain": "yes"}, {"other": 1}, "qos2"):
        body = {"device_id": "lamp1", "commands": [{"name": "c", "type": "command", "mqtt": mqtt}]}
        r = client.post("/iot/devices", json={"devices": [body]}, headers=H)
        assert r.status_code == 400 and "mqtt" in r.json()["detail"], r.text


@needs_mosquitto
def test_a_command_published_with_its_mqtt_options(tmp_path: Path, store_url: str) -> None:
    """iotagent-json docs/usermanual.md "MQTT binding": each command may choose its QoS and
    retain flag (``"mqtt": {"qos": 2, "retain": true}``): a retained command reaches a
    device that subscribes after it was sent."""
    with mosquitto(tmp_path, ports=(18300, 18399)) as port:
        with make_client(tmp_path, store_url, iot_mqtt_url=f"mqtt://127.0.0.1:{port}") as client:
            provision_group(client, resource="")
            connected(client)
            body = {
                "device_id": "lamp1",
                "apikey": APIKEY,
                "entity_type": "Lamp",
                "entity_name": LAMP,
                "transport": "MQTT",
                "commands": [
                    {"name": "switch", "type": "command", "mqtt": {"qos": 2, "retain": True}}
                ],
            }
            r = client.post("/iot/devices", json={"devices": [body]}, headers=H)
            assert r.status_code == 201, r.text
            invoke(client, "switch", "on")
            wait_for(lambda: status(client, "switch")[0] == "PENDING")
            got: list[tuple[bytes, int, bool]] = []

            async def first_message(c: aiomqtt.Client) -> None:
                async for message in c.messages:
                    assert isinstance(message.payload, bytes)
                    got.append((message.payload, message.qos, message.retain))
                    return

            async def late_device() -> None:  # subscribes only now: gets the retained command
                # PENDING is written before the publish reaches the broker: a device that
                # subscribed before it gets the command live, with retain 0 (MQTT 3.1.1
                # 3.3.1.3); it then subscribes afresh, as a device that comes later does
                while not got or not got[-1][2]:
                    async with aiomqtt.Client("127.0.0.1", port, identifier="lamp1") as c:
                        await c.subscribe(f"/{APIKEY}/lamp1/cmd", qos=2)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(first_message(c), 2)

            asyncio.run(asyncio.wait_for(late_device(), 20))
            assert got[-1] == (b"lamp1@switch|on", 2, True), got
            assert all(payload == b"lamp1@switch|on" for payload, _, _ in got), got
