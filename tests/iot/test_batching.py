"""Measures committed in batches (issue 18, "acknowledgement only after the write is
committed"; docs/iot.md "Measures"): messages that arrive together share one store
transaction, a refused one rolls back alone (nothing of it written, nothing of the others
lost), a message is answered (HTTP) or acknowledged (MQTT PUBACK) only after its commit, and
a provisioning change is seen by the very next message (the agent's lookup cache is cleared).
Both backends; MQTT through a throwaway Mosquitto."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from starlette.testclient import TestClient

from cityhub.errors import BadRequestData, CityhubError
from cityhub.iot import ingest
from cityhub.iot.agent import IotAgent, Measures
from cityhub.iot.ultralight import MeasureGroup
from cityhub.store.base import Transaction
from tests.conftest import make_client
from tests.iot._support import APIKEY, H, entity, errors, provision_group
from tests.iot.test_mqtt import connected, needs_mosquitto, publish, wait_for
from tests.notify._receivers import mosquitto

T = TypeVar("T")


def _measure(device: str, t: float) -> Measures:
    return Measures(APIKEY, device, [MeasureGroup(values={"t": t})], text=False)


class _Gate:
    """The ingestor's store, its writes held until :meth:`open` (the commit waits)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.waiting = threading.Event()
        self._open: asyncio.Event | None = None

    async def write(self, tenant: str, fn: Callable[[Transaction], T]) -> T:
        if self._open is None:
            self._open = asyncio.Event()
        self.waiting.set()
        await self._open.wait()
        return await self.store.write(tenant, fn)  # type: ignore[no-any-return]

    def open(self) -> None:
        assert self._open is not None
        self._open.set()


