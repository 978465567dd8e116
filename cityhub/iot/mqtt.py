"""The IoT agent's MQTT transport (iotagent-ul / iotagent-json "MQTT binding"): the agent
subscribes, QoS 1, to

- ``/json/<apikey>/<device>/attrs`` (a JSON object of measures, or an array of them) and
  ``/ul/<apikey>/<device>/attrs`` (UltraLight 2.0),
- ``/json|ul/<apikey>/<device>/attrs/<name>``: one measure, the payload its value,
- ``/<apikey>/<device>/attrs`` and ``/<apikey>/<device>/attrs/<name>``, the older topics
  without a protocol (a payload starting with ``{`` or ``[`` is JSON, else UltraLight);
- ``/json|ul/<apikey>/<device>/cmdexe`` (and ``/<apikey>/<device>/cmdexe``): answers to
  commands (``cityhub.iot.commands``), which it publishes on ``/<apikey>/<device>/cmd``;
- ``/json|ul/<apikey>/<device>/lazyexe`` (and ``/<apikey>/<device>/lazyexe``): answers to
  reads of lazy attributes (``cityhub.iot.lazy``), asked on ``/<apikey>/<device>/lazy``.
  Every worker subscribes to these (the one that asked waits for the answer).

Delivery is at least once and nothing is lost in a crash: the session is persistent
(``clean_session`` false, client id ``iot_mqtt_client_id``), and a message is acknowledged
(PUBACK) only after its measures are committed, or once it is refused for good (a bad payload,
counted). A message the store cannot take now (unavailable) is retried with backoff and not
acknowledged meanwhile, so a hub killed at any point gets it again from the broker. The
connection is remade with exponential backoff (1 s doubling to 30 s) when it drops.

The broker bounds how many unacknowledged messages it sends at once (Mosquitto's
``max_inflight_messages``, 20 by default): that is also the largest batch MQTT measures can
form; raise it on the broker for more throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from cityhub.errors import CityhubError
from cityhub.iot.agent import MALFORMED, TOO_LARGE, IotAgent, Measures
from cityhub.iot.commands import parse_results
from cityhub.iot.errors import WrongSyntax
from cityhub.iot.json_measures import parse_json_measures
from cityhub.iot.mqtt_client import Message, MqttClient, MqttError
from cityhub.iot.provisioning import check_id
from cityhub.iot.ultralight import MeasureGroup, parse_ultralight

log = logging.getLogger("cityhub.iot")

#: answers to reads of lazy attributes: every worker subscribes (the one that asked waits)
LAZY_TOPICS = ("/+/+/+/lazyexe", "/+/+/lazyexe")
TOPICS = (
    "/+/+/+/attrs",
    "/+/+/+/attrs/+",
    "/+/+/attrs",
    "/+/+/attrs/+",
    "/+/+/+/cmdexe",
    "/+/+/cmdexe",
    *LAZY_TOPICS,
)
_PROTOCOLS = ("json", "ul")
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    tls: bool = False


def parse_broker_url(url: str) -> Broker:
    """``mqtt://[user:password@]host[:port]`` (port 1883), or ``mqtts://`` for TLS with the
    system's certificate authorities (port 8883).

    Raises:
        ValueError: another scheme or no host (the message never repeats the URL).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parts.hostname:
        raise ValueError("iot_mqtt_url must read mqtt[s]://[user:password@]host[:port]")
    tls = parts.scheme in ("mqtts", "ssl")
    return Broker(
        parts.hostname,
        parts.port or (8883 if tls else 1883),
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        tls,
    )


@dataclass(frozen=True)
class TopicMeasure:
    """What a topic names: the protocol (json, ul, or None for the older topics), the apikey,
    the device, and the one attribute of a single-measure topic."""

    protocol: str | None
    apikey: str
    device_id: str
    attribute: str | None
    cmdexe: bool = False
    lazyexe: bool = False


