"""``cityhub demo``'s body: the hub (built by the command) on a real HTTP port, and the simulator
writing to it over HTTP, as a plain NGSI-LD client.

Ctrl-C or SIGTERM stops the simulator first, then the server (uvicorn's graceful shutdown),
and :func:`run_demo` returns, so that the command removes its temporary store. (uvicorn's own
handler raises the signal again once it has stopped; SIGTERM's default action would then end
the process before the command could clean up.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette

from cityhub.demo.city import City, build_city
from cityhub.demo.clock import KST, SimClock
from cityhub.demo.devices import DeviceLink, HttpDevices, MqttDevices
from cityhub.demo.simulator import API, Simulator, simulate
from cityhub.serving import HubServer, bind, serve, server_config
from cityhub.settings import Settings, redact_url

TRAFFIC_EXAMPLE = "urn:ngsi-ld:TrafficFlowObserved:seongnam:41133:seongnamdaero-moran-inbound"


@dataclass(frozen=True)
class DemoOptions:
    """What ``cityhub demo`` runs with, besides the hub's settings.

    Attributes:
        speed: simulated seconds per real second.
        seed: the seed of every simulated reading.
        backfill_days: days of history written on first start.
        start: the simulated time at start (None: now).
        mqtt: the broker the sensors publish to (``mqtt://host:port``; the hub's
            ``iot_mqtt_url`` must name it too); None: they post to ``/iot/json``.
    """

    speed: float = 1.0
    seed: int = 0
    backfill_days: float = 2.0
    start: datetime | None = None
    mqtt: str | None = None


def base_url(settings: Settings) -> str:
    """Where a client on this machine reaches the hub."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def try_these(url: str) -> list[str]:
    """Three curl commands that show what the demo city holds."""
    api = url + API
    return [
        f"curl '{api}/entities?type=AirQualityObserved&attrs=name,pm25,pm10,airQualityLevel"
        f"&options=keyValues&lang=en&limit=6'",
        f"curl -g '{api}/entities?type=OffStreetParking&georel=near;maxDistance==3000"
        f"&geometry=Point&coordinates=[127.1112,37.3948]&attrs=name,availableSpotNumber"
        f"&options=keyValues&lang=ko'",
        f"curl '{api}/temporal/entities/{quote(TRAFFIC_EXAMPLE, safe=':')}"
        f"?attrs=intensity,averageVehicleSpeed&options=temporalValues&lastN=12'",
    ]


def banner(url: str, city: City, count: int, clock: SimClock, settings: Settings) -> str:
    geo = city.geography
    devices = len(city.live)
    mqtt = bool(settings.iot_mqtt_url)
    now = clock.start.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")
    lines = [
        f"cityhub demo: the control tower is at {url}/ (open it in a browser)",
        f"  {geo.city.name_en} ({geo.city.name_ko}) is live: {count} entities in "
        f"{len(geo.gus)} gu and {len(geo.dongs)} dong; simulated time from {now}, "
        f"{clock.speed:g}x real time",
        f"  NGSI-LD API: {url}{API}   (store {redact_url(settings.store)})",
        f"  Sensors: {devices} devices send their readings through the IoT agent "
        + (f"over MQTT ({redact_url(settings.iot_mqtt_url)})" if mqtt else "(POST /iot/json)")
        + f"; GET {url}/iot/devices lists them",
        "  Try:",
        *(f"    {command}" for command in try_these(url)),
        "  Ctrl-C stops the hub and the simulator.",
    ]
    return "\n".join(lines)


async def run_demo(
    app: Starlette,
    settings: Settings,
    options: DemoOptions,
    echo: Callable[[str], None] = print,
    sock: socket.socket | None = None,
) -> None:
    """Serve the hub and keep the demo city alive until Ctrl-C or SIGTERM (or the server stops).

    Args:
        app: the hub (``cityhub.app.create_app(settings)``).
        settings: the hub's settings (host, port, store, log level).
        options: the demo's own options.
        echo: where the banner and progress lines go.
        sock: the listening socket (``cityhub.serving.bind``); None binds one here.

    Raises:
        BindError: no socket was given and the port could not be had.
        StartupFailed: the server could not start the hub (uvicorn has logged why).
    """

    server = HubServer(server_config(app, settings))
    if sock is None:
        sock = bind(settings.host, settings.port)
    loop = asyncio.get_running_loop()
    sim_task: asyncio.Task[None] | None = None

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        # uvicorn's handle_exit, without recording the signal to raise again after the
        # shutdown (see the module's docstring)
        if sim_task is not None:  # stop writing before the server goes away
            loop.call_soon_threadsafe(sim_task.cancel)
        if server.should_exit and sig == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    serving = asyncio.create_task(serve(server, sock))
    while not server.started:
        if serving.done():
            await serving  # raises StartupFailed
            return
        await asyncio.sleep(0.05)
    url = base_url(settings)
    city = build_city()
    clock = SimClock(options.start or datetime.now(UTC), options.speed)
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=120))
        devices: DeviceLink = HttpDevices(client)
        if options.mqtt:
            devices = await stack.enter_async_context(MqttDevices(options.mqtt).connected())
        sim = Simulator(client, city, options.seed, report=echo, devices=devices)

        def seeded(count: int) -> None:
            echo(banner(url, city, count, clock, settings))

        sim_task = asyncio.create_task(
            simulate(sim, clock, backfill_days=options.backfill_days, on_seeded=seeded)
        )
        try:
            await asyncio.wait({serving, sim_task}, return_when=asyncio.FIRST_COMPLETED)
            if sim_task.done() and not sim_task.cancelled() and sim_task.exception():
                echo(f"cityhub demo: the simulator stopped: {sim_task.exception()!r}")
        finally:
            sim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await sim_task
            server.should_exit = True
            await _quietly(serving)


async def _quietly(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task
