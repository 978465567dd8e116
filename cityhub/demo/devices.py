"""The demo city's sensors as devices of the hub's IoT agent (issue 18, deliverable 6): each
live asset is measured by a ``Device`` that sends its readings as FIWARE IoT Agent JSON
payloads (``{"TimeInstant": ..., "pm25": 12, ...}``), over HTTP (``POST /iot/json?k=&i=``) or
MQTT (``/json/<apikey>/<device>/attrs``, QoS 1), as a real sensor fleet would.

What an operator's provisioning script would do is done here through the agent's provisioning
API (iotagent-node-lib's): one config group per kind of sensor (its apikey, entity type, and
the attributes with their type and ``unitCode``), and one device per sensor naming the entity
it measures (``entity_name``) and, for battery-powered ones, sending ``batteryLevel`` to its own
``Device`` entity. The agent then writes the measures with ``observedAt`` from ``TimeInstant``
(the simulated time) and keeps each ``Device``'s ``deviceState`` and
``dateLastValueReported``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiomqtt
import httpx
import orjson

from cityhub.demo.city import City
from cityhub.demo.clock import iso
from cityhub.demo.model import Asset, Attribute
from cityhub.demo.readings import KINDS, Reading, device_reading
from cityhub.iot.mqtt import parse_broker_url

DEVICE_PREFIX = "urn:ngsi-ld:Device:"
#: entity types that Smart Data Models give a ``dateObserved`` (the device's TimeInstant)
DATE_OBSERVED = frozenset({"AirQualityObserved", "WeatherObserved", "TrafficFlowObserved"})
#: when the sample readings that type the groups' attributes are taken (any time would do)
_SAMPLE = datetime(2026, 1, 14, 3, 0, tzinfo=UTC)
#: device messages in flight at once over HTTP (they share the agent's commits)
_CONCURRENCY = 64

Document = dict[str, Any]


def apikey(kind: str) -> str:
    """The config group's apikey of a kind of sensor."""
    return f"seongnam-{kind}"


def device_id(asset: Asset) -> str:
    """The agent's device id of the sensor measuring ``asset``: its ``Device`` entity's id
    without ``urn:ngsi-ld:Device:`` (the agent names that entity back from it)."""
    assert asset.device is not None and asset.device.startswith(DEVICE_PREFIX), asset.id
    return asset.device[len(DEVICE_PREFIX) :]


def _attribute_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    return "Text"


def _mapping(name: str, attr: Attribute) -> Document:
    out: Document = {"object_id": name, "name": name, "type": _attribute_type(attr["value"])}
    if "unitCode" in attr:
        out["metadata"] = {"unitCode": {"type": "Text", "value": attr["unitCode"]}}
    return out


def groups(city: City, transport: str = "HTTP") -> list[Document]:
    """One config group per kind of live asset, its attributes typed from sample readings."""
    out = []
    for kind, assets in sorted(city.by_kind.items()):
        if kind not in KINDS:
            continue
        attributes: dict[str, Document] = {}
        for asset in assets:
            for name, attr in KINDS[kind].read(asset, 0, _SAMPLE).items():
                attributes.setdefault(name, _mapping(name, attr))
        entity_type = assets[0].entity_type
        mapped = list(attributes.values())
        if entity_type in DATE_OBSERVED:
            mapped.append({"object_id": "TimeInstant", "name": "dateObserved", "type": "DateTime"})
        out.append(
            {
                "apikey": apikey(kind),
                "resource": "/iot/json",
                "entity_type": entity_type,
                "protocol": "IoTA-JSON",
                "transport": transport,
                "timestamp": True,
                "autoprovision": False,
                "description": f"Seongnam demo: {kind} sensors",
                "attributes": mapped,
            }
        )
    return out


def devices(city: City, transport: str = "HTTP") -> list[Document]:
    """One device per live asset, measuring it; battery-powered ones report ``batteryLevel``
    to their own ``Device`` entity."""
    out = []
    for asset in city.live:
        sensor = city.by_id[asset.device] if asset.device else None
        assert sensor is not None, f"{asset.id} has no Device"
        device: Document = {
            "device_id": device_id(asset),
            "apikey": apikey(asset.kind),
            "entity_name": asset.id,
            "entity_type": asset.entity_type,
            "protocol": "IoTA-JSON",
            "transport": transport,
        }
        if sensor.params.battery:
            device["attributes"] = [
                {
                    "object_id": "batteryLevel",
                    "name": "batteryLevel",
                    "type": "Number",
                    "metadata": {"unitCode": {"type": "Text", "value": "C62"}},
                    "entity_name": sensor.id,
                    "entity_type": "Device",
                }
            ]
        out.append(device)
    return out


