"""A load generator for MQTT, as wrk is for HTTP: QoS 1 PUBLISH packets built in advance and
written to the broker over a plain socket, pipelined, with the broker's PUBACKs read as they
come (MQTT 3.1.1, OASIS standard, 3.1 CONNECT, 3.3 PUBLISH, 3.4 PUBACK). A Python MQTT client
(paho, under aiomqtt) parses and schedules each message in Python and, on this 2-core machine,
measured itself rather than the hub (bench/iot_bench.py used 8 of them: a full core).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(s: str) -> bytes:
    raw = s.encode()
    return len(raw).to_bytes(2, "big") + raw


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session."""
    body = _text("MQTT") + bytes([4, 0x02]) + keepalive.to_bytes(2, "big") + _text(client_id)
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH, QoS 1."""
    body = _text(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + _remaining_length(len(body)) + body


class Publisher:
    """One connection publishing QoS 1 with at most ``window`` PUBLISH unacknowledged."""

    def __init__(self, host: str, port: int, client_id: str, window: int = 1000) -> None:
        self.host, self.port, self.client_id, self.window = host, port, client_id, window
        self._ids = itertools.cycle(range(1, 65536))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.sent = 0
        self.acked = 0

    async def __aenter__(self) -> Publisher:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(connect_packet(self.client_id))
        connack = await self._reader.readexactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"the broker refused the connection: {connack!r}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._writer is not None
        self._writer.write(b"\xe0\x00")  # DISCONNECT
        self._writer.close()
        await self._writer.wait_closed()

    async def _read_acks(self, until: int) -> None:
        assert self._reader is not None
        while self.acked < until:
            head = await self._reader.readexactly(4)
            if head[0] != 0x40:
                raise RuntimeError(f"expected a PUBACK, got {head!r}")
            self.acked += 1

    async def publish(self, messages: Iterable[tuple[str, bytes]], chunk: int = 200) -> None:
        """Publish every message; returns once the broker acknowledged all of them."""
        assert self._writer is not None
        batch: list[bytes] = []
        for topic, payload in messages:
            batch.append(publish_packet(topic, payload, next(self._ids)))
            if len(batch) == chunk:
                await self._flush(batch)
                batch = []
        if batch:
            await self._flush(batch)
        await self._read_acks(self.sent)

    async def _flush(self, batch: list[bytes]) -> None:
        assert self._writer is not None
        if self.sent + len(batch) - self.acked > self.window:
            await self._read_acks(self.sent + len(batch) - self.window)
        self._writer.write(b"".join(batch))
        self.sent += len(batch)
        await self._writer.drain()

    async def paced(self, messages: Iterable[tuple[str, bytes]], rate: float) -> None:
        """Publish at ``rate`` messages per second (a few at a time, every 5 ms), acknowledged
        as they come, until the iterable ends or the task is cancelled."""
        assert self._writer is not None
        acks = asyncio.create_task(self._read_acks(1 << 62))
        try:
            t0 = time.perf_counter()
            sent = 0
            it = iter(messages)
            while True:
                due = int((time.perf_counter() - t0) * rate)
                batch = [
                    publish_packet(t, p, next(self._ids))
                    for t, p in itertools.islice(it, due - sent)
                ]
                if due > sent and not batch:
                    return
                if batch:
                    self._writer.write(b"".join(batch))
                    sent += len(batch)
                    self.sent += len(batch)
                await asyncio.sleep(0.005)
        finally:
            acks.cancel()
