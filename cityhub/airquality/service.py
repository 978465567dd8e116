"""The air-quality service (issue 16, deliverable 1): for every ``AirQualityObserved`` entity of
any tenant and any provider, the Korean CAI as AirKorea computes it, written back to the entity
(``airQualityIndex``, ``airQualityLevel``, ``caiSubIndex`` with the governing pollutant,
``whoGuideline``, ``healthAdvice`` per group in Korean and English, and
``airQualityIndexStatus`` saying why there is no index when there is none).

On the city services framework (``cityhub.services``):

- ``requests``, inside the write: a change that touched what the CAI reads (a pollutant's
  current reading: value, unit or time) asks for one computation of that entity; the
  service's own write-back touches none of them, and the framework's cause guard stops it
  anyway. Bad current readings are counted here (``badData``), once per write.
- ``history_requests``: history added through the temporal API (which changes no entity)
  asks for the same computation, for the hour of the latest pollutant reading it brought;
  the hours before it in the history that have readings and no CAI yet (a backfill, a
  provider's late batch; up to :data:`BACKFILL_HOURS` back) get theirs too, added to the
  history only (``_backfill``, through ``ctx.append_history``: the other services hear of
  it, so the indicators count those grades however late they come).
- ``process``, after the commit: reads the entity and its pollutants' history over the 12
  hours ending with the hour the CAI is for (``hours.anchor_of``: late and out-of-order
  readings recompute that hour with themselves in the window), computes
  (``observation.assess_hours``) and writes the result back through the store's write path,
  so history, subscriptions and the temporal API see it. It writes nothing when the readings
  changed meanwhile (a newer item is queued for them) or when the result is what the entity
  already says (so a repeated run, after a crash, records nothing twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson

from cityhub.airquality.cai import POLLUTANTS, MultiPollutantRule
from cityhub.airquality.hours import (
    PLAUSIBLE_MAX,
    anchor_of,
    hour_of,
    hourly_window,
    parse_time,
    usable_value,
    window_bounds,
)
from cityhub.airquality.moving_average import WINDOW_HOURS
from cityhub.airquality.observation import (
    DERIVED,
    TYPE_NAME,
    assess_hours,
    observation_namespace,
    split_iri,
)
from cityhub.ngsild import ops
from cityhub.ngsild.datetime import format_datetime, now_iso
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.services import CityService, ServiceContext, ServiceStats, WorkRequest
from cityhub.store.base import Change, Document, Transaction
from cityhub.store.work import WorkItem

_STAMPS = ("createdAt", "modifiedAt")
#: how far back from the hour it computes history written through the temporal API gets the
#: CAI of each of its hours (a week: a provider's late batch, the demo's two-day backfill)
BACKFILL_HOURS = 168
#: the most type lists and namespaces the hook remembers (a client inventing types cannot grow
#: them without bound)
_MEMO = 1000
#: the unitCode a pollutant's reading needs no conversion in (PM: µg/m³, gases: ppm)
_CAI_UNIT = {p: "GQ" if p.startswith("pm") else "59" for p in POLLUTANTS}


def _bad(reading: tuple[Any, ...]) -> bool:
    """Whether a :func:`_reading` of a Property cannot be used for the CAI
    (``usable_value``; a number in the CAI's unit and in its range is decided at once)."""
    pollutant, kind, value, unit = reading[0], reading[2], reading[3], reading[4]
    if (kind == "float" or kind == "int") and unit == _CAI_UNIT[pollutant]:
        if 0 <= value <= PLAUSIBLE_MAX[pollutant]:
            return False
    return usable_value(pollutant, {"value": value, "unitCode": unit})[0] is None


def _observed_at(instances: Any) -> Any:
    """The ``observedAt`` of a pollutant's default instance (None: none, or no time): a
    :func:`_reading` of another time is another reading."""
    for inst in instances or ():
        if "datasetId" not in inst:
            return inst.get("observedAt")
    return None


def _reading(pollutant: str, instances: Any) -> tuple[Any, ...] | None:
    """What the CAI reads of a pollutant's instances: its default instance (type, value, unit,
    time), None without one. Plain tuples, no serialising: it runs in every write."""
    for inst in instances or ():
        if "datasetId" not in inst:
            value = inst.get("value")
            return (
                pollutant,
                inst.get("type"),
                # 1 and 1.0 and True compare equal; their types tell them apart
                type(value).__name__,
                value if isinstance(value, int | float | str | None) else repr(value),
                inst.get("unitCode"),
                inst.get("observedAt"),
            )
    return None


def _current(entity: Mapping[str, Any] | None, namespace: str) -> tuple[Any, ...]:
    """What the CAI reads of an entity now: each pollutant's :func:`_reading`."""
    if entity is None:
        return ()
    attrs = entity.get("attrs", {})
    found = (_reading(p, attrs.get(namespace + p)) for p in POLLUTANTS)
    return tuple(r for r in found if r is not None)


def _unstamped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unstamped(v) for k, v in value.items() if k not in _STAMPS}
    if isinstance(value, list):
        return [_unstamped(v) for v in value]
    return value