def test_a_refused_message_in_a_batch_is_written_not_at_all_and_loses_no_other(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three messages in one transaction; the store refuses the middle one's second entity
    (its Device): its first entity is not written either, the two others are committed."""
    with make_client(tmp_path, store_url, iot_device_refresh=0.0) as client:
        provision_group(client)
        agent: IotAgent = client.app.state.iot  # type: ignore[attr-defined]
        for device in ("g1", "bad", "g2"):
            client.portal.call(agent.measure, _measure(device, 1))  # type: ignore[union-attr]
        real = ingest.upsert

        def refusing(tx: Transaction, fragment: Any, now: str) -> int:
            if fragment["id"] == "urn:ngsi-ld:Device:bad":
                raise BadRequestData("refused by the test")
            return real(tx, fragment, now)

        monkeypatch.setattr(ingest, "upsert", refusing)

        async def batch() -> tuple[int, list[Any]]:
            before = agent.ingestor.transactions
            pending = await asyncio.gather(
                *(agent.submit_measure(_measure(d, 2)) for d in ("g1", "bad", "g2"))
            )
            results = await asyncio.gather(*pending, return_exceptions=True)
            return agent.ingestor.transactions - before, results

        transactions, results = client.portal.call(batch)  # type: ignore[union-attr]
        assert transactions == 1, "the three messages did not share one transaction"
        assert results[0] is None and results[2] is None, results
        assert isinstance(results[1], CityhubError) and "refused by the test" in str(results[1])
        for device, value in (("g1", 2), ("bad", 1), ("g2", 2)):
            e = entity(client, f"urn:ngsi-ld:Thing:{device}")
            assert e is not None and e["temperature"]["value"] == value, (device, e)


def test_an_http_measure_is_answered_only_after_its_commit(tmp_path: Path, store_url: str) -> None:
    with make_client(tmp_path, store_url) as client:
        provision_group(client)
        agent: IotAgent = client.app.state.iot  # type: ignore[attr-defined]
        gate = _Gate(agent.ingestor.store)
        agent.ingestor.store = gate  # type: ignore[assignment]
        answers: list[int] = []
        sender = threading.Thread(
            target=lambda: answers.append(
                client.post(f"/iot/json?k={APIKEY}&i=h1", json={"t": 7}).status_code
            )
        )
        sender.start()
        assert gate.waiting.wait(20), "the measure never reached the commit"
        sender.join(0.3)
        assert answers == [] and sender.is_alive(), "answered before the commit"
        client.portal.call(gate.open)  # type: ignore[union-attr]
        sender.join(20)
        assert answers == [200]
        e = entity(client, "urn:ngsi-ld:Thing:h1")
        assert e is not None and e["temperature"]["value"] == 7


@needs_mosquitto
def test_an_mqtt_message_is_acknowledged_only_after_its_commit(
    tmp_path: Path, store_url: str
) -> None:
    with mosquitto(
        tmp_path, ports=(18300, 18399), extra_config="max_inflight_messages 200\n"
    ) as port:
        with make_client(tmp_path, store_url, iot_mqtt_url=f"mqtt://127.0.0.1:{port}") as client:
            provision_group(client, resource="")
            connected(client)
            agent: IotAgent = client.app.state.iot  # type: ignore[attr-defined]
            transport = client.app.state.iot_mqtt  # type: ignore[attr-defined]
            gate = _Gate(agent.ingestor.store)
            agent.ingestor.store = gate  # type: ignore[assignment]
            before = transport.acknowledged
            publish(port, [(f"/json/{APIKEY}/m1/attrs", '{"t": 8}')])
            assert gate.waiting.wait(20), "the message never reached the commit"
            assert transport.acknowledged == before, "PUBACK before the commit"
            assert entity(client, "urn:ngsi-ld:Thing:m1") is None
            client.portal.call(gate.open)  # type: ignore[union-attr]
            wait_for(lambda: transport.acknowledged == before + 1)
            e = entity(client, "urn:ngsi-ld:Thing:m1")
            assert e is not None and e["temperature"]["value"] == 8


class _Failing:
    """The ingestor's store, its next write failing with ``error`` (then as it was)."""

    def __init__(self, store: Any, error: CityhubError) -> None:
        self.store = store
        self.error: CityhubError | None = error

    async def write(self, tenant: str, fn: Callable[[Transaction], T]) -> T:
        error, self.error = self.error, None
        if error is not None:
            raise error
        return await self.store.write(tenant, fn)  # type: ignore[no-any-return]


@needs_mosquitto
def test_a_known_devices_message_the_store_cannot_take_now_is_retried_then_acknowledged(
    tmp_path: Path, store_url: str
) -> None:
    """A known device's message is queued for commit as it is read (no task); when the
    store cannot take it now (503) it is tried again and acknowledged once committed; when
    the store refuses it for good (400) it is counted and acknowledged, nothing written."""
    from cityhub.errors import StoreUnavailable

    with mosquitto(tmp_path, ports=(18300, 18399)) as port:
        url = f"mqtt://127.0.0.1:{port}"
        with make_client(tmp_path, store_url, iot_mqtt_url=url, iot_cache_seconds=3600) as client:
            provision_group(client, resource="")
            connected(client)
            agent: IotAgent = client.app.state.iot  # type: ignore[attr-defined]
            transport = client.app.state.iot_mqtt  # type: ignore[attr-defined]
            waited = []  # the messages that went through a task (submit_measure)
            submit = agent.submit_measure

            async def counted(message: Measures) -> Any:
                waited.append(message)
                return await submit(message)

            agent.submit_measure = counted  # type: ignore[method-assign]
            topic = f"/json/{APIKEY}/k1/attrs"
            publish(port, [(topic, '{"t": 1}')])  # the device is known from now on
            wait_for(lambda: transport.acknowledged == 1)
            assert len(waited) == 1
            store = agent.ingestor.store
            agent.ingestor.store = _Failing(store, StoreUnavailable("not now"))  # type: ignore[assignment]
            publish(port, [(topic, '{"t": 2}')])
            wait_for(lambda: transport.acknowledged == 2)
            e = entity(client, "urn:ngsi-ld:Thing:k1")
            assert e is not None and e["temperature"]["value"] == 2
            assert len(waited) == 2  # queued at once, then tried again in a task
            agent.ingestor.store = _Failing(store, BadRequestData("no"))  # type: ignore[assignment]
            publish(port, [(topic, '{"t": 3}')])
            wait_for(lambda: transport.acknowledged == 3)
            e = entity(client, "urn:ngsi-ld:Thing:k1")
            assert e is not None and e["temperature"]["value"] == 2
            kinds = {(x["device_id"], x["kind"]) for x in errors(client)}
            assert ("k1", "wrong_type") in kinds
            assert len(waited) == 2  # refused from the commit's callback, no task


def test_a_provisioning_change_is_seen_by_the_next_message(client: TestClient) -> None:
    """The agent caches groups and devices; a change through the provisioning API clears
    the cache, so the next message maps with the new provisioning (no stale window)."""
    provision_group(client)
    device = {"device_id": "p1", "apikey": APIKEY, "entity_type": "Thing"}
    assert client.post("/iot/devices", json={"devices": [device]}, headers=H).status_code == 201
    url = f"/iot/json?k={APIKEY}&i=p1"
    assert client.post(url, json={"t": 1}).status_code == 200
    e = entity(client, "urn:ngsi-ld:Thing:p1")
    assert e is not None and e["temperature"]["value"] == 1
    change = {"attributes": [{"object_id": "t", "name": "airTemperature", "type": "Number"}]}
    assert client.put("/iot/devices/p1", json=change, headers=H).status_code == 204
    assert client.post(url, json={"t": 2}).status_code == 200
    e = entity(client, "urn:ngsi-ld:Thing:p1")
    assert e is not None and e["airTemperature"]["value"] == 2, e
    # the group's mapping too: a group PUT is seen by the next message of a device that
    # has no mapping of its own (known, and cached, before the change)
    assert client.post(f"/iot/json?k={APIKEY}&i=p2", json={"t": 0}).status_code == 200
    group_change = {
        "attributes": [{"object_id": "t", "name": "groundTemperature", "type": "Number"}]
    }
    r = client.put(f"/iot/groups?resource=/iot/d&apikey={APIKEY}", json=group_change, headers=H)
    assert r.status_code == 204, r.text
    assert client.post(f"/iot/json?k={APIKEY}&i=p2", json={"t": 4}).status_code == 200
    e = entity(client, "urn:ngsi-ld:Thing:p2")
    assert e is not None and e["groundTemperature"]["value"] == 4, e
    # and a device deleted is unknown to the next message of a group without autoprovision
    r = client.put(
        f"/iot/groups?resource=/iot/d&apikey={APIKEY}", json={"autoprovision": False}, headers=H
    )
    assert r.status_code == 204, r.text
    assert client.delete("/iot/devices/p1", headers=H).status_code == 204
    assert client.post(url, json={"t": 5}).status_code == 404


def test_a_change_through_another_worker_is_seen_once_the_version_is_read(
    tmp_path: Path, store_url: str
) -> None:
    """Two hubs (workers) on one store. Each caches groups and devices (a known device's
    messages read nothing from the store) until the store's provisioning version changes:
    a change made through one is seen by the other's first message after it reads the
    version (here every message: iot_cache_seconds 0)."""
    with (
        make_client(tmp_path, store_url, iot_cache_seconds=0) as one,
        make_client(tmp_path, store_url, iot_cache_seconds=0) as other,
    ):
        provision_group(one)
        device = {"device_id": "w1", "apikey": APIKEY, "entity_type": "Thing"}
        assert one.post("/iot/devices", json={"devices": [device]}, headers=H).status_code == 201
        url = f"/iot/json?k={APIKEY}&i=w1"
        assert other.post(url, json={"t": 1}).status_code == 200
        agent: IotAgent = other.app.state.iot  # type: ignore[attr-defined]
        reads: list[Any] = []
        real_get = agent.iot.get_device

        async def counted(*key: Any) -> Any:
            reads.append(key)
            return await real_get(*key)

        agent.iot.get_device = counted  # type: ignore[method-assign]
        for t in range(2, 6):
            assert other.post(url, json={"t": t}).status_code == 200
        assert reads == [], "a known device was read from the store again"
        change = {"attributes": [{"object_id": "t", "name": "airTemperature", "type": "Number"}]}
        assert one.put("/iot/devices/w1", json=change, headers=H).status_code == 204
        assert other.post(url, json={"t": 6}).status_code == 200
        e = entity(other, "urn:ngsi-ld:Thing:w1")
        assert e is not None and e["airTemperature"]["value"] == 6, e
        r = one.put(
            f"/iot/groups?resource=/iot/d&apikey={APIKEY}", json={"autoprovision": False}, headers=H
        )
        assert r.status_code == 204, r.text
        assert one.delete("/iot/devices/w1", headers=H).status_code == 204
        assert other.post(url, json={"t": 7}).status_code == 404


def test_a_measure_is_left_out_only_when_the_entity_holds_it_or_a_later_one() -> None:
    """The comparison with the stored instance (docs/iot.md "MQTT": the entity never goes
    back in time, a message delivered again is not recorded twice): times in the hub's own
    form compare as text, any other form as times."""
    from cityhub.iot.ingest import _superseded

    def inst(value: Any, at: str) -> dict[str, Any]:
        return {"type": "Property", "value": value, "observedAt": at, "modifiedAt": "x"}

    stored = inst(1, "2026-12-07T19:33:58.123456Z")
    assert not _superseded(stored, inst(2, "2026-12-07T19:33:58.123457Z"))  # newer
    assert _superseded(stored, inst(2, "2026-12-07T19:33:58.123455Z"))  # older
    assert _superseded(stored, {**inst(1, "2026-12-07T19:33:58.123456Z"), "modifiedAt": "y"})
    assert not _superseded(stored, inst(5, "2026-12-07T19:33:58.123456Z"))  # same time, new value
    # a device's own form: the same instant an hour ahead of UTC, earlier than the stored one
    assert _superseded(stored, inst(2, "2026-12-07T20:33:58+01:00"))
    assert not _superseded(stored, inst(2, "2026-12-07T20:34:00+01:00"))
    assert not _superseded(inst(1, "2026-12-07T19:33:58Z"), inst(2, "2026-12-07T19:33:59.000000Z"))
