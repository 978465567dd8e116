"""The simulator: keeps the demo city alive through the public NGSI-LD API, like any client.

First start: the city's entities are upserted (``/entityOperations/upsert``) without readings,
their history is backfilled through the temporal API (``POST /temporal/entities``, many
instances per attribute), and the sensors are provisioned in the hub's IoT agent (a config group
per kind, a device per sensor: ``cityhub.demo.devices``). Then the sensors send their readings
at the start (so the city services see the first readings with their history), and every tick
the readings that fell due on each kind's grid of simulated time (every minute for parking,
hourly for AirKorea stations...), as device messages through the agent: ``POST /iot/json``, or
MQTT when the simulator is given a broker.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from cityhub.demo.city import City
from cityhub.demo.clock import SimClock, floor_to
from cityhub.demo.devices import DeviceLink, HttpDevices, Message, message, provision
from cityhub.demo.model import Asset, Entity, area_id
from cityhub.demo.publish import publish_city
from cityhub.demo.readings import KINDS, Reading, is_dropped

API = "/ngsi-ld/v1"
#: attribute instances per temporal request in the backfill (about 100 bytes each)
MAX_INSTANCES = 4000


def _chunks(items: list[Entity], size: int) -> Iterator[list[Entity]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Simulator:
    """Writes the demo city's entities and readings to a hub.

    Args:
        client: an httpx client whose base URL is the hub (a real server, or an ASGI app in
            tests).
        city: the demo city.
        seed: the seed of every reading.
        report: where progress and problems are told (a line at a time).
        batch_size: entities per batch request.
        devices: how the sensors send their readings (default: ``POST /iot/json`` through
            ``client``).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        city: City,
        seed: int = 0,
        report: Callable[[str], None] | None = None,
        batch_size: int = 250,
        devices: DeviceLink | None = None,
    ) -> None:
        self.client = client
        self.city = city
        self.seed = seed
        self.report = report or (lambda line: None)
        self.batch_size = batch_size
        self.devices = devices or HttpDevices(client)
        self.last: dict[str, datetime] = {}
        self.problems = 0
        self.sent = 0

    # ---- readings -----------------------------------------------------------------------
    def reading(self, asset: Asset, at: datetime) -> Reading | None:
        """The asset's reading at ``at``, or None when it goes missing."""
        if is_dropped(asset, self.seed, at):
            return None
        return KINDS[asset.kind].read(asset, self.seed, at)

    def _message(self, asset: Asset, reading: Reading, at: datetime) -> Message:
        return message(self.city, asset, reading, at, self.seed)

    # ---- first start --------------------------------------------------------------------
    async def city_exists(self) -> bool:
        """Whether the hub already holds the demo city (a restart on a kept store)."""
        response = await self.client.get(f"{API}/entities/{area_id(self.city.geography.city)}")
        return response.status_code == 200

    async def history_computed(self, timeout: float = 120.0, poll: float = 0.2) -> bool:
        """Wait until the air-quality service has no work left (the CAI of every backfilled
        hour is in the history), so that the indicators, which the first live readings set
        off, find a grade for those hours; False when it did not in ``timeout`` seconds (or
        the hub does not run the service: nothing to wait for)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            response = await self.client.get("/health")
            body = response.json() if response.status_code == 200 else {}
            services = body.get("services") or {}
            pending = (services.get("airquality") or {}).get("pending")
            if not pending:
                return pending == 0
            if loop.time() > deadline:
                return False
            await asyncio.sleep(poll)

    async def seed_city(self, at: datetime, readings: bool = True, places: bool = True) -> int:
        """Upsert every entity as it stands (what never changes; not with ``places`` false)
        and, with ``readings``, have every sensor send its reading at ``at`` (the sensors must
        be provisioned); returns how many entities."""
        if places:
            await self._upsert([a.static_entity() for a in self.city.assets])
        messages = []
        for asset in self.city.live if readings else ():
            when = floor_to(at, KINDS[asset.kind].interval)
            self.last[asset.kind] = when
            reading = KINDS[asset.kind].read(asset, self.seed, when)  # nothing missing at start
            messages.append(self._message(asset, reading, when))
        await self._send(messages)
        return len(self.city.assets)

    async def provision(self) -> int:
        """Provision the sensors in the hub's IoT agent (groups and devices; idempotent);
        returns how many devices were new."""
        return await provision(self.client, self.city, self.devices.transport)

    def history(self, asset: Asset, start: datetime, end: datetime) -> dict[str, list[Any]]:
        """The asset's readings on its backfill grid in [start, end), attribute by attribute."""
        step = KINDS[asset.kind].backfill_step
        t = floor_to(start, step)
        if t < start:
            t += step
        out: dict[str, list[Any]] = {}
        while t < end:
            reading = self.reading(asset, t)
            for name, instance in (reading or {}).items():
                out.setdefault(name, []).append(instance)
            t += step
        return out

    async def backfill(self, start: datetime, end: datetime) -> int:
        """Add history in [start, end) through the temporal API; returns how many attribute
        instances were written. Each request carries up to about ``MAX_INSTANCES`` instances
        of one entity (well under the hub's body limit)."""
        written = 0
        for asset in self.city.live:
            spec = KINDS[asset.kind]
            per_day = timedelta(days=1) / spec.backfill_step * 4  # ~4 attributes a reading
            span = timedelta(days=max(1, math.floor(MAX_INSTANCES / per_day)))
            lo = start
            while lo < end:
                hi = min(end, lo + span)
                attrs = self.history(asset, lo, hi)
                lo = hi
                if not attrs:
                    continue
                body = {"id": asset.id, "type": asset.entity_type, **attrs}
                # one writer serves the store: requests in parallel would only queue behind it
                response = await self.client.post(f"{API}/temporal/entities", json=body)
                self._check(response, f"backfill of {asset.id}")
                written += sum(len(v) for v in attrs.values())
        return written

    # ---- live ---------------------------------------------------------------------------
    def next_due(self) -> datetime:
        """When the next reading falls due (simulated time)."""
        return min(self.last[kind] + KINDS[kind].interval for kind in self.last)

    async def tick(self, now: datetime) -> int:
        """Send the readings due at ``now`` (the latest grid point of each kind not yet
        sent), each sensor its own; returns how many readings were sent."""
        updates: list[Message] = []
        for kind, spec in KINDS.items():
            when = floor_to(now, spec.interval)
            if kind in self.last and when <= self.last[kind]:
                continue
            self.last[kind] = when
            for asset in self.city.by_kind.get(kind, []):
                reading = self.reading(asset, when)
                if reading is not None:
                    updates.append(self._message(asset, reading, when))
        await self._send(updates)
        return len(updates)

    # ---- HTTP ---------------------------------------------------------------------------
    async def _upsert(self, entities: list[Entity]) -> None:
        for chunk in _chunks(entities, self.batch_size):
            response = await self.client.post(
                f"{API}/entityOperations/upsert", params={"options": "update"}, json=chunk
            )
            self._check(response, "upsert")

    async def _send(self, messages: list[Message]) -> None:
        for problem in await self.devices.send(messages):
            self.problems += 1
            self.report(f"cityhub demo: {problem}")
        self.sent += len(messages)

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code < 300 and response.status_code != 207:
            return
        self.problems += 1
        self.report(f"cityhub demo: {what} answered {response.status_code}: {response.text[:300]}")