@dataclass(frozen=True)
class Message:
    """One device message: the sensor's group apikey, its device id, and its JSON measures."""

    apikey: str
    device_id: str
    measures: Document


def message(city: City, asset: Asset, reading: Reading, at: datetime, seed: int) -> Message:
    """What the sensor of ``asset`` sends for ``reading`` taken at ``at``: the values, the
    time as ``TimeInstant``, and its battery when it runs on one."""
    measures: Document = {"TimeInstant": iso(at)}
    measures.update({name: attr["value"] for name, attr in reading.items()})
    sensor = city.by_id[asset.device] if asset.device else None
    if sensor is not None and sensor.params.battery:
        battery = device_reading(sensor, seed, at).get("batteryLevel")
        if battery is not None:
            measures["batteryLevel"] = battery["value"]
    return Message(apikey(asset.kind), device_id(asset), measures)


class DeviceLink(Protocol):
    """How the simulated sensors reach the hub."""

    transport: str

    async def send(self, messages: list[Message]) -> list[str]:
        """Send the messages; returns a line for each one the hub refused."""
        ...


class HttpDevices:
    """The sensors post to the agent's HTTP transport, ``POST /iot/json?k=<apikey>&i=<id>``
    (a few at once: the agent commits those that arrive together in one transaction)."""

    transport = "HTTP"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, messages: list[Message]) -> list[str]:
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def one(m: Message) -> str | None:
            async with gate:
                response = await self.client.post(
                    "/iot/json", params={"k": m.apikey, "i": m.device_id}, json=m.measures
                )
            if response.status_code < 300:
                return None
            return f"device {m.device_id} answered {response.status_code}: {response.text[:300]}"

        answers = await asyncio.gather(*(one(m) for m in messages))
        return [a for a in answers if a is not None]


class MqttDevices:
    """The sensors publish to a broker, QoS 1, on ``/json/<apikey>/<device>/attrs`` (the hub,
    subscribed to the same broker, writes them). Open it with ``async with``."""

    transport = "MQTT"

    def __init__(self, url: str, client_id: str = "cityhub-demo-devices") -> None:
        self.broker = parse_broker_url(url)
        self.client_id = client_id
        self._client: aiomqtt.Client | None = None

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[MqttDevices]:
        """Connected to the broker while the block runs."""
        b = self.broker
        tls = aiomqtt.TLSParameters(cert_reqs=ssl.CERT_REQUIRED) if b.tls else None
        async with aiomqtt.Client(
            b.host,
            b.port,
            username=b.username,
            password=b.password,
            identifier=self.client_id,
            tls_params=tls,
        ) as client:
            self._client = client
            try:
                yield self
            finally:
                self._client = None

    async def send(self, messages: list[Message]) -> list[str]:
        assert self._client is not None, "MqttDevices.connected() first"
        for m in messages:
            topic = f"/json/{m.apikey}/{m.device_id}/attrs"
            await self._client.publish(topic, orjson.dumps(m.measures), qos=1)
        return []


async def provision(client: httpx.AsyncClient, city: City, transport: str = "HTTP") -> int:
    """Provision the city's groups and devices through the agent's API, as an operator's
    script would: groups created (or updated when they exist), devices created unless the
    agent has them already. Returns how many devices were created.

    Raises:
        httpx.HTTPStatusError: the agent refused a group or device.
    """
    for group in groups(city, transport):
        r = await client.post("/iot/groups", json={"groups": [group]})
        if r.status_code == 409:  # a restart on a kept store: bring the group up to date
            r = await client.put(
                "/iot/groups",
                params={"apikey": group["apikey"], "resource": group["resource"]},
                json=group,
            )
        r.raise_for_status()
    known = {d["device_id"] for d in await _listed(client)}
    new = [d for d in devices(city, transport) if d["device_id"] not in known]
    for chunk in _chunks(new, 100):
        r = await client.post("/iot/devices", json={"devices": chunk})
        r.raise_for_status()
    return len(new)


async def _listed(client: httpx.AsyncClient) -> list[Document]:
    out: list[Document] = []
    while True:
        r = await client.get("/iot/devices", params={"offset": len(out)})
        r.raise_for_status()
        page: list[Document] = r.json()["devices"]
        if not page:
            return out
        out.extend(page)


def _chunks(items: list[Document], size: int) -> Iterable[list[Document]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = [
    "DATE_OBSERVED",
    "DeviceLink",
    "HttpDevices",
    "Message",
    "MqttDevices",
    "apikey",
    "device_id",
    "devices",
    "groups",
    "message",
    "provision",
]
