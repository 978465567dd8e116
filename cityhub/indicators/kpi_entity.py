"""Indicators as Smart Data Models ``KeyPerformanceIndicator`` entities (dataModel.
KeyPerformanceIndicator 0.2.1, DOMAIN.md section 2.2), in the store's internal form. Pure.

One entity per (district, indicator, frequency), whose value evolves (the model's "unique
entity per KPI which value evolves along time"): its history is the series, so the temporal API,
subscriptions and open data serve it like any other entity. ``kpiValue`` is observed at the end
of its period (an hourly value at 10:00 is the hour 09:00-10:00; a daily value, written once the
city's day has ended, at its midnight).

Beside the model's ``kpiValue``, ``calculationFrequency``, ``calculationPeriod``,
``calculationFormula``, ``aggregatedData``, ``area`` and ``name`` (and ``kpiUnit``), each
value carries what makes it honest (DOMAIN.md 6.2: "each value with its denominator and
coverage") as sub-properties of ``kpiValue``, so one history instance holds
them together: ``numerator``, ``denominator``, ``population`` (and ``populationSource``),
``dataCoverage`` (sensor-hours reported / expected), ``sensors``, ``sensorHoursExpected``,
``sensorHoursReported``, ``badReadings``, ``estimatedShare`` (of the population whose PM2.5
came from a sensor outside the district), ``hoursIncluded``, ``counts`` (per class). The entity
also has ``refAdministrativeArea``, ``administrativeLevel``, ``cityhubZone`` and ``indicator``
to select it by (``q=indicator=="pm25ExposureWho";calculationFrequency=="daily"``), and
``location`` (a point of its area).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cityhub.indicators.areas import Area
from cityhub.indicators.catalogue import Indicator
from cityhub.indicators.names import iri, plain_value
from cityhub.indicators.tally import Tally, value_of
from cityhub.ngsild.datetime import format_datetime

Entity = dict[str, Any]
KPI_TYPE = iri("KeyPerformanceIndicator")
_AREA_PREFIX = "urn:ngsi-ld:AdministrativeArea:"
_STAMPS = ("createdAt", "modifiedAt")
#: ``kpiValue`` when the period gave no data for it (its sub-properties say what was expected)
NO_DATA = "noData"


def kpi_id(area_id: str, indicator: str, frequency: str) -> str:
    """``urn:ngsi-ld:KeyPerformanceIndicator:<indicator>:<frequency>:<area>`` (the area's id
    after ``urn:ngsi-ld:AdministrativeArea:``, else a digest of it)."""
    if area_id.startswith(_AREA_PREFIX) and len(area_id) < 200:
        suffix = area_id[len(_AREA_PREFIX) :]
    else:
        suffix = hashlib.sha256(area_id.encode()).hexdigest()[:32]
    return f"urn:ngsi-ld:KeyPerformanceIndicator:{indicator}:{frequency}:{suffix}"


def _prop(value: Any, observed: str | None = None) -> dict[str, Any]:
    inst: dict[str, Any] = {"type": "Property", "value": value}
    if observed is not None:
        inst["observedAt"] = observed
    return inst


def _names(*names: str) -> dict[str, str]:
    return {n: iri(n) for n in names}


_IRI = _names(
    "name",
    "indicator",
    "calculationFrequency",
    "calculationFormula",
    "aggregatedData",
    "area",
    "refAdministrativeArea",
    "administrativeLevel",
    "cityhubZone",
    "kpiValue",
    "kpiUnit",
    "calculationPeriod",
    "location",
    "numerator",
    "denominator",
    "population",
    "populationSource",
    "dataCoverage",
    "sensors",
    "sensorHoursExpected",
    "sensorHoursReported",
    "badReadings",
    "estimatedShare",
    "hoursIncluded",
    "counts",
)


def static_attributes(area: Area, indicator: Indicator, frequency: str) -> dict[str, Any]:
    """What an entity says that does not change from one period to the next."""
    names = {
        lang: f"{area.name.get(lang) or area.name.get('') or area.id} {indicator.title[lang]}"
        for lang in ("ko", "en")
    }
    attrs: dict[str, dict[str, Any]] = {
        "name": {"type": "LanguageProperty", "languageMap": names},
        "indicator": _prop(indicator.name),
        "calculationFrequency": _prop(frequency),
        "calculationFormula": _prop(indicator.formula),
        "aggregatedData": _prop(
            [{"entityType": t, "attrs": list(a)} for t, a in indicator.entity_types]
        ),
        "area": _prop(area.name.get("en") or area.name.get("") or area.name.get("ko") or area.id),
        "refAdministrativeArea": {"type": "Relationship", "object": area.id},
        "administrativeLevel": _prop(area.level or "area"),
        "kpiUnit": _prop(indicator.unit),
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [round(c, 6) for c in area.centre]},
        },
    }
    if area.zone is not None:
        attrs["cityhubZone"] = _prop(area.zone)
    return {_IRI[k]: v for k, v in attrs.items()}


def attributes(
    static: dict[str, Any],
    indicator: Indicator,
    tally: Tally,
    start: datetime,
    end: datetime,
    population_source: str,
) -> dict[str, dict[str, Any]]:
    """The entity's attributes (one instance each, unstamped) for ``tally`` over [start,
    end): ``static`` (:func:`static_attributes`) and the value with what it rests on."""
    observed = format_datetime(end)
    value = value_of(indicator, tally)
    coverage = tally.coverage()
    counts = {
        "numerator": tally.num,
        "denominator": tally.den,
        "population": tally.weight,
        "populationSource": population_source,
        "dataCoverage": None if coverage is None else round(coverage, 6),
        "sensors": tally.sensors,
        "sensorHoursExpected": tally.expected,
        "sensorHoursReported": tally.reporting,
        "badReadings": tally.bad,
        "estimatedShare": None if tally.den <= 0 else round(tally.estimated / tally.den, 6),
        "hoursIncluded": tally.hours,
        "counts": dict(sorted(tally.parts.items())) or None,
    }
    # what the value rests on, as its sub-properties: one history instance per period holds
    # the value with its denominator and coverage (and the temporal API returns them together)
    kpi_value = _prop(NO_DATA if value is None else value, observed)
    for name, member in counts.items():
        if member is not None:
            kpi_value[_IRI[name]] = {"type": "Property", "value": member}
    return {
        **static,
        _IRI["kpiValue"]: kpi_value,
        _IRI["calculationPeriod"]: _prop({"from": format_datetime(start), "to": observed}),
    }


def _has_value(inst: Mapping[str, Any]) -> bool:
    # NGSI-LD has no null values: an attribute without one is left out
    return inst.get("type") != "Property" or inst.get("value") is not None


def _unstamped(inst: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inst.items() if k not in _STAMPS}


def updated_entity(
    entity_id: str, before: Entity | None, attrs: Mapping[str, dict[str, Any]], now: str
) -> Entity:
    """The entity with ``attrs`` as its attributes: an attribute whose instance is what it was
    keeps its instance (and records no history), the others are stamped ``now``."""
    old = (before or {}).get("attrs", {})
    out: dict[str, list[dict[str, Any]]] = {}
    for name, inst in attrs.items():
        previous = (old.get(name) or [None])[0]
        if previous is not None and _unstamped(previous) == inst:
            out[name] = [previous]
            continue
        created = previous.get("createdAt", now) if previous is not None else now
        out[name] = [{**inst, "createdAt": created, "modifiedAt": now}]
    return {
        "id": entity_id,
        "type": [KPI_TYPE],
        "createdAt": (before or {}).get("createdAt", now),
        "modifiedAt": now,
        "attrs": out,
    }


def stored_tally(entity: Mapping[str, Any] | None) -> tuple[Tally, str | None] | None:
    """A daily entity's counts and the start of its period (None: none stored, or a client
    changed them into something else)."""
    if entity is None:
        return None
    attrs = entity.get("attrs", {})
    kpi = (attrs.get(_IRI["kpiValue"]) or [{}])[0]

    def value(name: str) -> Any:
        return plain_value(kpi.get(_IRI[name]))

    period = plain_value((attrs.get(_IRI["calculationPeriod"]) or [None])[0])
    start = period.get("from") if isinstance(period, dict) else None
    tally = Tally.from_doc(
        {
            "num": value("numerator"),
            "den": value("denominator"),
            "expected": value("sensorHoursExpected"),
            "reporting": value("sensorHoursReported"),
            "bad": value("badReadings"),
            "weight": value("population"),
            "estimated": (value("estimatedShare") or 0) * (value("denominator") or 0),
            "hours": value("hoursIncluded"),
            "parts": value("counts") or {},
            "sensors": value("sensors"),
        }
    )
    if tally is None:
        return None
    return tally, start if isinstance(start, str) else None


__all__ = [
    "KPI_TYPE",
    "NO_DATA",
    "attributes",
    "kpi_id",
    "static_attributes",
    "stored_tally",
    "updated_entity",
]