async def simulate(
    sim: Simulator,
    clock: SimClock,
    *,
    backfill_days: float = 2.0,
    until: datetime | None = None,
    pause: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    min_pause: float = 1.0,
    on_seeded: Callable[[int], None] | None = None,
) -> None:
    """Seed the city (and backfill its history on first start), then keep it alive.

    Args:
        sim: the simulator.
        clock: simulated time; the city is seeded at ``clock.start``.
        backfill_days: days of history to add before the start, on first start only.
        until: stop once simulated time reaches this (None: run until cancelled).
        pause: waits a number of real seconds (tests pass one that moves a fake clock).
        min_pause: the fewest real seconds between two ticks.
        on_seeded: called with the number of entities once the city is in the hub.
    """
    start = clock.start
    existed = await sim.city_exists()
    placed = False
    if existed:
        sim.report("cityhub demo: the store already held the city; no backfill")
    elif backfill_days > 0:
        # the places first, then their history, then the readings at the start: the city
        # services see the first readings with the history before them (an alert whose
        # condition held through the backfill opens at once, and starts in it)
        await sim.seed_city(start, readings=False)
        placed = True
        began = asyncio.get_running_loop().time()
        written = await sim.backfill(start - timedelta(days=backfill_days), start)
        # the CAI of each backfilled hour before the first live readings, which set off the
        # indicators of those hours (their grade distribution reads it)
        computed = await sim.history_computed()
        took = asyncio.get_running_loop().time() - began
        sim.report(
            f"cityhub demo: backfilled {backfill_days:g} days of history "
            f"({written} attribute instances"
            f"{', with their air quality index' if computed else ''} in {took:.1f} s)"
        )
    # the sensors as an operator provisions them, then their readings at the start
    await sim.provision()
    count = await sim.seed_city(start, places=not placed)
    # the city's open data (idempotent: a restart publishes the same rules again)
    await publish_city(sim.client, sim.city)
    if on_seeded is not None:
        on_seeded(count)
    clock.restart()  # simulated time resumes where the city was seeded
    while until is None or clock.now() < until:
        await pause(max(min_pause, clock.real_seconds_until(sim.next_due())))
        now = clock.now()
        try:
            await sim.tick(now if until is None else min(now, until))
        except httpx.TransportError as exc:  # the hub is unreachable for now: try next tick
            sim.problems += 1
            sim.report(f"cityhub demo: the hub did not answer ({exc!r}); retrying")