def _derived(entity: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    attrs = entity.get("attrs", {})
    return {
        namespace + name: _unstamped(attrs[namespace + name])
        for name in DERIVED
        if namespace + name in attrs
    }


class AirQualityService(CityService):
    """The CAI of every ``AirQualityObserved`` entity, kept up to date on the change stream.

    Args:
        rule: the multi-pollutant addition (settings ``airquality_multi_pollutant_*``).
        coalesce: seconds a computation waits after the first write that asks for it. 0 by
            default: the CAI is due at the commit (a wait here is a wait for every reading,
            and in the demo the commit of a batch comes some 0.2 s after its first write
            anyway). Writes to a station still coalesce while its item waits for the worker
            (which, under a backlog, rests as long as it worked: ``ServiceRunner.max_share``),
            so a burst costs a computation per round of the worker, not one per write.
    """

    name = "airquality"

    def __init__(self, rule: MultiPollutantRule | None = None, coalesce: float = 0.0) -> None:
        self.rule = rule or MultiPollutantRule()
        self.coalesce = coalesce
        self.stats = ServiceStats()  # the runner's, once it runs this service
        # remembered for the hook, which runs in every write: type IRIs -> the namespace of
        # their AirQualityObserved (None: not an observation); namespace -> pollutant IRIs
        self._namespaces: dict[tuple[str, ...], str | None] = {}
        self._iris: dict[str, tuple[str, ...]] = {}

    def _namespace(self, types: Iterable[str]) -> str | None:
        key = tuple(types)
        if key not in self._namespaces:
            if len(self._namespaces) >= _MEMO:
                self._namespaces.clear()
            self._namespaces[key] = observation_namespace({"type": key})
        return self._namespaces[key]

    def _pollutant_iris(self, namespace: str) -> tuple[str, ...]:
        iris = self._iris.get(namespace)
        if iris is None:
            if len(self._iris) >= _MEMO:
                self._iris.clear()
            iris = self._iris[namespace] = tuple(namespace + p for p in POLLUTANTS)
        return iris

    # ---- inside the write -------------------------------------------------------------
    def requests(self, change: Change) -> Iterable[WorkRequest]:
        after = change.after
        if after is None:
            return ()
        namespace = self._namespace(after.get("type", ()))
        if namespace is None:
            return ()
        before = change.before
        new = after.get("attrs", {})
        old = before.get("attrs", {}) if before is not None else {}
        changed = False
        bad = 0  # the readings this write brought that cannot be used: counted once, here
        for pollutant, iri in zip(POLLUTANTS, self._pollutant_iris(namespace), strict=True):
            instances, was = new.get(iri), old.get(iri)
            if instances == was:
                continue  # as they were (our own write-back, a write of other attributes)
            reading = _reading(pollutant, instances)
            if reading is None or reading[5] is None or reading[5] == _observed_at(was):
                if reading == _reading(pollutant, was):
                    continue  # the same reading, stamped anew
            changed = True
            if reading is not None and reading[1] == "Property" and _bad(reading):
                bad += 1
        if bad:
            self.stats.count("badData", bad)
        return (WorkRequest(change.entity_id, delay=self.coalesce),) if changed else ()

    def history_requests(self, tenant: str, entity: Document) -> Iterable[WorkRequest]:
        """History added through the temporal API (a provider's backfill, a late batch) asks
        for one computation of the observation, for the hour of the latest pollutant reading
        it brought (the entity's own readings may be older: the temporal API leaves them)."""
        types = entity.get("type") or ()
        if types and not any(split_iri(t)[1] == TYPE_NAME for t in types):
            return ()
        latest: datetime | None = None
        for iri, instances in (entity.get("attrs") or {}).items():
            if split_iri(iri)[1] not in POLLUTANTS:
                continue
            for inst in instances:
                at = parse_time(inst.get("observedAt"))
                if at is not None and (latest is None or at > latest):
                    latest = at
        if latest is None:
            return ()
        until = {"historyUntil": format_datetime(latest)}
        return (WorkRequest(str(entity["id"]), until, delay=self.coalesce),)

    # ---- after the commit ---------------------------------------------------------------
    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        if item.key is None:
            return
        entity = await ctx.store.get_entity(item.tenant, item.key)
        if entity is None:
            return  # deleted since
        namespace = observation_namespace(entity)
        if namespace is None:
            return  # no longer an observation
        until = parse_time(item.payload.get("historyUntil"))
        attrs, anchor = await self._assess(ctx, item.tenant, entity, namespace, until)
        if until is not None and anchor is not None:
            # history through the temporal API: its earlier hours get their CAI too
            filled = await self._backfill(ctx, item.tenant, entity, namespace, anchor)
            if filled:
                ctx.stats.count("hoursBackfilled", filled)
        inputs = _current(entity, namespace)

        def write_back(tx: Transaction) -> bool:
            before = tx.get(entity["id"])
            if before is None or _current(before, namespace) != inputs:
                return False  # changed meanwhile: the change queued a newer computation
            had = _derived(before, namespace)
            # only what changed: a repeated run (after a crash) records nothing twice, and an
            # unchanged attribute gets no new history instance
            changed = {iri: i for iri, i in attrs.items() if had.get(iri) != _unstamped(i)}
            stale = [iri for iri in had if iri not in attrs]  # an index no longer true
            if not changed and not stale:
                return False
            updated: Entity = orjson.loads(orjson.dumps(before))
            for iri in stale:
                del updated["attrs"][iri]
            ops.append_attributes(updated, {"type": [], "attrs": changed}, now_iso())
            tx.save(updated, before)
            return True

        if await ctx.write(item.tenant, write_back, finish=True):
            ctx.stats.count("written")

    async def _assess(
        self,
        ctx: ServiceContext,
        tenant: str,
        entity: Entity,
        namespace: str,
        until: datetime | None = None,
    ) -> tuple[dict[str, list[dict[str, Any]]], datetime | None]:
        """The attributes to write back and the hour they are for (None: no time)."""
        attrs = entity["attrs"]
        current = {
            p: next((i for i in attrs.get(namespace + p, ()) if "datasetId" not in i), None)
            for p in POLLUTANTS
        }
        timed = [i for i in current.values() if i is not None]
        # a provider that does not say when it observed: the time of the write stands in
        # (history through the temporal API is timed by observedAt)
        observed = until is not None or any("observedAt" in i for i in timed)
        time_member = "observedAt" if observed else "modifiedAt"
        status = attrs.get(namespace + "airQualityIndexStatus", [{}])[0]
        previous = parse_time(status.get("observedAt"))
        times = [parse_time(i.get(time_member)) for i in timed]
        if until is not None and time_member == "observedAt":
            times.append(until)  # history newer than the entity's readings (temporal API)
        anchor = anchor_of(times, previous)
        history: Mapping[str, list[dict[str, Any]]] = {}
        if anchor is not None:
            start, end = window_bounds(anchor)
            found = await ctx.temporal.get_entity(
                tenant,
                entity["id"],
                TemporalQuery(
                    timerel="between",
                    time_at=format_datetime(start),
                    end_time_at=format_datetime(end),
                    timeproperty=time_member,
                    timeproperty_given=True,
                ),
                attrs=[namespace + p for p in POLLUTANTS],
            )
            if found is not None:
                history = found[1]
        hourly: dict[str, list[float | None]] = {}
        for pollutant, inst in current.items():
            instances = history.get(namespace + pollutant) or ([inst] if inst else [])
            if anchor is not None and instances:
                hourly[pollutant], _ = hourly_window(pollutant, instances, anchor, time_member)
        observed_at = format_datetime(anchor) if anchor is not None else None
        result = assess_hours(entity, hourly, observed_at, self.rule)
        assert result is not None  # an observation: checked by the caller
        return result, anchor

    async def _backfill(
        self, ctx: ServiceContext, tenant: str, entity: Entity, namespace: str, anchor: datetime
    ) -> int:
        """Give the hours of the :data:`BACKFILL_HOURS` before ``anchor``'s that have pollutant
        readings in the history and no CAI of their own (no ``airQualityIndexStatus``
        instance of that hour: so a repeated run adds nothing) their CAI, computed from the
        history as it would have been at that hour, added to the history (as the temporal API
        adds instances: the entity keeps its current index). How many hours."""
        last = hour_of(anchor)
        first = last - timedelta(hours=BACKFILL_HOURS)
        status_iri = namespace + "airQualityIndexStatus"
        found = await ctx.temporal.get_entity(
            tenant,
            entity["id"],
            TemporalQuery(
                timerel="between",
                time_at=format_datetime(first - timedelta(hours=WINDOW_HOURS - 1)),
                end_time_at=format_datetime(last),
                timeproperty="observedAt",
                timeproperty_given=True,
            ),
            attrs=[namespace + p for p in POLLUTANTS] + [status_iri],
        )
        if found is None:
            return 0
        history = found[1]
        done = {
            hour_of(at)
            for inst in history.get(status_iri, ())
            if (at := parse_time(inst.get("observedAt"))) is not None
        }
        # per hour, each pollutant's last reading in it (what the entity said at that hour)
        at_hour: dict[datetime, dict[str, tuple[datetime, dict[str, Any]]]] = {}
        for pollutant in POLLUTANTS:
            for inst in history.get(namespace + pollutant, ()):
                at = parse_time(inst.get("observedAt"))
                if at is None or "datasetId" in inst or not first <= at < last:
                    continue
                hour = hour_of(at)
                held = at_hour.setdefault(hour, {}).get(pollutant)
                if held is None or at >= held[0]:
                    at_hour[hour][pollutant] = (at, inst)
        added: dict[str, list[dict[str, Any]]] = {}
        hours = 0
        for hour in sorted(at_hour.keys() - done):
            hourly = {
                p: hourly_window(p, history.get(namespace + p, ()), hour, "observedAt")[0]
                for p in POLLUTANTS
                if history.get(namespace + p)
            }
            then: Entity = {
                "id": entity["id"],
                "type": entity["type"],
                "attrs": {namespace + p: [inst] for p, (_, inst) in at_hour[hour].items()},
            }
            result = assess_hours(then, hourly, format_datetime(hour), self.rule)
            if result is None:
                continue
            for iri, instances in result.items():
                added.setdefault(iri, []).extend(instances)
            hours += 1
        if added:
            # heard by the other services (the indicators count these grades, however late)
            await ctx.append_history(tenant, entity["id"], added, entity["type"])
        return hours


__all__ = ["AirQualityService"]
