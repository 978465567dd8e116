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
CAI's unit; any other unit is not guessed at and is reported instead.
"""

from __future__ import annotations

import math
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
from cityhub.airquality.moving_average import PredictedAverage, predicted_24h_average
from cityhub.airquality.who import WhoComparison, who_comparison

TYPE_NAME = "AirQualityObserved"
#: µg/m³ per ppm at 25 °C (DOMAIN.md §1.1); CO is also given in mg/m³ per ppm
_UG_PER_PPM = {"o3": 1963.0, "no2": 1882.0, "so2": 2620.0, "co": 1145.0}
_GASES = frozenset(_UG_PER_PPM)
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


def _to_cai_unit(pollutant: str, value: float, unit_code: str | None) -> float | None:
    if unit_code is None:
        return value
    if pollutant in _GASES:
        if unit_code == "59":  # ppm
            return value
        if unit_code == "GQ":  # µg/m³
            return value / _UG_PER_PPM[pollutant]
        if unit_code == "GP":  # mg/m³
            return value * 1000.0 / _UG_PER_PPM[pollutant]
        if unit_code == "61":  # ppb
            return value / 1000.0
        return None
    return value if unit_code == "GQ" else None


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
        raw = default.get("value")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            out.problems[pollutant] = f"{pollutant} is {raw!r}, not a number"
            continue
        if not math.isfinite(raw) or raw < 0:
            out.problems[pollutant] = f"{pollutant} is {raw!r}, not a concentration"
            continue
        unit = default.get("unitCode")
        value = _to_cai_unit(pollutant, float(raw), unit)
        if value is None:
            out.problems[pollutant] = (
                f"{pollutant} has unitCode {unit!r}, which cityhub does not convert"
            )
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
    ``airQualityIndexStatus`` says why (missing pollutants, too few hours of PM, bad values).
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
            **({ns + "reason": _property("; ".join(reasons), None)} if reasons else {}),
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
    inputs: dict[str, float | None] = {}
    averages: dict[str, PredictedAverage] = {}
    who: list[WhoComparison] = []
    for pollutant, reading in found.values.items():
        if pollutant in ("pm10", "pm25"):
            average = predicted_24h_average(pollutant, pm_hourly.get(pollutant, ()))
            averages[pollutant] = average
            inputs[pollutant] = average.value
            if average.value is not None:
                who.append(who_comparison(pollutant, average.value, "24h"))
        else:
            inputs[pollutant] = reading.value
            who.append(who_comparison(pollutant, reading.value, "1h"))
    result = comprehensive_index(inputs, rule)
    times = sorted(r.observed_at for r in found.values.values() if r.observed_at)
    observed_at = times[-1] if times else None
    return derived_attributes(namespace, result, averages, who, observed_at, found.problems)


__all__ = [
    "ADVICE_DATASET",
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