def parse_topic(topic: str) -> TopicMeasure | None:
    """The measure topic's parts; None for a topic that is no measure topic."""
    if not topic.startswith("/"):
        return None
    parts = topic[1:].split("/")
    if parts[-1] in ("cmdexe", "lazyexe") and len(parts) in (3, 4):
        if len(parts) == 4 and parts[0] not in _PROTOCOLS:
            return None
        proto = parts[0] if len(parts) == 4 else None
        cmdexe = parts[-1] == "cmdexe"
        return TopicMeasure(proto, parts[-3], parts[-2], None, cmdexe=cmdexe, lazyexe=not cmdexe)
    if parts[0] in _PROTOCOLS and len(parts) in (4, 5) and parts[3] == "attrs":
        return TopicMeasure(parts[0], parts[1], parts[2], parts[4] if len(parts) == 5 else None)
    if len(parts) in (3, 4) and parts[2] == "attrs":
        return TopicMeasure(None, parts[0], parts[1], parts[3] if len(parts) == 4 else None)
    return None


def _json_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def measures_of(where: TopicMeasure, payload: bytes) -> Measures:
    """The message's measures.

    Raises:
        WrongSyntax: not UTF-8, not the payload its topic says, or a bad id or name.
    """
    apikey = check_id(where.apikey, "the topic's apikey")
    device_id = check_id(where.device_id, "the topic's device id")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WrongSyntax("the payload is not UTF-8 text") from None
    protocol = where.protocol or ("json" if text.lstrip()[:1] in ("{", "[") else "ul")
    if where.attribute is not None:
        name = check_id(where.attribute, "the topic's attribute name")
        value = _json_value(text) if protocol == "json" else text.strip()
        group = MeasureGroup(values={name: value})
        return Measures(apikey, device_id, [group], text=protocol == "ul")
    if protocol == "ul":
        return Measures(apikey, device_id, parse_ultralight(text), text=True)
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise WrongSyntax(f"the payload is not valid JSON: {exc}") from None
    return Measures(apikey, device_id, parse_json_measures(body), text=False)


