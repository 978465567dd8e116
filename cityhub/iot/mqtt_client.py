"""A small MQTT 3.1.1 client for the IoT agent (OASIS standard, sections cited below): CONNECT
with a persistent session, SUBSCRIBE, PUBLISH at QoS 0, 1 and 2 both ways, acknowledgements
sent when the caller says (after the commit), PINGREQ keep-alive, DISCONNECT.

Why not paho (under aiomqtt): receiving a QoS 1 message and acknowledging it cost about 100
microseconds of CPU there (paho parses each packet and runs its callbacks under a lock, aiomqtt
queues a ``Message`` for an ``async for``), a sixth of what the hub spends on a whole measure.
Here a read of the socket is parsed in one pass (every complete packet in it), each PUBLISH is
handed to ``on_message`` at once, and the acknowledgements of one turn of the event loop go
out in one write: about 12 microseconds a message, measured the same way. The hub's other
MQTT uses (notifications) keep aiomqtt.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

#: packet types (3.1.1 section 2.2.1)
_CONNECT, _CONNACK, _PUBLISH, _PUBACK, _PUBREC, _PUBREL, _PUBCOMP = 1, 2, 3, 4, 5, 6, 7
_SUBSCRIBE, _SUBACK, _PINGREQ, _PINGRESP, _DISCONNECT = 8, 9, 12, 13, 14
_CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttError(Exception):
    """The connection failed, was refused, or was lost."""


@dataclass(frozen=True, slots=True)
class Message:
    """A PUBLISH received: ``packet_id`` is 0 at QoS 0. A payload larger than the client's
    ``max_payload`` is not kept: ``payload`` is empty and ``size`` says how large it was."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    size: int


def _text(value: str) -> bytes:
    raw = value.encode()
    return len(raw).to_bytes(2, "big") + raw


def _packet(first: int, body: bytes) -> bytes:
    """A packet: the fixed header (type and flags, remaining length, 2.2.3) and the body."""
    out = bytearray([first])
    n = len(body)
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + body


