"""The MQTT transport through a throwaway Mosquitto (iotagent-ul/iotagent-json "MQTT binding"):
JSON and UltraLight topics, single-measure and older topics, QoS 1, bad payloads counted and
dropped, and a hub stopped with messages queued in its persistent session gets them after it
starts again. Skipped, with the reason, when the mosquitto binary is missing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import aiomqtt
import pytest
from starlette.testclient import TestClient

from cityhub.iot.mqtt import parse_broker_url, parse_topic
from tests.conftest import make_client
from tests.iot._support import APIKEY, entity, errors, provision_group
from tests.notify._receivers import MOSQUITTO, NO_MOSQUITTO, free_port, mosquitto

needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason=NO_MOSQUITTO)


def broker(tmp_path: Path, port: int | None = None) -> contextlib.AbstractContextManager[int]:
    """Mosquitto on a port of this suite's range (18300-18399), persistent sessions on, room
    for the agent's acknowledgements that wait for their commit."""
    return mosquitto(
        tmp_path,
        port,
        ports=(18300, 18399),
        extra_config="max_inflight_messages 200\nmax_queued_messages 100000\n",
    )


def publish(port: int, messages: list[tuple[str, str]]) -> None:
    async def run() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="test-device") as c:
            for topic, payload in messages:
                await c.publish(topic, payload, qos=1)

    asyncio.run(run())


def wait_for(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def connected(client: TestClient) -> None:
    transport = client.app.state.iot_mqtt  # type: ignore[attr-defined]
    wait_for(transport.connected.is_set)
    mqtt = client.get("/iot/about").json()["connections"]["mqtt"]
    assert mqtt == {"configured": True, "ok": True, "subscribed": True}


def test_topics_and_urls() -> None:
    t = parse_topic("/json/k1/dev1/attrs")
    assert t is not None and (t.protocol, t.apikey, t.device_id, t.attribute) == (
        "json",
        "k1",
        "dev1",
        None,
    )
    t = parse_topic("/ul/k1/dev1/attrs/t")
    assert t is not None and t.attribute == "t"
    t = parse_topic("/k1/dev1/attrs")
    assert t is not None and t.protocol is None
    assert parse_topic("/k1/dev1/cmd") is None and parse_topic("x/y/attrs") is None
    b = parse_broker_url("mqtt://u:p%40ss@broker:1884")
    assert (b.host, b.port, b.username, b.password) == ("broker", 1884, "u", "p@ss")
    assert "p@ss" not in repr(b)
    tls = parse_broker_url("mqtts://broker")
    assert (tls.port, tls.tls) == (8883, True)
    with pytest.raises(ValueError) as info:
        parse_broker_url("http://user:secret@broker")
    assert "secret" not in str(info.value)


@needs_mosquitto
def test_measures_over_mqtt(tmp_path: Path, store_url: str) -> None:
    with broker(tmp_path) as port:
        with make_client(tmp_path, store_url, iot_mqtt_url=f"mqtt://127.0.0.1:{port}") as client:
            provision_group(client, resource="")
            connected(client)
            publish(
                port,
                [
                    (f"/json/{APIKEY}/d1/attrs", '{"t": 21.5, "h": 40}'),
                    (f"/ul/{APIKEY}/d2/attrs", "t|22|h|41"),
                    (f"/ul/{APIKEY}/d3/attrs/t", "23"),
                    (f"/json/{APIKEY}/d4/attrs/t", "24"),
                    (f"/{APIKEY}/d5/attrs", '{"t": 25}'),
                    (f"/{APIKEY}/d6/attrs", "t|26"),
                    (f"/ul/{APIKEY}/d7/attrs", "t|1|h"),  # malformed: counted, dropped
                    (f"/ul/{APIKEY}/d7/attrs", "t|abc"),  # wrong type
                    ("/ul/nokey/d8/attrs", "t|1"),  # unknown apikey
                    (f"/ul/{APIKEY}/d9/attrs", "t|1|" + "x|" * 600_000 + "y|1"),  # too large
                ],
            )
            for n, value in zip(range(1, 7), (21.5, 22, 23, 24, 25, 26), strict=True):
                wait_for(lambda n=n: entity(client, f"urn:ngsi-ld:Thing:d{n}") is not None)
                e = entity(client, f"urn:ngsi-ld:Thing:d{n}")
                assert e is not None and e["temperature"]["value"] == value, e
                assert e["temperature"]["unitCode"] == "CEL"
            wait_for(lambda: len(errors(client)) == 3)
            kinds = {e["kind"] for e in errors(client)}
            assert kinds == {"malformed_payload", "wrong_type", "too_large"}
            assert entity(client, "urn:ngsi-ld:Thing:d7") is None
            wait_for(lambda: len(client.get("/iot/errors").json()["errors"]) == 1)
            assert client.get("/health").status_code == 200


@needs_mosquitto
def test_messages_sent_while_the_hub_is_down_arrive_once_it_is_back(
    tmp_path: Path, store_url: str
) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}" if store_url.startswith("sqlite") else store_url
    with broker(tmp_path) as port:
        url = f"mqtt://127.0.0.1:{port}"
        with make_client(tmp_path, db, iot_mqtt_url=url) as client:
            provision_group(client, resource="")
            connected(client)  # the persistent session exists at the broker now
        publish(port, [(f"/ul/{APIKEY}/late{n}/attrs", f"t|{n}") for n in range(20)])
        with make_client(tmp_path, db, iot_mqtt_url=url) as client:
            connected(client)
            for n in range(20):
                wait_for(lambda n=n: entity(client, f"urn:ngsi-ld:Thing:late{n}") is not None)
                e = entity(client, f"urn:ngsi-ld:Thing:late{n}")
                assert e is not None and e["temperature"]["value"] == n