class MqttTransport:
    """Subscribes to the measure topics and feeds the agent; acknowledges after the commit.

    Args:
        agent: the IoT agent measures go to.
        url: the broker (``mqtt://[user:password@]host[:port]``).
        client_id: the persistent session's client id.
        max_concurrent: messages in process at once (they batch in one commit).
        subscribe: subscribe to the device topics (False: only publish commands and hear
            the answers to lazy reads, for the workers after the first).
        max_bytes: the largest payload taken (the hub's ``max_body_bytes``); a larger one is
            counted ``too_large`` and dropped.
    """

    def __init__(
        self,
        agent: IotAgent,
        url: str,
        client_id: str,
        max_concurrent: int = 1000,
        *,
        subscribe: bool = True,
        max_bytes: int = 1_048_576,
    ) -> None:
        self.agent = agent
        self.subscribe = subscribe
        self.max_bytes = max_bytes
        self.broker = parse_broker_url(url)
        self.client_id = client_id
        self.max_concurrent = max(1, max_concurrent)
        #: messages in process now; reading stops at ``max_concurrent`` until one is done
        self._in_process = 0
        self._task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        #: set while subscribed (tests and the bench wait on it)
        self.connected = asyncio.Event()
        self.acknowledged = 0
        self._client: MqttClient | None = None
        #: one lock per device: its messages are committed in the order they came (a lookup
        #: that waits must not let a later measure overtake an earlier one)
        self._order: dict[str, tuple[asyncio.Lock, int]] = {}

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish, QoS 1 unless told (commands to devices, ``/<apikey>/<device>/cmd``; a
        command's ``mqtt`` options choose its QoS and retain flag).

        Raises:
            RuntimeError: not connected to the broker now.
        """
        client = self._client
        if client is None or not self.connected.is_set():
            raise RuntimeError("the MQTT broker is not connected")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except MqttError as exc:
            raise RuntimeError(f"MQTT publish failed: {exc}") from exc

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cityhub-iot-mqtt")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._handlers):
            task.cancel()
        self._handlers.clear()

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._session()
            except MqttError as exc:
                log.warning("IoT MQTT: %s; reconnecting in %.0f s", exc, delay)
            if self.connected.is_set():
                delay = 1.0  # it was up: the next try starts again at a second
            self.connected.clear()
            self._client = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _session(self) -> None:
        client = await MqttClient.connect(
            self.broker.host,
            self.broker.port,
            client_id=self.client_id,
            on_message=self._received,
            username=self.broker.username,
            password=self.broker.password,
            clean_session=False,
            tls=ssl.create_default_context() if self.broker.tls else None,
            max_payload=self.max_bytes,
        )
        try:
            # each PUBLISH is acknowledged by _handle once its measures are committed
            await client.subscribe(list(TOPICS if self.subscribe else LAZY_TOPICS), qos=1)
            self._client = client
            self.connected.set()
            log.info("IoT MQTT: subscribed at %s:%s", self.broker.host, self.broker.port)
            await client.closed
        finally:
            await client.disconnect()

    def _received(self, client: MqttClient, message: Message) -> None:
        """A PUBLISH was read (a persistent session's may come before the subscription is
        answered). A measure of a device the agent holds is queued for commit here and now
        (:meth:`IotAgent.submit_now`), and acknowledged from the commit's callback: no task,
        no wait. Any other message (a device or group to look up, a command's or lazy
        read's answer, a refusal to count), and every later message of its device until it
        is queued, goes through a task of its own (:meth:`_handle`), in the device's order.
        Reading pauses while ``max_concurrent`` messages are in process."""
        self._in_process += 1
        if self._in_process >= self.max_concurrent:
            client.pause_reading()
        where = parse_topic(message.topic)
        key = f"{where.apikey}/{where.device_id}" if where else ""
        if (
            where is not None
            and not where.cmdexe
            and not where.lazyexe
            and message.size <= self.max_bytes
            and key not in self._order  # no earlier message of the device waits in a task
        ):
            try:
                measures = measures_of(where, message.payload)
                started = self.agent.submit_now(measures)
            except CityhubError:
                started = None  # refused: the task's path counts it
            if started is not None:
                tenant, device, pending = started
                pending.add_done_callback(
                    functools.partial(
                        self._committed_now, client, message, where, measures, tenant, device
                    )
                )
                return
        self._start(client, message, where, key)

    def _start(
        self,
        client: MqttClient,
        message: Message,
        where: TopicMeasure | None,
        key: str,
        *,
        retry: bool = False,
    ) -> None:
        """Handle the message in a task of its own, its device's later messages behind it."""
        self._hold_turn(key)
        task = asyncio.create_task(self._handle(client, message, where, key, retry=retry))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    def _committed_now(
        self,
        client: MqttClient,
        message: Message,
        where: TopicMeasure,
        measures: Measures,
        tenant: str,
        device: dict[str, Any],
        pending: asyncio.Future[int],
    ) -> None:
        """The commit of a message queued by :meth:`_received` is done: acknowledge it
        (committed, or refused for good and counted), or hand it to a task that retries (the
        store could not take it now)."""
        if pending.cancelled():  # the hub is stopping: not acknowledged, sent again later
            self._done_with(client)
            return
        exc = pending.exception()
        if exc is None:
            self.agent.committed_now(tenant, measures, device, pending.result())
        elif isinstance(exc, CityhubError) and exc.status < 500:
            self.agent.note_refusal(tenant, measures, exc)  # refused for good: dropped
        elif isinstance(exc, CityhubError):
            log.warning("IoT MQTT: %s; retrying in 0.5 s", exc.detail)
            self._in_process -= 1  # the task counts itself
            self._start(client, message, where, f"{where.apikey}/{where.device_id}", retry=True)
            return
        else:  # not acknowledged: the broker sends it again on the next connection
            log.error("IoT MQTT: a message of %s was not committed: %r", where.device_id, exc)
            self._done_with(client)
            return
        self._ack(client, message)
        self._done_with(client)

    def _done_with(self, client: MqttClient) -> None:
        self._in_process -= 1
        if self._in_process == self.max_concurrent - 1:
            client.resume_reading()

    async def _handle(
        self,
        client: MqttClient,
        message: Message,
        where: TopicMeasure | None,
        key: str,
        *,
        retry: bool = False,
    ) -> None:
        """Queue the message in its device's turn (held for it by :meth:`_start`), wait for
        the commit, acknowledge; a message the store cannot take now is tried again with
        backoff, unacknowledged meanwhile."""
        try:
            delay = 0.5
            if retry:
                await asyncio.sleep(delay)
                delay *= 2
            turn = True  # the first turn is held already
            while True:
                if not turn:
                    self._hold_turn(key)
                turn = False
                try:
                    committed = await self._queued(where, message, key)
                    await committed
                    break
                except CityhubError as exc:
                    if exc.status < 500:
                        break  # refused for good: counted by the agent, dropped
                    log.warning("IoT MQTT: %s; retrying in %.1f s", exc.detail, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            self._ack(client, message)
        finally:
            self._done_with(client)

    def _hold_turn(self, key: str) -> None:
        """A message of the device (``key``) is to be queued in a task: the device's later
        messages wait behind it (and none is queued by :meth:`_received` meanwhile)."""
        lock, users = self._order.get(key) or (asyncio.Lock(), 0)
        self._order[key] = (lock, users + 1)

    async def _queued(
        self, where: TopicMeasure | None, message: Message, key: str
    ) -> Awaitable[None]:
        """:meth:`_submit` in the device's turn (held by :meth:`_hold_turn`): its messages
        are queued for commit in the order they came (a lookup that waits must not let a
        later measure overtake an earlier one). The turn ends once the message is queued, so
        a device's next messages join the same commit."""
        lock, _ = self._order[key]
        try:
            async with lock:
                return await self._submit(where, message)
        finally:
            lock, users = self._order[key]
            if users == 1:
                del self._order[key]  # no message of this device waits
            else:
                self._order[key] = (lock, users - 1)

    def _ack(self, client: MqttClient, message: Message) -> None:
        client.ack(message)
        self.acknowledged += 1

    async def _submit(self, where: TopicMeasure | None, message: Message) -> Awaitable[None]:
        """Queue the message's measures for commit; returns what completes once they are
        committed (at once for a message that is refused for good or carries none).

        Raises:
            CityhubError: refused (status < 500: counted by the agent, dropped) or not
                taken now (>= 500: sent again later).
        """
        if where is None:
            return _done()
        payload = message.payload
        if message.size > self.max_bytes:
            detail = f"the payload is {message.size} bytes; at most {self.max_bytes}"
            await self.agent.count_refused(where.apikey, where.device_id, TOO_LARGE, detail)
            return _done()
        if where.lazyexe:
            if self.agent.lazy is None or not self.agent.lazy.answered(
                where.apikey, where.device_id, payload
            ):
                log.info("IoT MQTT: a lazy answer of %s nobody waits for", where.device_id)
            return _done()
        if where.cmdexe:
            try:
                await self.agent.command_results(
                    where.apikey, where.device_id, parse_results(payload)
                )
            except CityhubError:
                pass  # counted by the agent
            return _done()
        try:
            measures = measures_of(where, payload)
        except WrongSyntax as exc:
            await self.agent.count_refused(where.apikey, where.device_id, MALFORMED, exc.detail)
            return _done()
        return await self.agent.submit_measure(measures)


async def _done() -> None:
    """An awaitable that completes at once (a message with nothing to commit)."""


__all__ = [
    "LAZY_TOPICS",
    "TOPICS",
    "MqttTransport",
    "measures_of",
    "parse_broker_url",
    "parse_topic",
]
