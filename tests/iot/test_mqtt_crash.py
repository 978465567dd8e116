"""A hub SIGKILLed with MQTT measures in flight loses none of them and writes none twice
(issue 18 "Checked by"): the broker redelivers what was not acknowledged (the PUBACK waits for
the commit), and a measure delivered again with the device's timestamp is not written again.
A real ``cityhub serve`` in its own process and a throwaway Mosquitto; both backends."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import httpx

from tests.hostile.hub_process import HubProcess
from tests.iot._support import APIKEY, LD, H, group
from tests.iot.test_mqtt import broker, needs_mosquitto

MESSAGES = 300
DEVICES = 10


def _stamp(n: int) -> str:
    return f"2026-11-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"


async def _publish(port: int) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="crash-devices") as c:
        for n in range(MESSAGES):
            payload = f"{_stamp(n)}|t|{n}"
            await c.publish(f"/ul/{APIKEY}/c{n % DEVICES}/attrs", payload, qos=1)


def _history(url: str) -> list[int]:
    values: list[int] = []
    for d in range(DEVICES):
        r = httpx.get(
            f"{url}/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Thing:c{d}"
            "?attrs=temperature&lastN=1000",
            headers=LD,
            timeout=30,
        )
        if r.status_code == 404:
            continue
        assert r.status_code == 200, r.text
        inst = r.json().get("temperature", [])
        values += [i["value"] for i in (inst if isinstance(inst, list) else [inst])]
    return values


@needs_mosquitto
def test_sigkill_with_measures_in_flight(tmp_path: Path, store_url: str) -> None:
    if store_url.startswith("sqlite"):
        store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    with broker(tmp_path) as port:
        (tmp_path / "cityhub.toml").write_text(
            f'iot_mqtt_url = "mqtt://127.0.0.1:{port}"\niot_mqtt_client_id = "crash-hub"\n'
        )
        hub = HubProcess(store_url, tmp_path)
        hub.start()
        try:
            r = httpx.post(
                f"{hub.base_url}/iot/groups",
                json={"groups": [group(resource="")]},
                headers=H,
                timeout=30,
            )
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 30
            while "subscribed" not in hub.log():
                assert time.monotonic() < deadline, hub.log_tail()
                time.sleep(0.05)
            asyncio.run(_publish(port))
            # kill it while it commits: some committed, some not acknowledged yet
            deadline = time.monotonic() + 60
            while (
                httpx.get(f"{hub.base_url}/iot/about", timeout=30).json()["measures"]["committed"]
                < MESSAGES // 10
            ):
                assert time.monotonic() < deadline, hub.log_tail()
                time.sleep(0.01)
            hub.kill()
            hub.start()
            deadline = time.monotonic() + 120
            while len(values := _history(hub.base_url)) < MESSAGES:
                assert time.monotonic() < deadline, (len(values), hub.log_tail())
                time.sleep(0.2)
            assert sorted(values) == list(range(MESSAGES))  # each once
            assert "Traceback" not in hub.log()
        finally:
            hub.stop()
