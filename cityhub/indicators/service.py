"""District indicators as a city service (issue 16 deliverable 3): hourly and daily
``KeyPerformanceIndicator`` entities per ``AdministrativeArea``, computed from history.

1. Inside the write (:meth:`IndicatorService.requests`): a reading of a sensor type the
   indicators read (``compute.KINDS``) whose time closes an hour the entity had not closed
   before (its ``observedAt``, less :attr:`grace`, moved into a later hour) queues one work
   item per tenant (key ``clock``), carrying that time; most writes close nothing and cost a
   comparison.
2. After the commit (:meth:`IndicatorService.process`): the hours closed since the last one
   computed (the ``IndicatorState`` entity's ``lastComputedHour``), at most
   :attr:`lookback_hours` back, are computed one at a time: the hour's history of the sensor
   types (one temporal query), the tallies (``compute.compute_hour``), then one transaction
   that writes every district's hourly KPI entities, adds the hour to the daily ones and moves
   ``lastComputedHour`` on. So a new hour costs an hour's work, never a rescan, and a SIGKILL
   anywhere leaves either the hour done (entities and state together) or not done at all; a
   work item run twice, or by two workers, finds the hour done and does nothing.

Time is the data's: an hour is closed by readings after it, not by the hub's clock, so a
replay of history or the demo's backfill is computed as it comes. A reading time later than the
hub's clock (plus five minutes of clock skew) is taken as the hub's clock: a sensor with a
broken clock cannot close hours that have not happened.

3. Late readings (:meth:`IndicatorService.recompute`): a reading for an hour that may be
   computed already (it ended, less the grace, before the hub's clock or before the entity's
   own previous reading), written through the entity API or the temporal API, queues one work
   item per tenant and hour (key ``late:<hour>``). The hour's history is read again and
   compared with the digest the computation kept (``hourDigests`` in the state): the same,
   nothing to do (a replay's readings come before their hour is computed and cost that read);
   else the hour is computed again with its day (the running day's tallies in the state, or a
   finished day's daily KPIs) from the day's hours of history, and so is any other hour of
   the day whose history changed since it was computed (a late batch costs one pass). The
   new KPI instances replace the first computation's in the history (one instance per
   observedAt, as the temporal API adds them), then one transaction writes the KPI entities
   whose latest value they are, and the state. A crash in between leaves the digests as they
   were, so the item does it all again.
   An hour more than :attr:`lookback_hours` before the last computed one is left
   (``lateReadingsTooOld``).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cityhub.airquality.hours import parse_time
from cityhub.indicators.areas import Area, AreaMap, area_map
from cityhub.indicators.catalogue import BY_NAME, Indicator
from cityhub.indicators.compute import (
    KINDS,
    READS,
    Sensor,
    compute_hour,
    local_attrs,
    sensor_of,
    weights_of,
)
from cityhub.indicators.kpi_entity import (
    NO_DATA,
    attributes,
    kpi_id,
    static_attributes,
    stored_tally,
    updated_entity,
)
from cityhub.indicators.names import iri, local_name, plain_value
from cityhub.indicators.tally import Tally
from cityhub.ngsild.datetime import format_datetime, now_iso
from cityhub.ngsild.plain import LocalNames
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.services import CityService, ServiceContext, ServiceStats, WorkRequest
from cityhub.store.base import Change, Document, EntityQuery, Transaction
from cityhub.store.work import WorkItem

STATE_ID = "urn:ngsi-ld:IndicatorState:cityhub"
STATE_TYPE = iri("IndicatorState")
_LAST = iri("lastComputedHour")
_DAY = iri("dayStart")
_DAYS = iri("dayTallies")
_DIGESTS = iri("hourDigests")
_KPI_VALUE = iri("kpiValue")
_HOUR = timedelta(hours=1)
_PAGE = 1000
#: the sensor types, and the static ones they are placed and judged by
_SENSOR_TYPES = frozenset(KINDS)
_STATIC_TYPES = frozenset({"PointOfInterest", "RoadSegment"})
_READ_NAMES = frozenset(n for names in READS.values() for n in names)
#: what closes an hour: readings, not what a service derives from them (the air-quality
#: service's airQualityLevel for an hour is written after that hour's readings)
_CLOCK_NAMES = _READ_NAMES - {"airQualityLevel"}
#: times a late hour is recomputed while other hours keep being computed, before it is retried
_RECOMPUTE_TRIES = 3
#: a reading this far ahead of the hub's clock is taken at the hub's clock
_SKEW = timedelta(minutes=5)


def hour_floor(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@functools.lru_cache(maxsize=4096)
def _hour(t: datetime) -> datetime:
    """:func:`hour_floor`, remembered (the hooks ask it of the same few times in every write)."""
    return hour_floor(t)


@functools.lru_cache(maxsize=4096)
def _iso(t: datetime) -> str:
    """``format_datetime``, remembered (a batch's items name the same few hours)."""
    return format_datetime(t)


def _latest_time(instances: Any) -> datetime | None:
    """The latest ``observedAt`` of an attribute's instances (None: none, or not a list)."""
    latest: datetime | None = None
    if isinstance(instances, list):
        for inst in instances:
            at = parse_time(inst.get("observedAt")) if isinstance(inst, dict) else None
            if at is not None and (latest is None or at > latest):
                latest = at
    return latest


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def latest_reading(
    entity: Mapping[str, Any] | None, names: Mapping[str, str] | None = None
) -> datetime | None:
    """The latest ``observedAt`` of the entity's readings that close hours (``names``: IRI ->
    local name, remembered)."""
    if entity is None:
        return None
    latest: datetime | None = None
    for key, instances in entity.get("attrs", {}).items():
        if (names[key] if names is not None else local_name(key)) not in _CLOCK_NAMES:
            continue
        for inst in instances:
            at = parse_time(inst.get("observedAt"))
            if at is not None and (latest is None or at > latest):
                latest = at
    return latest


def _reading_key(inst: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        inst.get("observedAt"),
        inst.get("datasetId"),
        repr(plain_value(inst)),
        inst.get("unitCode"),
    )


def _new_hours(instances: Any, before: Any) -> set[datetime]:
    """The hours of the readings in ``instances`` (an attribute's) that ``before`` (the same
    attribute's, None when it had none) had not. (A reading observed at a time no instance
    of ``before`` has is new: its value is compared only when the time is the same.)"""
    if not isinstance(instances, list):
        return set()
    times = (
        {i.get("observedAt") for i in before if isinstance(i, dict)}
        if isinstance(before, list)
        else ()
    )
    old: set[tuple[Any, ...]] | None = None
    hours: set[datetime] = set()
    for inst in instances:
        if not isinstance(inst, dict):
            continue
        observed = inst.get("observedAt")
        if observed in times:
            if old is None:
                old = {_reading_key(i) for i in before if isinstance(i, dict)}
            if _reading_key(inst) in old:
                continue
        at = parse_time(observed)
        if at is not None and 1 < at.year < 9999:
            hours.add(_hour(at))
    return hours


def reading_hours(entity: Mapping[str, Any], before: Mapping[str, Any] | None) -> set[datetime]:
    """The hours of the readings ``entity`` has that ``before`` had not (every reading when
    it is None): the instances of the attributes the indicators read, by their observedAt."""
    old = before.get("attrs", {}) if before is not None else {}
    hours: set[datetime] = set()
    for key, instances in entity.get("attrs", {}).items():
        if local_name(key) in _READ_NAMES:
            hours |= _new_hours(instances, old.get(key))
    return hours


def history_digest(history: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]) -> str:
    """What an hour's history held, in 16 hex digits: equal when the same readings (entity,
    attribute, time, value) were read, whatever their instance ids and write times."""
    rows = sorted(
        (eid, name, *map(str, _reading_key(inst)))
        for eid, attrs in history.items()
        for name, instances in attrs.items()
        for inst in instances
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


class IndicatorService(CityService):
    """The district indicators.

    Args:
        time_zone: the city's (IANA) zone: days are its days.
        holidays: the city's public holidays (``workdays.public_holidays``): the travel-time
            index has no peaks on them.
        lookback_hours: the most hours computed back from the latest closed one (the first
            time, or after the hub was down longer).
        grace: how long after an hour ends readings of it are awaited before it is computed
            (AirKorea's hourly values arrive 15-60 minutes after the hour).
        coalesce: seconds a computation waits for the rest of a burst of writes.
        clock: seconds since the epoch (tests pass a fake).
    """

    name = "indicators"

    def __init__(
        self,
        time_zone: str = "Asia/Seoul",
        lookback_hours: int = 72,
        holidays: Container[date] = frozenset(),
        grace: timedelta = timedelta(minutes=10),
        coalesce: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self.zone: Any = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = UTC
        self.lookback_hours = max(1, lookback_hours)
        self.holidays = holidays
        self.grace = grace
        self.coalesce = coalesce
        self.clock = clock
        self.stats = ServiceStats()
        self._names = LocalNames()
        #: the hour the hub's clock less the grace closed, at a second of the clock (``_late``)
        self._closed_at: tuple[int, datetime] = (-1, datetime.min.replace(tzinfo=UTC))

    # ---- inside the write -------------------------------------------------------------------
    def _closed(self, at: datetime | None) -> datetime | None:
        if at is None or at.year < 2 or at.year > 9998:
            return None  # no hour to close at the ends of time
        return _hour(at - self.grace)

    def requests(self, change: Change) -> Iterable[WorkRequest]:
        """Runs in every write transaction: decides from the attributes the indicators read,
        by IRI (``self._names`` remembers each one's local name), and compares only those
        that differ from the entity's before (most writes of other types, or of nothing the
        indicators read, cost a dictionary look-up per attribute). The latest reading time
        before and after is taken in the same pass: an attribute the change left as it was
        counts for both."""
        after = change.after
        if after is None:
            return ()
        names = self._names
        if not any(names[t] in _SENSOR_TYPES for t in after.get("type", ())):
            return ()
        before = change.before
        new: Mapping[str, Any] = after.get("attrs", {})
        old: Mapping[str, Any] = before.get("attrs", {}) if before is not None else {}
        changed: list[tuple[Any, Any]] = []  # (instances after, before) of read attributes
        clock = False  # an attribute that closes hours changed
        kept: datetime | None = None  # the latest of the clock attributes left as they were
        latest_after: datetime | None = None  # ... of those the change wrote (after)
        latest_before: datetime | None = None  # ... and as they were before it
        for key, instances in new.items():
            name = names[key]
            if name not in _READ_NAMES:
                continue
            was = old.get(key)
            same = was is instances or was == instances
            if not same:
                changed.append((instances, was))
            if name not in _CLOCK_NAMES:
                continue
            at = _latest_time(instances)
            if same:
                if at is not None and (kept is None or at > kept):
                    kept = at
                continue
            clock = True
            if at is not None and (latest_after is None or at > latest_after):
                latest_after = at
            at = _latest_time(was)
            if at is not None and (latest_before is None or at > latest_before):
                latest_before = at
        for key, was in old.items():  # clock attributes the change removed
            if key not in new and names[key] in _CLOCK_NAMES:
                clock = True
                at = _latest_time(was)
                if at is not None and (latest_before is None or at > latest_before):
                    latest_before = at
        if not changed and not clock:
            return ()
        out: list[WorkRequest] = []
        latest = _later(kept, latest_after)
        now = self._closed(latest)
        previous = self._closed(_later(kept, latest_before)) if before is not None else None
        if clock and latest is not None and now is not None and now != previous:
            # keyed by the hour it closes: a batch whose stations close different hours (one
            # behind the others) queues one item per hour, not one that keeps the last
            # change's clock, which could be the earliest (items of one key keep the later
            # payload); an item whose hours are computed already finds nothing to do
            out.append(WorkRequest("clock:" + _iso(now), {"clock": _iso(latest)}, self.coalesce))
        if changed:
            hours: set[datetime] = set()
            for instances, was in changed:
                hours |= _new_hours(instances, was)
            if hours:
                out.extend(self._late(hours, previous))
        return out

    def history_requests(self, tenant: str, entity: Document) -> Iterable[WorkRequest]:
        """History written through the temporal API closes no hour (a backfill written entity
        by entity would close hours before the other entities' history is in), but a reading
        for an hour computed already asks for that hour again."""
        types = entity.get("type") or ()
        if types and not any(local_name(t) in _SENSOR_TYPES for t in types):
            return ()
        return self._late(reading_hours(entity, None), None)

    def _late(self, hours: Iterable[datetime], previous: datetime | None) -> list[WorkRequest]:
        """A work item per hour that may have been computed already: it ended before the
        hub's clock less the grace, or before the hour the entity's previous reading closed."""
        second = int(self.clock())
        if self._closed_at[0] != second:  # asked in every write: once a second
            self._closed_at = (second, _hour(datetime.fromtimestamp(second, UTC) - self.grace))
        closed = self._closed_at[1]
        if previous is not None:
            closed = max(closed, previous)
        return [
            WorkRequest("late:" + (at := _iso(h)), {"late": at}, self.coalesce)
            for h in sorted(set(hours))
            if h < closed
        ]

    # ---- after the commit ---------------------------------------------------------------------
    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        late = parse_time(item.payload.get("late"))
        if late is not None:
            await self.recompute(ctx, item.tenant, hour_floor(late))
            return
        clock = parse_time(item.payload.get("clock"))
        if clock is None:
            return
        await self.catch_up(ctx, item.tenant, clock)

    async def catch_up(self, ctx: ServiceContext, tenant: str, clock: datetime) -> int:
        """Compute every hour closed by ``clock`` and not computed yet; how many."""
        wall = datetime.fromtimestamp(self.clock(), UTC) + _SKEW
        if clock > wall:
            ctx.stats.count("readingsAheadOfClock")
            clock = wall
        last_closed = hour_floor(clock - self.grace) - _HOUR
        first = last_closed - (self.lookback_hours - 1) * _HOUR
        done = _last_computed(await ctx.store.get_entity(tenant, STATE_ID))
        if done is not None:
            first = max(first, done + _HOUR)
        if first > last_closed:
            return 0
        areas = await self._areas(ctx, tenant)
        if areas is None:
            ctx.stats.count("noAreas")
            return 0
        sensors, attr_names, types = await self._sensors(ctx, tenant, areas)
        hours = 0
        hour = first
        while hour <= last_closed:
            history = await self._hour_history(ctx, tenant, types, attr_names, hour)
            await self.commit_hour(ctx, tenant, areas, sensors, history, hour)
            hours += 1
            hour += _HOUR
        return hours

    async def commit_hour(
        self,
        ctx: ServiceContext,
        tenant: str,
        areas: AreaMap,
        sensors: Sequence[Sensor],
        history: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
        hour: datetime,
    ) -> bool:
        """Compute one hour and write it (with the state) in one transaction; False when the
        hour was done already."""
        tallies = (
            compute_hour(areas, sensors, history, hour, self.zone, self.holidays)
            if history
            else None
        )
        _, source = weights_of(areas)
        day_start = self.day_start(hour)
        digest = history_digest(history)
        bad = 0
        if tallies is not None:
            bad = sum(
                t["monitoringCoverage"].bad for a, t in tallies.items() if areas.areas[a].is_leaf
            )

        day_end = self.day_start(day_start + timedelta(hours=36))
        static: dict[str, Any] = {}

        def run(tx: Transaction) -> int | None:
            """How many KPI entities it wrote; None: the hour was done already."""
            state = tx.get(STATE_ID)
            done = _last_computed(state)
            if done is not None and done >= hour:
                return None
            now = now_iso()
            written = 0
            day, days = _days_of(state)
            if day is not None and day != day_start and days and done is not None:
                # a day whose last hour was never computed (the hub was down, the lookback
                # cut it): written as it stands
                written += _write_days(tx, areas, days, day, done + _HOUR, source, now, static)
                days = {}
            if tallies is not None:
                written += _write_hour(tx, areas, tallies, hour, days, source, now, static)
            if hour + _HOUR >= day_end:  # the day's last hour: the daily KPIs
                written += _write_days(tx, areas, days, day_start, day_end, source, now, static)
                days = {}
            digests = self._kept(_digests_of(state), hour, {format_datetime(hour): digest})
            _write_state(tx, hour, day_start, days, now, digests)
            return written

        wrote = await ctx.write(tenant, run)
        if wrote is not None:
            ctx.stats.count("hoursComputed")
            ctx.stats.count("kpisWritten", wrote)
            if tallies is None:
                ctx.stats.count("hoursWithoutData")
            if bad:
                ctx.stats.count("badReadings", bad)
        return wrote is not None

    async def recompute(self, ctx: ServiceContext, tenant: str, hour: datetime) -> bool:
        """A reading came for ``hour`` after it may have been computed: compute it again, and
        its day, when its history is not what the computation read. True when it did."""
        for _ in range(_RECOMPUTE_TRIES):
            state = await ctx.store.get_entity(tenant, STATE_ID)
            done = _last_computed(state)
            if done is None or hour > done:
                return False  # not computed yet: its turn comes with the data
            if hour <= done - self.lookback_hours * _HOUR:
                ctx.stats.count("lateReadingsTooOld")
                return False
            areas = await self._areas(ctx, tenant)
            if areas is None:
                return False
            sensors, attr_names, types = await self._sensors(ctx, tenant, areas)
            history = await self._hour_history(ctx, tenant, types, attr_names, hour)
            key = format_datetime(hour)
            if _digests_of(state).get(key) == history_digest(history):
                return False  # the computation read these readings already
            if await self._recompute(ctx, tenant, state, areas, sensors, types, attr_names, hour):
                ctx.stats.count("lateHoursRecomputed")
                return True
        raise RuntimeError(f"the indicators' state kept moving while {hour} was recomputed")

    async def _recompute(
        self,
        ctx: ServiceContext,
        tenant: str,
        state: Mapping[str, Any] | None,
        areas: AreaMap,
        sensors: Sequence[Sensor],
        types: Sequence[str],
        attr_names: Sequence[str],
        hour: datetime,
    ) -> bool:
        """Recompute ``hour`` and its day from the day's history; False when the state moved
        meanwhile (another hour was computed: try again)."""
        done = _last_computed(state)
        assert done is not None
        counting, _ = _days_of(state)
        day_start = self.day_start(hour)
        day_end = self.day_start(day_start + timedelta(hours=36))
        # the day still counted in the state (its last hour not computed yet)
        running = counting == day_start and done < day_end - _HOUR
        last = done if running else day_end - _HOUR
        days: dict[str, Any] = {}
        stored = _digests_of(state)
        digests: dict[str, str] = {}  # of the hours written again
        hours: list[tuple[datetime, dict[str, dict[str, Tally]] | None]] = []
        at = day_start
        while at <= last:
            history = await self._hour_history(ctx, tenant, types, attr_names, at)
            digest, key = history_digest(history), format_datetime(at)
            found = (
                compute_hour(areas, sensors, history, at, self.zone, self.holidays)
                if history
                else None
            )
            if found is not None:
                add_hour(days, found)
            # this hour, and any other of the day whose history changed since it was computed
            if at == hour or (key in stored and stored[key] != digest):
                digests[key] = digest
                hours.append((at, found))
            at += _HOUR
        _, source = weights_of(areas)
        static: dict[str, Any] = {}
        now = now_iso()
        # what the KPIs of those hours (and of a finished day) say now, by entity id, in time
        # order
        values: dict[str, list[dict[str, Any]]] = {}
        for start, tallies in hours:
            for area_id, by_indicator in (tallies or {}).items():
                area = areas.areas[area_id]
                for name, tally in by_indicator.items():
                    indicator = BY_NAME[name]
                    if indicator.kind == "ratio" or (tally.sensors == 0 and tally.den == 0):
                        continue  # places standing, not readings of the hour; nothing to say
                    cached = _static(static, area, indicator, "hourly")
                    attrs = attributes(cached, indicator, tally, start, start + _HOUR, source)
                    values.setdefault(kpi_id(area_id, name, "hourly"), []).append(attrs)
        if not running:
            for area_id, by_indicator in days.items():
                area = areas.areas[area_id]
                for name, doc in by_indicator.items():
                    indicator, day = BY_NAME[name], Tally.from_doc(doc)
                    if day is None or (day.sensors == 0 and day.den == 0):
                        continue
                    cached = _static(static, area, indicator, "daily")
                    attrs = attributes(cached, indicator, day, day_start, day_end, source)
                    values.setdefault(kpi_id(area_id, name, "daily"), []).append(attrs)
        # first the history: each value replaces the instance of its period (a crash after it
        # leaves the digests unchanged, so the work item does it all again)
        history_of = {
            eid: {_KPI_VALUE: [a[_KPI_VALUE] for a in found]} for eid, found in values.items()
        }
        await ctx.temporal.append_many(tenant, history_of)
        created: list[str] = []

        def run(tx: Transaction) -> bool:
            now_state = tx.get(STATE_ID)
            if _last_computed(now_state) != done or _days_of(now_state)[0] != counting:
                return False
            created.clear()
            for eid, found in values.items():
                attrs = found[-1]
                before = tx.get(eid)
                if before is None:
                    if plain_value(attrs[_KPI_VALUE]) != NO_DATA:
                        tx.insert(updated_entity(eid, None, attrs, now))
                        created.append(eid)
                    continue
                period_end = parse_time(attrs[_KPI_VALUE].get("observedAt"))
                current = _observed(before)
                if current is not None and period_end is not None and current > period_end:
                    continue  # a later period is its value: only its history changed
                entity = updated_entity(eid, before, attrs, now)
                tx.recording_history = False  # recorded above
                try:
                    tx.save(entity, before)
                finally:
                    tx.recording_history = True
            _, kept_days = _days_of(now_state)
            kept = self._kept(_digests_of(now_state), done, digests)
            _write_state(tx, done, counting or day_start, days if running else kept_days, now, kept)
            return True

        if not await ctx.write(tenant, run):
            return False
        # a KPI created now recorded its latest value; its earlier hours go in after it
        earlier = {e: {_KPI_VALUE: history_of[e][_KPI_VALUE][:-1]} for e in created}
        await ctx.temporal.append_many(
            tenant, {e: attrs for e, attrs in earlier.items() if attrs[_KPI_VALUE]}
        )
        return True

    def _kept(
        self, digests: Mapping[str, str], last: datetime, new: Mapping[str, str]
    ) -> dict[str, str]:
        """The hours' digests with ``new``, less those no late reading can recompute."""
        oldest = format_datetime(last - self.lookback_hours * _HOUR)
        merged = {**digests, **new}
        return {h: d for h, d in sorted(merged.items()) if h > oldest}

    def day_start(self, hour: datetime) -> datetime:
        """The start (UTC) of the city's day ``hour`` falls in."""
        local = hour.astimezone(self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight.astimezone(UTC)

    # ---- reads ---------------------------------------------------------------------------------
    @staticmethod
    async def _all(ctx: ServiceContext, tenant: str, types: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not types:
            return out
        offset = 0
        while True:
            page = await ctx.store.query_entities(
                tenant, EntityQuery(types=tuple(types), limit=_PAGE, offset=offset)
            )
            out.extend(page.entities)
            if len(page.entities) < _PAGE:
                return out
            offset += _PAGE

    async def _types(self, ctx: ServiceContext, tenant: str, names: Iterable[str]) -> list[str]:
        wanted = set(names)
        return [t for t in await ctx.store.entity_types(tenant) if local_name(t) in wanted]

    async def _areas(self, ctx: ServiceContext, tenant: str) -> AreaMap | None:
        types = await self._types(ctx, tenant, ("AdministrativeArea",))
        areas = area_map(await self._all(ctx, tenant, types))
        return areas if areas.leaves else None

    async def _sensors(
        self, ctx: ServiceContext, tenant: str, areas: AreaMap
    ) -> tuple[list[Sensor], list[str], list[str]]:
        """The sensors, the attribute IRIs their history is read by, and their types."""
        sensor_types = await self._types(ctx, tenant, _SENSOR_TYPES)
        static = await self._all(ctx, tenant, await self._types(ctx, tenant, _STATIC_TYPES))
        entities = await self._all(ctx, tenant, sensor_types)
        roads = {e["id"]: e for e in static if "RoadSegment" in {local_name(t) for t in e["type"]}}
        sensors = []
        attr_names: set[str] = set()
        for entity in [*entities, *static]:
            sensor = sensor_of(entity, areas, roads)
            if sensor is None:
                continue
            sensors.append(sensor)
            for key in entity["attrs"]:
                name = local_name(key)
                if name in _READ_NAMES:
                    # and the other readings in the same namespace: an attribute only in
                    # the history (the CAI of a backfilled hour) is read too
                    prefix = key[: len(key) - len(name)]
                    attr_names.update(prefix + n for n in _READ_NAMES)
        return sensors, sorted(attr_names), sensor_types

    async def _hour_history(
        self,
        ctx: ServiceContext,
        tenant: str,
        types: Sequence[str],
        attr_names: Sequence[str],
        hour: datetime,
    ) -> dict[str, dict[str, list[Any]]]:
        """The hour's instances of the sensors' readings, by entity id and attribute local
        name (one temporal query, paged by entities)."""
        out: dict[str, dict[str, list[Any]]] = {}
        if not types or not attr_names:
            return out
        tq = TemporalQuery(
            timerel="between",
            time_at=format_datetime(hour),
            end_time_at=format_datetime(hour + _HOUR),
            timeproperty="observedAt",
            timeproperty_given=True,
        )
        offset = 0
        while True:
            query = EntityQuery(
                types=tuple(types), attrs=tuple(attr_names), limit=_PAGE, offset=offset
            )
            found, _ = await ctx.temporal.query_entities(tenant, query, tq)
            for head, history in found:
                attrs = local_attrs(history)
                if attrs:
                    out[head["id"]] = attrs
            if len(found) < _PAGE:
                return out
            offset += _PAGE


def _last_computed(state: Mapping[str, Any] | None) -> datetime | None:
    if state is None:
        return None
    return parse_time(plain_value((state.get("attrs", {}).get(_LAST) or [None])[0]))


def _days_of(state: Mapping[str, Any] | None) -> tuple[datetime | None, dict[str, Any]]:
    """The day being counted and its running tallies (by area id, then indicator)."""
    if state is None:
        return None, {}
    attrs = state.get("attrs", {})
    day = parse_time(plain_value((attrs.get(_DAY) or [None])[0]))
    days = plain_value((attrs.get(_DAYS) or [None])[0])
    return day, dict(days) if isinstance(days, dict) else {}


def _digests_of(state: Mapping[str, Any] | None) -> dict[str, str]:
    """The digests of the hours computed (by the hour's start), as the state keeps them."""
    if state is None:
        return {}
    found = plain_value((state.get("attrs", {}).get(_DIGESTS) or [None])[0])
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, str)}


def _write_state(
    tx: Transaction,
    hour: datetime,
    day: datetime,
    days: Mapping[str, Any],
    now: str,
    digests: Mapping[str, str],
) -> None:
    """The state: the last hour computed, and the day's running tallies. Its changes are not
    recorded in the history (the tallies are rewritten every hour; the KPI entities are the
    record)."""
    before = tx.get(STATE_ID)

    def stamp(value: Any) -> dict[str, Any]:
        return {"type": "Property", "value": value, "createdAt": now, "modifiedAt": now}

    attrs = {
        _LAST: [stamp({"@type": "DateTime", "@value": format_datetime(hour)})],
        _DAY: [stamp({"@type": "DateTime", "@value": format_datetime(day)})],
        _DAYS: [stamp(dict(days))],
        _DIGESTS: [stamp(dict(digests))],
    }
    entity = {
        "id": STATE_ID,
        "type": [STATE_TYPE],
        "createdAt": (before or {}).get("createdAt", now),
        "modifiedAt": now,
        "attrs": attrs,
    }
    tx.recording_history = False
    try:
        _put(tx, entity, before)
    finally:
        tx.recording_history = True


def _observed(entity: Mapping[str, Any]) -> datetime | None:
    """When the entity's current value was observed (the end of its period)."""
    return parse_time((entity["attrs"].get(_KPI_VALUE) or [{}])[0].get("observedAt"))


def _no_data(entity: Mapping[str, Any] | None) -> bool:
    if entity is None:
        return True
    return bool(plain_value((entity["attrs"].get(_KPI_VALUE) or [None])[0]) == NO_DATA)


def _skip(indicator: Indicator, tally: Tally, before: Mapping[str, Any] | None) -> bool:
    """Whether writing would tell nothing new: a district without a sensor of the kind (and
    no value from elsewhere) that had no KPI or no data before; a standing count (shelter
    places) that has not changed."""
    if tally.sensors == 0 and tally.den == 0 and _no_data(before):
        return True
    if indicator.kind == "ratio" and before is not None:
        stored = stored_tally(before)
        if stored is not None:
            old = stored[0]
            return (old.num, old.den, old.sensors) == (tally.num, tally.den, tally.sensors)
    return False


def _static(
    cache: dict[str, Any], area: Area, indicator: Indicator, frequency: str
) -> dict[str, Any]:
    key = f"{area.id} {indicator.name} {frequency}"
    if key not in cache:
        cache[key] = static_attributes(area, indicator, frequency)
    found: dict[str, Any] = cache[key]
    return found


def add_hour(days: dict[str, Any], tallies: Mapping[str, Mapping[str, Tally]]) -> None:
    """Add an hour's tallies to the day's running ones (``days``: by area id, then indicator,
    as documents)."""
    for area_id, by_indicator in tallies.items():
        running = days.setdefault(area_id, {})
        for name, tally in by_indicator.items():
            day = Tally.from_doc(running.get(name)) or Tally()
            day.add(tally, same_period=False, snapshot=BY_NAME[name].kind == "ratio")
            running[name] = day.to_doc()


def _write_hour(
    tx: Transaction,
    areas: AreaMap,
    tallies: Mapping[str, Mapping[str, Tally]],
    hour: datetime,
    days: dict[str, Any],
    source: str,
    now: str,
    cache: dict[str, Any],
) -> int:
    """Every district's hourly KPIs, and the hour added to the day's tallies (``days``); how
    many entities it wrote."""
    end = hour + _HOUR
    written = 0
    add_hour(days, tallies)
    for area_id, by_indicator in tallies.items():
        area = areas.areas[area_id]
        for name, tally in by_indicator.items():
            indicator = BY_NAME[name]
            hourly_id = kpi_id(area_id, name, "hourly")
            before = tx.get(hourly_id)
            if _skip(indicator, tally, before):
                continue
            attrs = attributes(
                _static(cache, area, indicator, "hourly"), indicator, tally, hour, end, source
            )
            _put(tx, updated_entity(hourly_id, before, attrs, now), before)
            written += 1
    return written


def _write_days(
    tx: Transaction,
    areas: AreaMap,
    days: Mapping[str, Any],
    start: datetime,
    end: datetime,
    source: str,
    now: str,
    cache: dict[str, Any],
) -> int:
    """Every district's daily KPIs for the day from ``start``, counted up to ``end``; how many
    entities it wrote."""
    written = 0
    for area_id, by_indicator in days.items():
        area = areas.areas.get(area_id)
        if area is None or not isinstance(by_indicator, dict):
            continue  # an area deleted during the day
        for name, doc in by_indicator.items():
            indicator = BY_NAME.get(name)
            tally = Tally.from_doc(doc)
            if indicator is None or tally is None:
                continue
            daily_id = kpi_id(area_id, name, "daily")
            before = tx.get(daily_id)
            if tally.sensors == 0 and tally.den == 0 and _no_data(before):
                continue
            attrs = attributes(
                _static(cache, area, indicator, "daily"), indicator, tally, start, end, source
            )
            _put(tx, updated_entity(daily_id, before, attrs, now), before)
            written += 1
    return written


def _put(tx: Transaction, entity: dict[str, Any], before: dict[str, Any] | None) -> None:
    if before is None:
        tx.insert(entity)
    else:
        tx.save(entity, before)


__all__ = ["STATE_ID", "IndicatorService", "hour_floor", "latest_reading", "parse_time"]
