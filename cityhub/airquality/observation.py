"""From an ``AirQualityObserved`` entity to the CAI's inputs, and from the CAI back to attributes.

Works on the store's internal entity form (``cityhub.ngsild.entity``: expanded IRIs, attribute
instances), for any provider: an entity is an air-quality observation when one of its types is
named ``AirQualityObserved`` in any vocabulary (Smart Data Models' or the default context), and
its pollutants are the attributes named as in Smart Data Models (``pm10``, ``pm25``, ``no2``,
``o3``, ``co``, ``so2``) in the namespace of that type. The attributes written back go to the same
namespace, so a client that reads the entity with the context it wrote it with sees them by
their short names (``airQualityIndex``, ``airQualityLevel``, ...).

Units (DOMAIN.md §1.1): the CAI takes ppm for gases and µg/m³ for PM. A gas in µg/m³ (``GQ``) or
mg/m³ (``GP``) is converted at 25 °C and 1 atm; a value without ``unitCode`` is taken to be in the
CAI's unit; any other unit is not guessed at and is reported instead (``hours.usable_value``).

Bad data (not a number, negative, beyond what the air can hold, an unknown unit) in the
observation's current readings gives no index: the status says which reading and why, and the
sub-indices of what could be used are still written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cityhub.airquality.advice import health_advice
from cityhub.airquality.cai import (
    GRADE_NAMES_KO,
    POLLUTANTS,
    CaiResult,
    MultiPollutantRule,
    comprehensive_index,
)
from cityhub.airquality.hours import has_any, usable_value
from cityhub.airquality.moving_average import PredictedAverage, predicted_24h_average
from cityhub.airquality.who import WhoComparison, who_comparison

TYPE_NAME = "AirQualityObserved"
PM = ("pm10", "pm25")
#: the attributes this service writes (short names; IRIs in the type's namespace)
DERIVED = (
    "airQualityIndex",
    "airQualityLevel",
    "airQualityIndexStatus",
    "caiSubIndex",
    "whoGuideline",
    "healthAdvice",
)
ADVICE_DATASET = "urn:ngsi-ld:Dataset:healthAdvice:"


def split_iri(iri: str) -> tuple[str, str]:
    """(namespace, local name): the namespace ends with its last ``/``, ``#`` or ``:``."""
    cut = max(iri.rfind("/"), iri.rfind("#"), iri.rfind(":"))
    return iri[: cut + 1], iri[cut + 1 :]


def observation_namespace(entity: Mapping[str, Any]) -> str | None:
    """The namespace of the entity's ``AirQualityObserved`` type, None when it is not one."""
    for type_iri in entity.get("type", ()):
        namespace, name = split_iri(type_iri)
        if name == TYPE_NAME:
            return namespace
    return None


@dataclass(frozen=True)
class Reading:
    """One pollutant's current value in the CAI's unit."""

    pollutant: str
    value: float
    observed_at: str | None


@dataclass
class Readings:
    """What an observation holds for the CAI, and what it holds that cannot be used."""

    values: dict[str, Reading] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # pollutant -> why it was left out


def readings(entity: Mapping[str, Any], namespace: str) -> Readings:
    """The pollutant values of an observation (the instance without ``datasetId``)."""
    out = Readings()
    attrs = entity.get("attrs", {})
    for pollutant in POLLUTANTS:
        instances = attrs.get(namespace + pollutant)
        if not instances:
            continue
        default = next((i for i in instances if "datasetId" not in i), None)
        if default is None or default.get("type") != "Property":
            continue
        value, problem = usable_value(pollutant, default)
        if value is None:
            out.problems[pollutant] = problem or f"{pollutant} cannot be used"
            continue
        out.values[pollutant] = Reading(pollutant, value, default.get("observedAt"))
    return out


def _property(value: Any, observed_at: str | None, **sub: Any) -> dict[str, Any]:
    instance: dict[str, Any] = {"type": "Property", "value": value}
    if observed_at is not None:
        instance["observedAt"] = observed_at
    instance.update(sub)
    return instance


