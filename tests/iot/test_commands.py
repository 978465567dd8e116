"""Commands (iotagent-node-lib doc/api.md "Command execution", iotagent-ul "Commands Syntax"):
an NGSI-LD update of a command attribute reaches the device over MQTT or HTTP, and
<cmd>_status / <cmd>_info follow its answer, an error, or the timeout; on both backends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiomqtt
from starlette.testclient import TestClient

from cityhub.iot.commands import parse_results
from tests.conftest import make_client
from tests.iot._support import APIKEY, LD, H, entity, provision_group
from tests.iot.test_mqtt import broker, connected, needs_mosquitto, wait_for
from tests.notify._receivers import free_port

LAMP = "urn:ngsi-ld:Lamp:lamp1"


class Device:
    """An HTTP device: records the commands it gets, answers with ``reply``/``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.reply = b""
        self.status = 200
        device = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                device.received.append((self.headers.get("Content-Type", ""), body))
                self.send_response(device.status)
                self.send_header("Content-Length", str(len(device.reply)))
                self.end_headers()
                self.wfile.write(device.reply)

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


def provision_lamp(client: TestClient, **extra: Any) -> None:
    body = {
        "device_id": "lamp1",
        "apikey": APIKEY,
        "entity_type": "Lamp",
        "entity_name": LAMP,
        "commands": [{"name": "switch", "type": "command"}],
        **extra,
    }
    r = client.post("/iot/devices", json={"devices": [body]}, headers=H)
    assert r.status_code == 201, r.text


def invoke(client: TestClient, value: Any) -> None:
    r = client.patch(
        f"/ngsi-ld/v1/entities/{LAMP}/attrs/switch",
        json={"type": "Property", "value": value},
        headers=LD,
    )
    assert r.status_code == 204, r.text


def status(client: TestClient) -> tuple[Any, Any]:
    e = entity(client, LAMP)
    assert e is not None
    return e["switch_status"]["value"], e["switch_info"]["value"]


def test_parse_results() -> None:
    assert parse_results(b"lamp1@switch|on") == {"switch": "on"}
    assert parse_results(b'{"switch": "on"}') == {"switch": "on"}
    assert parse_results(b"a@b|1#a@c|2") == {"b": "1", "c": "2"}
    assert parse_results(b"t|15") == {} and parse_results(b"{bad") == {}


def test_provisioning_gives_the_entity_its_command_attributes(client: TestClient) -> None:
    provision_group(client)
    provision_lamp(client)
    e = entity(client, LAMP)
    assert e is not None
    assert e["switch"]["value"] == "" and e["switch_status"]["value"] == "UNKNOWN"


def test_http_push_command_answered_in_the_response(client: TestClient) -> None:
    provision_group(client)
    with Device().running() as device:
        device.reply = b"lamp1@switch|done"
        provision_lamp(client, endpoint=device.url)
        invoke(client, "on")
        wait_for(lambda: status(client)[0] == "OK")
        assert status(client) == ("OK", "done")
        assert device.received == [("text/plain", b"lamp1@switch|on")]
        # a device that fails: ERROR with the reason
        device.status = 500
        invoke(client, "off")
        wait_for(lambda: status(client)[0] == "ERROR")
        assert "500" in status(client)[1]
        # an UltraLight answer posted to /iot/d is a command result, not a measure
        r = client.post(
            f"/iot/d?k={APIKEY}&i=lamp1",
            content="lamp1@switch|late",
            headers={"Content-Type": "text/plain"},
        )
        assert r.status_code == 200, r.text
        assert status(client) == ("OK", "late")


def test_json_device_answers_later_through_the_http_binding(tmp_path: Path, store_url: str) -> None:
    with make_client(tmp_path, store_url) as client:
        provision_group(client)
        with Device().running() as device:
            provision_lamp(client, endpoint=device.url, protocol="IoTA-JSON")
            invoke(client, {"level": 3})
            wait_for(lambda: len(device.received) == 1)
            assert status(client)[0] == "PENDING"
            assert device.received == [("application/json", b'{"switch":{"level":3}}')]
            r = client.post(f"/iot/json/commands?k={APIKEY}&i=lamp1", json={"switch": "dimmed"})
            assert r.status_code == 200, r.text
            assert status(client) == ("OK", "dimmed")
            r = client.post(f"/iot/json/commands?k={APIKEY}&i=lamp1", json={"nope": 1})
            assert r.status_code == 400


