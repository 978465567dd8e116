"""``/indicators`` (the district indicators the hub computes) and ``/indicators/gap`` (one
indicator compared between zones of districts, with its uncertainty; issue 16 deliverable 4).

``GET /indicators/gap?indicator=pm25ExposureWho`` reads the indicator's
``KeyPerformanceIndicator`` entities (``cityhub.indicators``) of one frequency and level, groups
their districts by ``cityhubZone`` and answers ``cityhub.indicators.gap.compare``'s report, as
JSON, or CSV with ``format=csv`` or ``Accept: text/csv``. Parameters:

- ``indicator`` (required): a name ``GET /indicators`` lists.
- ``frequency``: ``daily`` (default) or ``hourly``: the latest period computed.
- ``date`` (``YYYY-MM-DD``, daily only): that day of the city instead, from the history.
- ``level``: the districts compared (``administrativeLevel``; default: the level with the most
  districts, the dong of the demo).
- ``reference``: the zone differences are taken from (default ``old-downtown``).
- ``zones``: the id of an ``IndicatorZoneMapping`` entity (or what follows
  ``urn:ngsi-ld:IndicatorZoneMapping:``) whose grouping replaces the areas' ``cityhubZone``
  (``cityhub.indicators.zones``); without it the tenant's ``...:default`` mapping when it has
  one.

Anything else, or a value it cannot use, is a 400 ProblemDetails naming the parameter.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.guard import narrowed
from cityhub.api.routing import Route
from cityhub.errors import BadRequestData
from cityhub.indicators.catalogue import BY_NAME, INDICATORS
from cityhub.indicators.gap import CSV_COLUMNS, District, compare, csv_rows
from cityhub.indicators.kpi_entity import KPI_TYPE, stored_tally
from cityhub.indicators.names import attribute, iri, plain_value
from cityhub.indicators.zones import (
    DEFAULT_MAPPING,
    MAPPING_PREFIX,
    MAPPING_TYPE,
    ZONE_NAME,
    zones_of,
)
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.base import EntityQuery

_PARAMETERS = frozenset({"indicator", "frequency", "date", "level", "reference", "format", "zones"})
_FREQUENCIES = ("daily", "hourly")
_CSV = "text/csv"
_PAGE = 1000
_MAPPING_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def _catalogue() -> list[dict[str, Any]]:
    return [
        {
            "name": i.name,
            "title": i.title,
            "unit": i.unit,
            "formula": i.formula,
            "kind": i.kind,
            "higherIsWorse": i.higher_is_worse,
            "aggregatedData": [{"entityType": t, "attrs": list(a)} for t, a in i.entity_types],
        }
        for i in INDICATORS
    ]


async def list_indicators(request: Request) -> Response:
    return neg.json_response({"indicators": _catalogue()})


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and (value == "" or len(value) > 256):
        raise BadRequestData(f"{name} must be a non-empty value of at most 256 characters")
    return value


def _wants_csv(request: Request) -> bool:
    fmt = _param(request, "format")
    if fmt is not None:
        if fmt not in ("json", "csv"):
            raise BadRequestData(f"format must be json or csv, got {fmt!r}")
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return _CSV in accept and "json" not in accept


def _day(text: str | None, zone: Any) -> tuple[datetime, datetime] | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"date must be a day as YYYY-MM-DD, got {text!r}") from None
    if not date(1971, 1, 1) <= day <= date(9998, 12, 31):
        raise BadRequestData(f"date {text!r} is outside the years 1971-9998")
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def _zone_of(request: Request) -> Any:
    try:
        return ZoneInfo(request.app.state.settings.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def gap(request: Request) -> Response:
    unknown = sorted(set(request.query_params) - _PARAMETERS)
    if unknown:
        raise BadRequestData(
            f"/indicators/gap takes {', '.join(sorted(_PARAMETERS))}; not {', '.join(unknown)}"
        )
    as_csv = _wants_csv(request)
    name = _param(request, "indicator")
    if name is None:
        raise BadRequestData("indicator is required: one of " + ", ".join(BY_NAME))
    indicator = BY_NAME.get(name)
    if indicator is None:
        raise BadRequestData(f"indicator {name!r} is not one of " + ", ".join(BY_NAME))
    frequency = _param(request, "frequency") or "daily"
    if frequency not in _FREQUENCIES:
        raise BadRequestData(f"frequency must be daily or hourly, got {frequency!r}")
    day = _day(_param(request, "date"), _zone_of(request))
    if day is not None and frequency != "daily":
        raise BadRequestData("date selects a day: it goes with frequency=daily only")
    level = _param(request, "level")
    reference = _param(request, "reference")
    if reference is not None and not ZONE_NAME.fullmatch(reference):
        raise BadRequestData(f"reference must be a zone name, got {reference!r}")
    mapping_id = _param(request, "zones")
    if mapping_id is not None and not _MAPPING_ID.fullmatch(mapping_id):
        raise BadRequestData(f"zones must be the id of an IndicatorZoneMapping, got {mapping_id!r}")
    tenant = await neg.require_tenant(request)
    mapping_id, mapping = await _mapping(request, tenant, mapping_id)

    entities = await _kpi_entities(request, tenant, name, frequency)
    levels = Counter(str(plain_value(attribute(e, "administrativeLevel"))) for e in entities)
    if level is None and levels:
        level = max(sorted(levels), key=lambda lv: levels[lv])
    elif level is not None and levels and level not in levels:
        raise BadRequestData(
            f"level {level!r} has no {name} indicators; the levels are " + ", ".join(sorted(levels))
        )
    entities = [
        e for e in entities if str(plain_value(attribute(e, "administrativeLevel"))) == level
    ]
    if day is not None:
        tallies = await _tallies_of_day(request, tenant, name, day)
    else:
        tallies = {e["id"]: stored_tally(e) for e in entities}
    districts = []
    periods: list[tuple[str, str]] = []
    for e in entities:
        area = plain_value(attribute(e, "refAdministrativeArea"))
        if mapping is None:
            zone = plain_value(attribute(e, "cityhubZone"))
        else:
            zone = mapping.get(str(area))
        found = tallies.get(e["id"])
        if not isinstance(zone, str) or found is None:
            continue
        tally, _ = found
        label = plain_value(attribute(e, "area"))
        districts.append(District(str(area or e["id"]), str(label or ""), zone, tally))
        period = _period_of(e) if day is None else None
        if period is not None:
            periods.append(period)
    if reference is not None and reference not in {d.zone for d in districts}:
        raise BadRequestData(
            f"reference {reference!r} is not a zone of these districts; the zones are "
            + ", ".join(sorted({d.zone for d in districts}))
        )
    report = compare(indicator, districts, reference)
    if day is not None:
        period_doc = {"from": format_datetime(day[0]), "to": format_datetime(day[1])}
    elif periods:
        latest = max(p[1] for p in periods)
        period_doc = {"from": min(p[0] for p in periods if p[1] == latest), "to": latest}
    else:
        period_doc = None
    report = {
        "frequency": frequency,
        "level": level,
        "period": period_doc,
        "zonesFrom": mapping_id or "cityhubZone",
        **report,
    }
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(csv_rows(report))
        return Response(out.getvalue(), media_type=_CSV + "; charset=utf-8")
    return neg.json_response(report)


async def _mapping(
    request: Request, tenant: str, wanted: str | None
) -> tuple[str | None, dict[str, str] | None]:
    """The zone mapping to compare by (its id and area id -> zone), None: the areas' own."""
    mapping_id = wanted
    if wanted is not None and not wanted.startswith(MAPPING_PREFIX):
        mapping_id = MAPPING_PREFIX + wanted
    query = EntityQuery(ids=(mapping_id or DEFAULT_MAPPING,), types=(MAPPING_TYPE,), limit=1)
    page = await request.app.state.store.query_entities(tenant, narrowed(request, query))
    if not page.entities:
        if mapping_id is None:
            return None, None
        raise BadRequestData(
            f"zones {wanted!r}: this tenant has no IndicatorZoneMapping {mapping_id} (create "
            "one through the entity API: docs/indicators.md)"
        )
    entity = page.entities[0]
    try:
        return str(entity["id"]), zones_of(entity)
    except BadRequestData as bad:
        raise BadRequestData(f"zones: the mapping cannot be used: {bad.detail}") from None


