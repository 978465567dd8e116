"""Notification senders: a one-method seam (STYLE.md "seams like httpx transports").

- :class:`HttpSender` POSTs to ``http(s)://`` endpoints (HTTP binding, clause 7.2 of ETSI GS
  CIM 009 v1.8.1); any 2xx is a success.
- :class:`MqttSender` publishes to ``mqtt(s)://[user[:password]@]host[:port]/topic`` (MQTT
  binding, clause 7.3 of ETSI GS CIM 009 v1.8.1) with `aiomqtt`_: the message is
  ``{"metadata": {headers}, "body": Notification}``; ``notifierInfo`` ``MQTT-Version``
  (``mqtt3.1.1``, the default, or ``mqtt5.0``) and ``MQTT-QoS`` (0, the default, 1 or 2) choose
  the protocol and the QoS. One connection per broker, user and version is kept open and
  reopened after a failure.
- :class:`SchemeSender` picks one of them by the endpoint's scheme.

.. _aiomqtt: https://github.com/empicano/aiomqtt
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt
import httpx
import orjson


@dataclass(frozen=True)
class Delivery:
    """One notification ready to send: the serialized Notification and its headers (HTTP
    headers, or the MQTT message's ``metadata``), plus the endpoint's ``notifierInfo`` and
    ``timeout`` (seconds; None: the sender's own, which is also the most it allows)."""

    uri: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    notifier_info: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None

    def timeout_within(self, most: float) -> float:
        """The endpoint's timeout, at most ``most`` (clause 5.2.15: the system may override
        it), or ``most`` when the endpoint sets none."""
        return most if self.timeout is None else min(self.timeout, most)


class DeliveryFailed(Exception):
    """The receiver did not accept the notification (the message says why)."""


class PermanentFailure(DeliveryFailed):
    """A notification that can never be delivered as configured (not retried)."""


class Sender(Protocol):
    """Sends one notification; raises :class:`DeliveryFailed` (or any error) on failure."""

    async def send(self, delivery: Delivery) -> None: ...


class HttpSender:
    """POSTs notifications with httpx; any 2xx status is a success."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self._owns = client is None
        self.timeout = timeout
        self.client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    async def send(self, delivery: Delivery) -> None:
        extra: dict[str, Any] = {}
        if delivery.timeout is not None:
            extra["timeout"] = delivery.timeout_within(self.timeout)
        try:
            response = await self.client.post(
                delivery.uri, content=delivery.body, headers=delivery.headers, **extra
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"the receiver answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        if self._owns:
            await self.client.aclose()


@dataclass(frozen=True)
class MqttEndpoint:
    """An ``mqtt(s)://`` endpoint URI taken apart."""

    tls: bool
    host: str
    port: int
    username: str | None
    password: str | None
    topic: str

    @classmethod
    def parse(cls, uri: str) -> MqttEndpoint:
        """Raises :class:`PermanentFailure` for a URI that names no host or no topic."""
        parts = urlsplit(uri)
        tls = parts.scheme.lower() == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise PermanentFailure(f"MQTT endpoint {uri!r}: bad port") from exc
        topic = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not topic:
            raise PermanentFailure(f"MQTT endpoint {uri!r} needs a host and a topic")
        return cls(
            tls,
            parts.hostname,
            port,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            topic,
        )


_VERSIONS = {
    "mqtt3.1.1": aiomqtt.ProtocolVersion.V311,
    "mqtt5.0": aiomqtt.ProtocolVersion.V5,
}


def mqtt_options(notifier_info: dict[str, str]) -> tuple[aiomqtt.ProtocolVersion, int]:
    """(protocol version, QoS) from ``notifierInfo`` (MQTT-Version, MQTT-QoS)."""
    version_text = notifier_info.get("MQTT-Version", "mqtt3.1.1")
    version = _VERSIONS.get(version_text)
    if version is None:
        raise PermanentFailure(
            f"notifierInfo MQTT-Version {version_text!r}: use mqtt3.1.1 or mqtt5.0"
        )
    qos_text = notifier_info.get("MQTT-QoS", "0")
    if qos_text not in ("0", "1", "2"):
        raise PermanentFailure(f"notifierInfo MQTT-QoS {qos_text!r}: use 0, 1 or 2")
    return version, int(qos_text)


def mqtt_message(delivery: Delivery) -> bytes:
    """The MQTT message of a notification: ``{"metadata": headers, "body": Notification}``."""
    return b'{"metadata":' + orjson.dumps(delivery.headers) + b',"body":' + delivery.body + b"}"


_Key = tuple[bool, str, int, str | None, str | None, aiomqtt.ProtocolVersion]


class MqttSender:
    """Publishes notifications to MQTT brokers (3.1.1 or 5), keeping one connection each."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[_Key, aiomqtt.Client] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}

    async def _client(self, key: _Key) -> aiomqtt.Client:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            client = self._clients.get(key)
            if client is not None:
                return client
            tls, host, port, username, password, version = key
            client = aiomqtt.Client(
                host,
                port,
                username=username,
                password=password,
                protocol=version,
                timeout=self.timeout,
                tls_context=ssl.create_default_context() if tls else None,
            )
            await client.__aenter__()
            self._clients[key] = client
            return client

    async def _drop(self, key: _Key) -> None:
        client = self._clients.pop(key, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    async def send(self, delivery: Delivery) -> None:
        endpoint = MqttEndpoint.parse(delivery.uri)
        version, qos = mqtt_options(delivery.notifier_info)
        key: _Key = (
            endpoint.tls,
            endpoint.host,
            endpoint.port,
            endpoint.username,
            endpoint.password,
            version,
        )
        try:
            client = await self._client(key)
            await client.publish(
                endpoint.topic,
                mqtt_message(delivery),
                qos=qos,
                timeout=delivery.timeout_within(self.timeout),
            )
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            await self._drop(key)
            raise DeliveryFailed(f"MQTT {endpoint.host}:{endpoint.port}: {exc}") from exc

    async def aclose(self) -> None:
        for key in list(self._clients):
            await self._drop(key)


class SchemeSender:
    """Routes each delivery by its endpoint's scheme: http(s) to ``http``, mqtt(s) to ``mqtt``."""

    def __init__(self, http: Sender | None = None, mqtt: Sender | None = None) -> None:
        self.http: Sender = http if http is not None else HttpSender()
        self.mqtt: Sender = mqtt if mqtt is not None else MqttSender()

    async def send(self, delivery: Delivery) -> None:
        scheme = delivery.uri.split(":", 1)[0].lower()
        if scheme in ("http", "https"):
            await self.http.send(delivery)
        elif scheme in ("mqtt", "mqtts"):
            await self.mqtt.send(delivery)
        else:
            raise PermanentFailure(f"notification endpoint {delivery.uri!r}: unknown scheme")

    async def aclose(self) -> None:
        for sender in (self.http, self.mqtt):
            close: Any = getattr(sender, "aclose", None)
            if close is not None:
                await close()


__all__ = [
    "Delivery",
    "DeliveryFailed",
    "HttpSender",
    "MqttEndpoint",
    "MqttSender",
    "PermanentFailure",
    "SchemeSender",
    "Sender",
    "mqtt_message",
    "mqtt_options",
]
