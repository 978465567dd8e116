"""MQTT notifications against a real, throwaway Mosquitto (ETSI GS CIM 009 v1.8.1 clause 7.3:
the message is {"metadata": ..., "body": Notification}; notifierInfo MQTT-Version and MQTT-QoS).

Skipped, with the reason, when the mosquitto binary is missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.notify.senders import Delivery, DeliveryFailed, MqttEndpoint, MqttSender
from cityhub.settings import Settings
from tests.notify._receivers import MOSQUITTO, NO_MOSQUITTO, free_port, mosquitto

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=NO_MOSQUITTO)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    with mosquitto(tmp_path) as port:
        yield port


async def _receive(port: int, topic: str, count: int, publish: Any) -> list[dict[str, Any]]:
    """Subscribe to ``topic``, run ``publish()`` (sync, in a thread), collect ``count`` messages."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic, qos=2)
        await asyncio.to_thread(publish)
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                out.append(orjson.loads(message.payload))
                if len(out) == count:
                    break
        return out


@pytest.mark.parametrize(
    ("version", "qos"),
    [(None, None), ("mqtt3.1.1", "0"), ("mqtt3.1.1", "1"), ("mqtt5.0", "1"), ("mqtt5.0", "2")],
)
def test_sender_publishes_metadata_and_body(broker: int, version: Any, qos: Any) -> None:
    info = {}
    if version:
        info["MQTT-Version"] = version
    if qos:
        info["MQTT-QoS"] = qos
    delivery = Delivery(
        f"mqtt://127.0.0.1:{broker}/city/notify",
        b'{"type":"Notification","data":[]}',
        {"Content-Type": "application/json", "X-Key": "v"},
        info,
    )

    async def main() -> list[dict[str, Any]]:
        sender = MqttSender(timeout=5)
        try:

            def publish() -> None:
                asyncio.run_coroutine_threadsafe(sender.send(delivery), loop).result(10)

            loop = asyncio.get_running_loop()
            return await _receive(broker, "city/notify", 1, publish)
        finally:
            await sender.aclose()

    (message,) = asyncio.run(main())
    assert message == {
        "metadata": {"Content-Type": "application/json", "X-Key": "v"},
        "body": {"type": "Notification", "data": []},
    }


def test_broker_down_is_a_delivery_failure() -> None:
    port = free_port()  # nothing listens there

    async def main() -> None:
        sender = MqttSender(timeout=2)
        with pytest.raises(DeliveryFailed):
            await sender.send(Delivery(f"mqtt://127.0.0.1:{port}/t", b"{}"))
        await sender.aclose()

    asyncio.run(main())


def test_endpoint_uri_parts() -> None:
    e = MqttEndpoint.parse("mqtts://us%40er:p%3Ass@broker.example:8884/a/b")
    assert (e.tls, e.host, e.port, e.username, e.password, e.topic) == (
        True,
        "broker.example",
        8884,
        "us@er",
        "p:ss",
        "a/b",
    )
    assert MqttEndpoint.parse("mqtt://h/t").port == 1883


def test_subscription_with_mqtt_endpoint_end_to_end(broker: int, tmp_path: Path) -> None:
    """A subscription's MQTT endpoint gets the ETSI message shape, with QoS from notifierInfo."""
    # one notification per client write: the air-quality service's write-back would add one
    app = create_app(Settings(store=f"sqlite:///{tmp_path / 'hub.db'}", airquality_service=False))
    sub = {
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}],
        "notification": {
            "format": "keyValues",
            "endpoint": {
                "uri": f"mqtt://127.0.0.1:{broker}/seongnam/air",
                "accept": "application/json",
                "receiverInfo": [{"key": "X-Api-Key", "value": "k1"}],
                "notifierInfo": [
                    {"key": "MQTT-QoS", "value": "1"},
                    {"key": "MQTT-Version", "value": "mqtt5.0"},
                ],
            },
        },
    }
    entity = {
        "id": "urn:ngsi-ld:AirQualityObserved:S1",
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": 31},
    }
    with TestClient(app) as client:

        def act() -> None:
            assert client.post("/ngsi-ld/v1/subscriptions", json=sub).status_code == 201
            assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201

        (message,) = asyncio.run(_receive(broker, "seongnam/air", 1, act))
        deadline = time.monotonic() + 10  # the status is written just after the publish
        while True:
            status = client.get("/ngsi-ld/v1/subscriptions").json()[0]["notification"]
            if "lastSuccess" in status or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    assert message["metadata"]["Content-Type"] == "application/json"
    assert message["metadata"]["X-Api-Key"] == "k1"
    assert message["metadata"]["Link"].startswith("<https://uri.etsi.org/ngsi-ld/v1/")
    body = message["body"]
    assert body["type"] == "Notification"
    assert body["data"] == [
        {"id": "urn:ngsi-ld:AirQualityObserved:S1", "type": "AirQualityObserved", "pm25": 31}
    ]
    assert status["timesSent"] >= 1 and status["status"] == "ok"