def derived_attributes(
    namespace: str,
    result: CaiResult,
    pm_averages: Mapping[str, PredictedAverage],
    who: list[WhoComparison],
    observed_at: str | None,
    problems: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The attributes to write back (internal form, IRIs in ``namespace``).

    ``airQualityIndex``/``airQualityLevel`` are left out when there is no index; then
    ``airQualityIndexStatus`` says why (missing pollutants, too few hours of PM, bad values)
    in its ``statusReason`` (not ``reason``: the core @context takes that term, so it would
    not read back by its short name).
    The caller removes an earlier index the new one does not replace.
    """
    ns = namespace
    attrs: dict[str, list[dict[str, Any]]] = {}
    reasons = [r for r in (result.reason,) if r]
    reasons += [avg.reason for avg in pm_averages.values() if avg.reason]
    reasons += list((problems or {}).values())
    if result.index is not None and result.grade is not None:
        attrs[ns + "airQualityIndex"] = [
            _property(
                result.index,
                observed_at,
                **{
                    ns + "governingPollutant": _property(result.governing, None),
                    ns + "multiPollutantAddition": _property(result.addition, None),
                },
            )
        ]
        attrs[ns + "airQualityLevel"] = [
            _property(
                result.grade,
                observed_at,
                **{
                    ns + "levelName": {
                        "type": "LanguageProperty",
                        "languageMap": {"ko": GRADE_NAMES_KO[result.grade], "en": result.grade},
                    }
                },
            )
        ]
        governing = result.sub_indices[result.governing] if result.governing else None
        for advice in health_advice(
            result.grade, result.governing, governing.index if governing else None
        ):
            attrs.setdefault(ns + "healthAdvice", []).append(
                {
                    "type": "LanguageProperty",
                    "languageMap": dict(advice.text),
                    "datasetId": ADVICE_DATASET + advice.group,
                    **({"observedAt": observed_at} if observed_at else {}),
                }
            )
    status = "computed" if result.index is not None else "notComputed"
    attrs[ns + "airQualityIndexStatus"] = [
        _property(
            status,
            observed_at,
            **({ns + "statusReason": _property("; ".join(reasons), None)} if reasons else {}),
        )
    ]
    attrs[ns + "caiSubIndex"] = [
        _property(
            {
                p: {
                    "index": s.index,
                    "grade": s.grade,
                    "concentration": s.concentration,
                    **({"beyondScale": True} if s.beyond_scale else {}),
                }
                for p, s in result.sub_indices.items()
            },
            observed_at,
        )
    ]
    if who:
        attrs[ns + "whoGuideline"] = [
            _property(
                {
                    c.pollutant: {
                        "value": round(c.value, 3),
                        "guideline": c.guideline,
                        "unit": c.unit,
                        "ratio": round(c.ratio, 3),
                        "exceeds": c.exceeds,
                        "guidelineAveraging": c.guideline_averaging,
                        "valueAveraging": c.value_averaging,
                    }
                    for c in who
                },
                observed_at,
            )
        ]
    return attrs


def assess_observation(
    entity: Mapping[str, Any],
    pm_hourly: Mapping[str, Sequence[float | None]],
    rule: MultiPollutantRule | None = None,
) -> dict[str, list[dict[str, Any]]] | None:
    """The attributes to write back to one observation, None when it is not one.

    Args:
        entity: the observation, internal form.
        pm_hourly: for ``pm10`` and ``pm25``, the 12 hourly means ending at the observation's
            hour (``moving_average.hourly_means`` over its history, this value included).
        rule: the multi-pollutant addition.
    """
    namespace = observation_namespace(entity)
    if namespace is None:
        return None
    found = readings(entity, namespace)
    hourly: dict[str, Sequence[float | None]] = {
        p: pm_hourly.get(p, ()) for p in PM if p in found.values or p in found.problems
    }
    hourly.update({p: [r.value] for p, r in found.values.items() if p not in PM})
    times = sorted(r.observed_at for r in found.values.values() if r.observed_at)
    return assess_hours(entity, hourly, times[-1] if times else None, rule)


def assess_hours(
    entity: Mapping[str, Any],
    hourly: Mapping[str, Sequence[float | None]],
    observed_at: str | None,
    rule: MultiPollutantRule | None = None,
) -> dict[str, list[dict[str, Any]]] | None:
    """The attributes to write back for the hour the CAI is for, None when the entity is not
    an observation.

    Args:
        entity: the observation as it is now (its current readings decide what is bad data).
        hourly: per pollutant, the 12 hourly means ending with the hour computed, oldest first
            (``hours.hourly_window``): PM takes the 24-hour predicted average of them, a gas
            the mean of the last hour (no reading in that hour: not measured).
        observed_at: the time the written attributes carry (the hour computed).
        rule: the multi-pollutant addition.
    """
    namespace = observation_namespace(entity)
    if namespace is None:
        return None
    found = readings(entity, namespace)
    inputs: dict[str, float | None] = {}
    averages: dict[str, PredictedAverage] = {}
    who: list[WhoComparison] = []
    for pollutant in POLLUTANTS:
        hours = list(hourly.get(pollutant, ()))
        if pollutant in PM:
            if not has_any(hours) and pollutant not in found.problems:
                continue
            average = predicted_24h_average(pollutant, hours)
            averages[pollutant] = average
            inputs[pollutant] = average.value
            if average.value is not None:
                who.append(who_comparison(pollutant, average.value, "24h"))
        elif hours and hours[-1] is not None:
            inputs[pollutant] = hours[-1]
            who.append(who_comparison(pollutant, hours[-1], "1h"))
    result = comprehensive_index(inputs, rule)
    if found.problems and result.index is not None:  # bad data now: no index
        result = CaiResult(None, None, result.governing, result.sub_indices, result.addition)
    return derived_attributes(namespace, result, averages, who, observed_at, found.problems)


__all__ = [
    "ADVICE_DATASET",
    "PM",
    "assess_hours",
    "assess_observation",
    "DERIVED",
    "TYPE_NAME",
    "Reading",
    "Readings",
    "derived_attributes",
    "observation_namespace",
    "readings",
    "split_iri",
]