class MqttClient(asyncio.Protocol):
    """One connection to a broker. ``on_message`` is called for each PUBLISH as it is read;
    a QoS 1 or 2 message is acknowledged only when :meth:`ack` is called for it.

    Args:
        on_message: what receives each message, with this client (called in the event loop,
            must not block; a persistent session's messages may come before ``connect``
            returns).
        max_payload: the largest payload kept (larger ones are read past, not kept).
    """

    def __init__(self, on_message: Callable[[MqttClient, Message], None], max_payload: int) -> None:
        self.on_message = on_message
        self.max_payload = max_payload
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        #: bytes of a too large PUBLISH still to read past
        self._skip = 0
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._ids = 0
        self._waiting: dict[tuple[int, int], asyncio.Future[bytes]] = {}
        self._connack: asyncio.Future[bytes] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._heard = 0.0
        self._pinger: asyncio.Task[None] | None = None

    # ---- connecting -------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        client_id: str,
        on_message: Callable[[MqttClient, Message], None],
        username: str | None = None,
        password: str | None = None,
        clean_session: bool = False,
        keepalive: int = 60,
        tls: ssl.SSLContext | None = None,
        max_payload: int = 1_048_576,
        timeout: float = 10.0,
    ) -> MqttClient:
        """Connect and wait for the broker's CONNACK (3.1, 3.2).

        Raises:
            MqttError: the connection failed or the broker refused it.
        """
        loop = asyncio.get_running_loop()
        try:
            _, client = await asyncio.wait_for(
                loop.create_connection(
                    lambda: cls(on_message, max_payload),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                ),
                timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise MqttError(f"cannot connect to {host}:{port}: {exc}") from None
        flags = 0x02 if clean_session else 0
        payload = _text(client_id)
        if username is not None:
            flags |= 0x80
            payload += _text(username)
            if password is not None:
                flags |= 0x40
                payload += _text(password)
        header = _text("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big")
        client._connack = loop.create_future()
        client._send(_packet(_CONNECT << 4, header + payload))
        try:
            ack = await asyncio.wait_for(asyncio.shield(client._connack), timeout)
        except (TimeoutError, MqttError) as exc:
            client.close()
            raise MqttError(f"no CONNACK from {host}:{port}: {exc}") from None
        if len(ack) != 2 or ack[1] != 0:
            client.close()
            code = ack[1] if len(ack) == 2 else -1
            raise MqttError(
                f"the broker refused the connection: {_CONNACK_REASONS.get(code, code)}"
            )
        if keepalive:
            client._pinger = asyncio.create_task(client._keep_alive(keepalive))
        return client

    async def _keep_alive(self, keepalive: int) -> None:
        """PINGREQ at half the keep-alive (3.1.2.10); a broker silent for one and a half
        keep-alives is gone: the connection is closed."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(keepalive / 2)
            if loop.time() - self._heard > keepalive * 1.5:
                self._lost(MqttError("the broker did not answer the keep-alive"))
                return
            self._send(bytes([_PINGREQ << 4, 0]))

    # ---- requests ---------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids = self._ids % 65535 + 1
        return self._ids

    async def _request(self, packet: bytes, answer: tuple[int, int], timeout: float) -> bytes:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[answer] = future
        self._send(packet)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise MqttError("the broker did not answer in time") from None
        finally:
            self._waiting.pop(answer, None)

    async def subscribe(self, topics: list[str], qos: int = 1, timeout: float = 10.0) -> None:
        """SUBSCRIBE (3.8) and wait for the SUBACK (3.9).

        Raises:
            MqttError: a topic was refused, or no answer.
        """
        packet_id = self._next_id()
        body = packet_id.to_bytes(2, "big") + b"".join(_text(t) + bytes([qos]) for t in topics)
        granted = await self._request(
            _packet(_SUBSCRIBE << 4 | 2, body), (_SUBACK, packet_id), timeout
        )
        if 0x80 in granted[2:]:
            raise MqttError(f"the broker refused a subscription of {topics}")

    async def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False, timeout: float = 10.0
    ) -> None:
        """PUBLISH (3.3); at QoS 1 waits for the PUBACK, at QoS 2 for PUBREC, then PUBCOMP.

        Raises:
            MqttError: not connected, or no answer.
        """
        if self.closed.done():
            raise MqttError("not connected")
        first = _PUBLISH << 4 | (qos & 3) << 1 | (1 if retain else 0)
        if qos == 0:
            self._send(_packet(first, _text(topic) + payload))
            return
        packet_id = self._next_id()
        packet = _packet(first, _text(topic) + packet_id.to_bytes(2, "big") + payload)
        if qos == 1:
            await self._request(packet, (_PUBACK, packet_id), timeout)
            return
        await self._request(packet, (_PUBREC, packet_id), timeout)
        release = _packet(_PUBREL << 4 | 2, packet_id.to_bytes(2, "big"))
        await self._request(release, (_PUBCOMP, packet_id), timeout)

    def ack(self, message: Message) -> None:
        """Acknowledge a received message: PUBACK at QoS 1, PUBREC at QoS 2 (3.4, 3.5); sent
        with the others of this turn of the event loop, in one write."""
        if message.qos == 1:
            self._send(bytes([_PUBACK << 4, 2]) + message.packet_id.to_bytes(2, "big"))
        elif message.qos == 2:
            self._send(bytes([_PUBREC << 4, 2]) + message.packet_id.to_bytes(2, "big"))

    async def disconnect(self) -> None:
        """DISCONNECT (3.14) and close."""
        if self._transport is not None and not self.closed.done():
            self._send(bytes([_DISCONNECT << 4, 0]))
            self._flush()
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._lost(MqttError("the connection was closed"))

    # ---- the connection ---------------------------------------------------------------------

    def _send(self, packet: bytes) -> None:
        self._outgoing.append(packet)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outgoing and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def pause_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._heard = asyncio.get_running_loop().time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(MqttError(f"the connection was lost: {exc}" if exc else "the broker closed"))

    def _lost(self, exc: MqttError) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        for future in [self._connack, *self._waiting.values()]:
            if future is not None and not future.done():
                future.set_exception(exc)
        if not self.closed.done():
            self.closed.set_exception(exc)
            self.closed.exception()  # retrieved here: a caller may never await it

    def data_received(self, data: bytes) -> None:
        self._heard = asyncio.get_running_loop().time()
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return
            data, self._skip = data[self._skip :], 0
        buffer = self._buffer
        buffer += data
        pos, end = 0, len(buffer)
        while end - pos >= 2:
            length, multiplier, i, complete = 0, 1, pos + 1, False
            while i < end and i - pos <= 4:  # the remaining length: one to four bytes (2.2.3)
                byte = buffer[i]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                i += 1
                if byte < 0x80:
                    complete = True
                    break
            if not complete:
                if i - pos > 4:
                    self._lost(MqttError("a malformed packet length"))
                    return
                break  # the length is not all here yet
            first = buffer[pos]
            if length > self.max_payload + 65_600 and first >> 4 == _PUBLISH:
                if not self._large(first, buffer, i, end, length):
                    break  # its topic and packet id are not all here yet
                if end - i < length:  # read past the rest as it comes
                    self._skip = length - (end - i)
                    del buffer[:]
                    return
                pos = i + length
                continue
            if end - i < length:
                break
            self._handle(first, bytes(buffer[i : i + length]))
            pos = i + length
        del buffer[:pos]

    def _large(self, first: int, buffer: bytearray, start: int, end: int, length: int) -> bool:
        """A PUBLISH too large to keep: once its topic and packet id are here, handed on with
        an empty payload (the caller reads past the rest). False: its header is not all here
        yet."""
        if end - start < 2:
            return False
        topic_length = int.from_bytes(buffer[start : start + 2], "big")
        qos = first >> 1 & 3
        header = 2 + topic_length + (2 if qos else 0)
        if end - start < header:
            return False
        topic = bytes(buffer[start + 2 : start + 2 + topic_length]).decode("utf-8", "replace")
        packet_id = int.from_bytes(buffer[start + header - 2 : start + header], "big") if qos else 0
        self.on_message(self, Message(topic, b"", qos, packet_id, length - header))
        return True

    def _handle(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == _PUBLISH:
            qos = first >> 1 & 3
            topic_end = 2 + int.from_bytes(body[:2], "big")
            topic = body[2:topic_end].decode("utf-8", "replace")
            if qos:
                packet_id = int.from_bytes(body[topic_end : topic_end + 2], "big")
                payload = body[topic_end + 2 :]
            else:
                packet_id, payload = 0, body[topic_end:]
            self.on_message(self, Message(topic, payload, qos, packet_id, len(payload)))
        elif kind == _CONNACK:
            if self._connack is not None and not self._connack.done():
                self._connack.set_result(body)
        elif kind == _PUBREL:  # the second half of a QoS 2 message received (3.6, 3.7)
            self._send(bytes([_PUBCOMP << 4, 2]) + body[:2])
        elif kind in (_PUBACK, _PUBREC, _PUBCOMP, _SUBACK):
            future = self._waiting.get((kind, int.from_bytes(body[:2], "big")))
            if future is not None and not future.done():
                future.set_result(body)
        # PINGRESP and anything else: heard, nothing to do


__all__ = ["Message", "MqttClient", "MqttError"]