def _period_of(entity: dict[str, Any]) -> tuple[str, str] | None:
    period = plain_value(attribute(entity, "calculationPeriod"))
    if isinstance(period, dict) and isinstance(period.get("from"), str):
        to = period.get("to")
        if isinstance(to, str):
            return period["from"], to
    return None


def _id_pattern(name: str, frequency: str) -> str:
    return f"^urn:ngsi-ld:KeyPerformanceIndicator:{name}:{frequency}:"


async def _kpi_entities(
    request: Request, tenant: str, name: str, frequency: str
) -> list[dict[str, Any]]:
    store = request.app.state.store
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        query = EntityQuery(
            types=(KPI_TYPE,),
            id_pattern=_id_pattern(name, frequency),
            limit=_PAGE,
            offset=offset,
        )
        page = await store.query_entities(tenant, narrowed(request, query))
        out.extend(page.entities)
        if len(page.entities) < _PAGE:
            return out
        offset += _PAGE


async def _tallies_of_day(
    request: Request, tenant: str, name: str, day: tuple[datetime, datetime]
) -> dict[str, Any]:
    """Each daily entity's counts at the end of ``day`` (its last value observed in it)."""
    start, end = day
    tq = TemporalQuery(
        timerel="between",
        time_at=format_datetime(start + timedelta(seconds=1)),
        end_time_at=format_datetime(end + timedelta(seconds=1)),
        timeproperty="observedAt",
        timeproperty_given=True,
    )
    out: dict[str, Any] = {}
    offset = 0
    temporal = request.app.state.temporal
    while True:
        query = EntityQuery(
            types=(KPI_TYPE,),
            id_pattern=_id_pattern(name, "daily"),
            attrs=(KPI_VALUE,),
            limit=_PAGE,
            offset=offset,
        )
        found, _ = await temporal.query_entities(tenant, narrowed(request, query), tq)
        for head, history in found:
            instances = [i for i in history.get(KPI_VALUE, []) if "datasetId" not in i]
            if instances:
                last = max(instances, key=lambda i: str(i.get("observedAt", "")))
                out[head["id"]] = stored_tally({"attrs": {KPI_VALUE: [last]}})
        if len(found) < _PAGE:
            return out
        offset += _PAGE


KPI_VALUE = iri("kpiValue")

routes = [
    Route("/indicators", list_indicators, methods=["GET"]),
    Route("/indicators/gap", gap, methods=["GET"]),
]

__all__ = ["gap", "list_indicators", "routes"]
