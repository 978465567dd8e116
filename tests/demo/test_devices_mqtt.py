"""The demo's sensors over MQTT (issue 18 deliverable 6, ``cityhub demo --mqtt``): through a
throwaway Mosquitto, the simulator's devices publish their readings on
``/json/<apikey>/<device>/attrs`` (QoS 1) and the hub, subscribed to the same broker, writes
them; the devices are provisioned with ``transport: MQTT``. Skipped, with the reason, when the
mosquitto binary is missing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from cityhub.app import create_app
from cityhub.cli import cli
from cityhub.demo.city import build_city
from cityhub.demo.clock import KST, SimClock
from cityhub.demo.devices import MqttDevices
from cityhub.demo.simulator import Simulator, simulate
from cityhub.settings import Settings
from tests.iot.test_mqtt import broker, needs_mosquitto

START = datetime(2026, 1, 14, 8, 0, tzinfo=KST)
STATION = "urn:ngsi-ld:AirQualityObserved:seongnam:41131:airkorea-dandae"
PARKING = "urn:ngsi-ld:OffStreetParking:seongnam:41135:parking-ptv"


@needs_mosquitto
def test_the_demo_sensors_publish_over_mqtt_and_the_hub_writes_them(tmp_path: Path) -> None:
    city = build_city()
    with broker(tmp_path) as port:
        url = f"mqtt://127.0.0.1:{port}"
        settings = Settings(
            store=f"sqlite:///{tmp_path / 'hub.db'}",
            iot_mqtt_url=url,
            iot_mqtt_client_id="demo-hub",
            iot_device_refresh=0,
        )

        async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], int]:
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
                    real = [0.0]

                    async def pause(seconds: float) -> None:
                        real[0] += seconds

                    clock = SimClock(START, 3600.0, real=lambda: real[0])
                    async with MqttDevices(url).connected() as devices:
                        sim = Simulator(c, city, seed=3, devices=devices)
                        until = START + timedelta(hours=1)
                        await simulate(sim, clock, backfill_days=0, until=until, pause=pause)
                    expected = sim.sent
                    # QoS 1 through the broker: wait for the hub to commit what was sent
                    deadline = asyncio.get_running_loop().time() + 60
                    while app.state.iot.ingestor.committed < expected:
                        assert asyncio.get_running_loop().time() < deadline, "timed out"
                        await asyncio.sleep(0.1)
                    station = (await c.get(f"/ngsi-ld/v1/entities/{STATION}")).json()
                    device = (await c.get("/iot/devices", params={"limit": 1000})).json()
                    errors = (await c.get("/iot/errors")).json()
                    return station, device, errors, expected

        station, listed, errors, sent = asyncio.run(main())
    assert sent == 2 * len(city.live) - _missing(city)
    # 09:00 KST, the tick's reading, written by the agent from the device's TimeInstant
    assert station["pm25"]["observedAt"] == "2026-01-14T00:00:00Z"
    assert station["pm25"]["unitCode"] == "GQ"
    assert station["dateObserved"]["value"]["@value"] == "2026-01-14T00:00:00Z"
    assert listed["count"] == len(city.live)
    assert {d["transport"] for d in listed["devices"]} == {"MQTT"}
    assert errors["errors"] == []


def _missing(city: Any) -> int:
    from cityhub.demo.clock import floor_to
    from cityhub.demo.readings import KINDS, is_dropped

    tick = START + timedelta(hours=1)
    return sum(1 for a in city.live if is_dropped(a, 3, floor_to(tick, KINDS[a.kind].interval)))


def test_a_broker_url_the_hub_cannot_use_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["demo", "--mqtt", "http://user:secret@broker"])
    assert result.exit_code == 2
    assert "--mqtt" in result.output and "secret" not in result.output