def test_only_the_first_worker_subscribes() -> None:
    """One persistent session per client id: with --workers, worker 0 subscribes to the device
    topics and the others connect under ids of their own, only to publish commands."""
    from cityhub.settings import Settings
    from cityhub.workers import worker_settings

    s = Settings(iot_mqtt_url="mqtt://broker")
    assert worker_settings(s, 0) == s
    second = worker_settings(s, 1)
    assert second.iot_mqtt_subscribe is False and second.iot_mqtt_client_id == "cityhub-iot-1"
    assert worker_settings(Settings(), 3) == Settings()  # no MQTT: nothing to change


@needs_mosquitto
def test_reconnects_after_the_broker_restarts(tmp_path: Path) -> None:
    """The broker goes away and comes back (on the same port): the transport reconnects with
    backoff, subscribes again, and measures flow again."""
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    port = free_port(18300, 18399)
    with broker(tmp_path, port):
        client_cm = make_client(tmp_path, store, iot_mqtt_url=f"mqtt://127.0.0.1:{port}")
        client = client_cm.__enter__()
        try:
            provision_group(client, resource="")
            connected(client)
            publish(port, [(f"/ul/{APIKEY}/r1/attrs", "t|1")])
            wait_for(lambda: entity(client, "urn:ngsi-ld:Thing:r1") is not None)
        except BaseException:
            client_cm.__exit__(None, None, None)
            raise
    try:
        transport = client.app.state.iot_mqtt  # type: ignore[attr-defined]
        wait_for(lambda: not transport.connected.is_set())  # the broker is gone
        with broker(tmp_path, port):
            wait_for(transport.connected.is_set, timeout=30)  # backoff 1, 2, 4 ... s
            publish(port, [(f"/ul/{APIKEY}/r2/attrs", "t|2")])
            wait_for(lambda: entity(client, "urn:ngsi-ld:Thing:r2") is not None)
            assert entity(client, "urn:ngsi-ld:Thing:r2")["temperature"]["value"] == 2  # type: ignore[index]
    finally:
        client_cm.__exit__(None, None, None)


@needs_mosquitto
def test_a_device_burst_commits_in_order_and_shares_transactions(
    tmp_path: Path, store_url: str
) -> None:
    """Two devices publish 200 measures each without waiting for any PUBACK. Each device's
    messages are queued for commit in the order they came (none is refused as older than
    the entity's: every value is newer), and its later messages join earlier ones'
    transactions instead of waiting for each commit in turn."""
    n = 200
    with broker(tmp_path) as port:
        with make_client(tmp_path, store_url, iot_mqtt_url=f"mqtt://127.0.0.1:{port}") as client:
            provision_group(client, resource="")
            connected(client)

            async def burst() -> None:
                async with aiomqtt.Client(
                    "127.0.0.1", port, identifier="test-burst", max_inflight_messages=1000
                ) as c:
                    await asyncio.gather(
                        *(
                            c.publish(f"/json/{APIKEY}/b{k % 2}/attrs", f'{{"t": {k // 2}}}', qos=1)
                            for k in range(2 * n)
                        )
                    )

            before = client.get("/iot/about").json()["measures"]
            asyncio.run(burst())

            def about() -> dict[str, int]:
                return client.get("/iot/about").json()["measures"]  # type: ignore[no-any-return]

            wait_for(lambda: about()["committed"] - before["committed"] == 2 * n)
            for device in ("b0", "b1"):
                e = entity(client, f"urn:ngsi-ld:Thing:{device}")
                assert e is not None and e["temperature"]["value"] == n - 1, e
            assert errors(client) == []  # no measure was left out as late
            transactions = about()["transactions"] - before["transactions"]
            assert transactions < n, f"{transactions} transactions for {2 * n} messages"
