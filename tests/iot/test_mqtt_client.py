"""The agent's MQTT 3.1.1 client (``cityhub/iot/mqtt_client.py``; OASIS MQTT 3.1.1 sections
2.2.3 remaining length, 3.3 PUBLISH, 3.4-3.7 the QoS 1 and 2 flows, 3.1.2.4 persistent
sessions): the parser against streams cut anywhere, and a round trip through a throwaway
Mosquitto at every QoS, an oversized payload read past, and a message left unacknowledged sent
again on the next connection. Skipped, with the reason, when the mosquitto binary is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cityhub.iot.mqtt_client import Message, MqttClient, MqttError, _packet, _text
from tests.notify._receivers import MOSQUITTO, NO_MOSQUITTO, mosquitto

needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason=NO_MOSQUITTO)


def _publish(topic: str, payload: bytes, qos: int, packet_id: int = 0) -> bytes:
    body = _text(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return _packet(0x30 | qos << 1, body)


class _Transport:
    """What the client writes, and whether it reads."""

    def __init__(self) -> None:
        self.written = b""
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


STREAM = [
    ("/json/k/d1/attrs", b'{"t": 1}', 1, 7),
    ("/ul/k/d2/attrs", b"t|2", 0, 0),
    ("/json/k/d3/attrs", b"x" * 300, 1, 8),  # a two-byte remaining length
    ("/json/k/d4/attrs/t", b"", 2, 9),
]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_the_same_messages_however_the_stream_is_cut(step: int) -> None:
    async def run() -> list[Message]:
        got: list[Message] = []
        client = MqttClient(lambda _, m: got.append(m), max_payload=1000)
        client.connection_made(_Transport())  # type: ignore[arg-type]
        data = b"".join(_publish(*m) for m in STREAM) + bytes([0xD0, 0])  # and a PINGRESP
        for start in range(0, len(data), step):
            client.data_received(data[start : start + step])
        return got

    got = asyncio.run(run())
    assert [(m.topic, m.payload, m.qos, m.packet_id) for m in got] == STREAM
    assert [m.size for m in got] == [len(m[1]) for m in STREAM]


@pytest.mark.parametrize("step", [1, 5, 100_000])
def test_a_payload_over_the_limit_is_read_past_and_the_next_one_is_whole(step: int) -> None:
    async def run() -> list[Message]:
        got: list[Message] = []
        client = MqttClient(lambda _, m: got.append(m), max_payload=10)
        client.connection_made(_Transport())  # type: ignore[arg-type]
        data = _publish("/json/k/big/attrs", b"y" * 70_000, 1, 3) + _publish(
            "/json/k/small/attrs", b"{}", 1, 4
        )
        for start in range(0, len(data), step):
            client.data_received(data[start : start + step])
        return got

    big, small = asyncio.run(run())
    assert (big.topic, big.payload, big.qos, big.packet_id, big.size) == (
        "/json/k/big/attrs", b"", 1, 3, 70_000,
    )  # fmt: skip
    assert (small.topic, small.payload, small.packet_id) == ("/json/k/small/attrs", b"{}", 4)


def test_acknowledgements_wait_for_ack_and_leave_in_one_write() -> None:
    async def run() -> tuple[bytes, bytes]:
        got: list[Message] = []
        client = MqttClient(lambda _, m: got.append(m), max_payload=100)
        transport = _Transport()
        client.connection_made(transport)  # type: ignore[arg-type]
        client.data_received(
            _publish("/a/b/attrs", b"1", 1, 5) + _publish("/a/b/attrs", b"2", 2, 6)
        )
        await asyncio.sleep(0)
        before = transport.written
        for message in got:
            client.ack(message)
        await asyncio.sleep(0)
        return before, transport.written

    before, after = asyncio.run(run())
    assert before == b""  # nothing until the caller says
    assert after == b"\x40\x02\x00\x05" + b"\x50\x02\x00\x06"  # PUBACK 5, PUBREC 6


def test_a_malformed_length_closes_the_connection() -> None:
    async def run() -> MqttClient:
        client = MqttClient(lambda _, m: None, max_payload=100)
        client.connection_made(_Transport())  # type: ignore[arg-type]
        client.data_received(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
        return client

    client = asyncio.run(run())
    assert client.closed.done() and isinstance(client.closed.exception(), MqttError)


@needs_mosquitto
def test_round_trip_at_every_qos_and_again_after_no_ack(tmp_path: Path) -> None:
    with mosquitto(tmp_path, ports=(18300, 18399)) as port:

        async def run() -> None:
            got: asyncio.Queue[Message] = asyncio.Queue()

            def heard(_: MqttClient, message: Message) -> None:
                got.put_nowait(message)

            sub = await MqttClient.connect(
                "127.0.0.1", port, client_id="t-sub", on_message=heard, clean_session=False
            )
            await sub.subscribe(["/t/#"], qos=2)
            pub = await MqttClient.connect(
                "127.0.0.1", port, client_id="t-pub", on_message=heard, clean_session=True
            )
            for qos in (0, 1, 2):
                await pub.publish(f"/t/{qos}", f"q{qos}".encode(), qos=qos)
                message = await asyncio.wait_for(got.get(), 10)
                assert (message.topic, message.payload, message.qos) == (
                    f"/t/{qos}", f"q{qos}".encode(), qos,
                )  # fmt: skip
                if qos < 2:
                    sub.ack(message)
            # the QoS 2 message was not acknowledged: the session sends it again
            await sub.disconnect()
            again = await MqttClient.connect(
                "127.0.0.1", port, client_id="t-sub", on_message=heard, clean_session=False
            )
            message = await asyncio.wait_for(got.get(), 10)
            assert (message.topic, message.payload) == ("/t/2", b"q2")
            again.ack(message)
            await again.disconnect()
            await pub.disconnect()
            with pytest.raises(MqttError):
                await pub.publish("/t/x", b"", qos=1)

        asyncio.run(run())


@needs_mosquitto
def test_a_refused_connection_says_why(tmp_path: Path) -> None:
    with mosquitto(tmp_path, ports=(18300, 18399), extra_config="allow_anonymous false\n") as port:

        async def run() -> None:
            with pytest.raises(MqttError, match="not authorized|user name"):
                await MqttClient.connect(
                    "127.0.0.1", port, client_id="t", on_message=lambda _, m: None
                )

        asyncio.run(run())