def test_unanswered_command_expires(tmp_path: Path, store_url: str) -> None:
    with make_client(tmp_path, store_url, iot_command_timeout=0.3) as client:
        provision_group(client)
        with Device().running() as device:
            provision_lamp(client, endpoint=device.url)
            invoke(client, "on")
            wait_for(lambda: status(client)[0] == "EXPIRED")


def test_polling_device_takes_its_commands(client: TestClient) -> None:
    """A device with no endpoint and not on MQTT polls (doc/api.md "Poll commands"): its next
    request with getCmd=1 gets the waiting commands, DELIVERED, then answers them."""
    provision_group(client)
    provision_lamp(client)
    invoke(client, "on")
    wait_for(lambda: status(client)[0] == "PENDING")
    r = client.get(f"/iot/d?k={APIKEY}&i=lamp1&getCmd=1")
    assert r.status_code == 200 and r.text == "lamp1@switch|on"
    assert status(client)[0] == "DELIVERED"
    r = client.get(f"/iot/d?k={APIKEY}&i=lamp1&getCmd=1")
    assert r.status_code == 200 and r.text == ""  # delivered once
    r = client.post(
        f"/iot/d?k={APIKEY}&i=lamp1",
        content="lamp1@switch|lit",
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 200 and status(client) == ("OK", "lit")
    # JSON devices poll /iot/json, with or without measures
    invoke(client, "off")
    wait_for(lambda: status(client)[0] == "PENDING")
    r = client.post(f"/iot/json?k={APIKEY}&i=lamp1&getCmd=1", json={"t": 3})
    assert r.status_code == 200 and r.json() == {"switch": "off"}
    assert client.get(f"/iot/json?k={APIKEY}&i=lamp1&getCmd=1").json() == {}


@needs_mosquitto
def test_mqtt_command_round_trip(tmp_path: Path, store_url: str) -> None:
    with broker(tmp_path) as port:
        with make_client(tmp_path, store_url, iot_mqtt_url=f"mqtt://127.0.0.1:{port}") as client:
            provision_group(client, resource="")
            connected(client)
            provision_lamp(client, transport="MQTT")
            got: list[bytes] = []
            ready = threading.Event()

            async def device() -> None:
                async with aiomqtt.Client("127.0.0.1", port, identifier="lamp1") as c:
                    await c.subscribe(f"/{APIKEY}/lamp1/cmd", qos=1)
                    ready.set()
                    async for message in c.messages:
                        assert isinstance(message.payload, bytes)
                        got.append(message.payload)
                        await c.publish(f"/ul/{APIKEY}/lamp1/cmdexe", "lamp1@switch|on-ok", qos=1)
                        return

            thread = threading.Thread(target=lambda: asyncio.run(device()))
            thread.start()
            assert ready.wait(10)
            invoke(client, "on")
            thread.join(20)
            assert got == [b"lamp1@switch|on"]
            wait_for(lambda: status(client)[0] == "OK")
            assert status(client) == ("OK", "on-ok")
            assert client.get("/iot/errors", headers=H).json()["errors"] == []


def test_a_command_pending_at_a_restart_still_expires(tmp_path: Path, store_url: str) -> None:
    """The expiry timer of a command is not lost with the process: a hub that starts finds the
    commands still ``PENDING`` (or ``DELIVERED``) in the entities and expires them
    ``iot_command_timeout`` after their status was written, as it would have."""
    with make_client(tmp_path, store_url, iot_command_timeout=3600) as client:
        provision_group(client)
        provision_lamp(client)  # a polling device: the command waits for it
        invoke(client, "on")
        wait_for(lambda: status(client)[0] == "PENDING")
    # a restart with a shorter timeout: the status written an instant ago is due soon
    with make_client(tmp_path, store_url, iot_command_timeout=0.5) as client:
        wait_for(lambda: status(client)[0] == "EXPIRED")
        assert status(client)[1] == "no answer from the device in time"
    # an answered command is not expired by a restart
    with make_client(tmp_path, store_url, iot_command_timeout=3600) as client:
        invoke(client, "off")
        wait_for(lambda: status(client)[0] == "PENDING")
        r = client.post(f"/iot/d?k={APIKEY}&i=lamp1", content="lamp1@switch|done")
        assert r.status_code == 200, r.text
    with make_client(tmp_path, store_url, iot_command_timeout=0.2) as client:
        assert client.app.state.iot.commands.expiring == 0  # type: ignore[attr-defined]
        assert status(client) == ("OK", "done")
