"""The gap, honestly (issue 16 deliverable 4): one indicator compared between zones of districts
(DOMAIN.md 3.3: old downtown, 1990s new town, 2000s new towns, peri-urban), each zone's value
with its uncertainty, and a ranking only where the data can carry one. Pure.

- A zone's value is pooled over its *measured* districts (those with a sensor of their own;
  a district whose PM2.5 came from a neighbour's sensor repeats that sensor and is no new
  evidence): the indicator's numerator over its denominator summed across them
  (:func:`cityhub.indicators.tally.rate_of`: person-hours above a limit per person-hour
  observed, congested segment-hours per segment-hour observed...), so a district with more
  observations weighs more, and uneven coverage does not bias an exposure count.
  ``valueWithEstimates`` adds the districts a neighbour's sensor stood in for.
- Its interval is a percentile bootstrap over measured districts (districts drawn again with
  replacement, :data:`RESAMPLES` times, a fixed seed so an answer is reproducible): it shows how
  much the value depends on which districts there are, the variation the city's own districts
  show. It is not a sampling interval of the readings (hours of one sensor are correlated, so
  a binomial interval on sensor-hours would be far too narrow).
- A zone has enough data when it has at least :data:`MIN_DISTRICTS` measured districts (fewer
  give no interval: a bootstrap of one or two values only repeats them), at least
  :data:`MIN_SENSORS` sensors of its own (an estimate borrowed from a neighbour's sensor says
  nothing of the zone), and :data:`MIN_COVERAGE` of its expected sensor-hours reported (with
  less than half missing, the missing hours cannot by themselves turn the result around).
- The ranking (worse first) lists only zones with enough data, and only when two or more have
  it; each difference from the reference zone comes with its own bootstrap interval and is
  called clear only when that interval leaves out zero.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cityhub.indicators.catalogue import Indicator
from cityhub.indicators.tally import Tally, rate_of

MIN_DISTRICTS = 3
MIN_SENSORS = 3
MIN_COVERAGE = 0.5
RESAMPLES = 1000
LEVEL = 0.95
_SEED = 16
WHY = {
    "minDistricts": "fewer districts measured by their own sensors give no interval: a "
    "bootstrap of one or two values only repeats them",
    "minSensors": "a value borrowed from sensors outside the zone says nothing of the zone",
    "minCoverage": "with more than half the expected sensor-hours missing, the missing hours "
    "alone could turn the result around",
}
MEASURE = {
    "exposure": "share of observed person-hours above the limit",
    "share": "numerator / denominator, pooled",
    "per1000": "share of observed container-hours full",
    "distribution": "share of station-hours unhealthy or very unhealthy",
    "ratio": "numerator / denominator, pooled",
    "index": "travel time / free-flow travel time, pooled over the road-hours",
    "intensity": "kWh per m² and hour, pooled over the building-hours",
}


@dataclass(frozen=True)
class District:
    """One district's counts for the period compared."""

    id: str
    name: str
    zone: str
    tally: Tally


def _pair(indicator: Indicator, tally: Tally) -> tuple[float, float]:
    """(a, b) with the district's rate a / b, so that a zone's pooled rate is sum(a) / sum(b)."""
    if indicator.kind == "distribution":
        worse = tally.parts.get("unhealthy", 0.0) + tally.parts.get("veryUnhealthy", 0.0)
        return worse, tally.den
    return tally.num, tally.den


def _bootstrap(pairs: Sequence[tuple[float, float]], rng: random.Random) -> list[float]:
    out = []
    n = len(pairs)
    for _ in range(RESAMPLES):
        a = b = 0.0
        for _ in range(n):
            x, y = pairs[rng.randrange(n)]
            a += x
            b += y
        if b > 0:
            out.append(a / b)
    return sorted(out)


def _percentiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    lo = values[int((1 - LEVEL) / 2 * (len(values) - 1))]
    hi = values[int((1 + LEVEL) / 2 * (len(values) - 1))]
    return {"low": round(lo, 6), "high": round(hi, 6), "level": LEVEL}


def compare(
    indicator: Indicator, districts: Sequence[District], reference: str | None = None
) -> dict[str, Any]:
    """The comparison of ``indicator`` between the zones of ``districts`` (those without a
    zone are left out), against ``reference`` (a zone; None: the first in name order, or
    ``old-downtown`` when there is one)."""
    rng = random.Random(_SEED)
    zones: dict[str, list[District]] = {}
    for d in districts:
        zones.setdefault(d.zone, []).append(d)
    names = sorted(zones)
    if reference is None:
        reference = "old-downtown" if "old-downtown" in zones else (names[0] if names else None)
    rows: list[dict[str, Any]] = []
    samples: dict[str, list[float]] = {}
    for zone in names:
        members = zones[zone]
        with_data = [d for d in members if d.tally.den > 0]
        # districts whose value is (at least partly) their own sensors': those a neighbour's
        # sensor stands in for repeat that sensor and are not new evidence
        measured = [d for d in with_data if d.tally.estimated < d.tally.den]
        total = Tally()
        for d in members:
            total.add(d.tally, same_period=True)
        own = Tally()
        for d in measured:
            own.add(d.tally, same_period=True)
        coverage = total.coverage()
        reasons = []
        if len(measured) < MIN_DISTRICTS:
            reasons.append("minDistricts")
        if total.sensors < MIN_SENSORS:
            reasons.append("minSensors")
        if coverage is None or coverage < MIN_COVERAGE:
            reasons.append("minCoverage")
        pairs = [_pair(indicator, d.tally) for d in measured]
        boot = _bootstrap(pairs, rng) if len(measured) >= MIN_DISTRICTS else []
        samples[zone] = boot
        value = rate_of(indicator, own)
        with_estimates = rate_of(indicator, total)
        rows.append(
            {
                "zone": zone,
                "value": _round(value),
                "valueWithEstimates": _round(with_estimates),
                "interval": _percentiles(boot),
                "districts": len(members),
                "districtsWithData": len(with_data),
                "districtsMeasured": len(measured),
                "sensors": total.sensors,
                "sensorHoursExpected": total.expected,
                "sensorHoursReported": total.reporting,
                "coverage": None if coverage is None else round(coverage, 6),
                "badReadings": total.bad,
                "estimatedShare": None if total.den <= 0 else round(total.estimated / total.den, 6),
                "numerator": total.num,
                "denominator": total.den,
                "enoughData": not reasons,
                "notEnough": [{"threshold": r, "why": WHY[r]} for r in reasons],
                "districtValues": [
                    {"id": d.id, "name": d.name, "value": _round(rate_of(indicator, d.tally))}
                    for d in sorted(members, key=lambda d: d.name)
                ],
            }
        )
    ok = [r for r in rows if r["enoughData"] and r["value"] is not None]
    ranking = None
    withheld = None
    if indicator.higher_is_worse is None:
        withheld = "this indicator has no better or worse direction"
    elif len(ok) < 2:
        withheld = "fewer than two zones have enough data to be ranked"
    else:
        ordered = sorted(ok, key=lambda r: r["value"], reverse=indicator.higher_is_worse)
        ranking = [r["zone"] for r in ordered]
    differences = []
    ref_row = next((r for r in rows if r["zone"] == reference), None)
    for row in rows:
        if ref_row is None or row is ref_row:
            continue
        diff = None
        if row["value"] is not None and ref_row["value"] is not None:
            diff = round(row["value"] - ref_row["value"], 6)
        a, b = samples.get(row["zone"], []), samples.get(reference or "", [])
        interval = None
        if a and b:
            diffs = sorted(
                x - y for x, y in zip(_shuffled(a, rng), _shuffled(b, rng), strict=False)
            )
            interval = _percentiles(diffs)
        clear = interval is not None and (interval["low"] > 0 or interval["high"] < 0)
        differences.append(
            {
                "zone": row["zone"],
                "minusReference": diff,
                "interval": interval,
                "clear": clear and row["enoughData"] and ref_row["enoughData"],
            }
        )
    return {
        "indicator": indicator.name,
        "title": indicator.title,
        "measure": MEASURE[indicator.kind],
        "higherIsWorse": indicator.higher_is_worse,
        "reference": reference if ref_row is not None else None,
        "zones": rows,
        "ranking": ranking,
        "rankingWithheld": withheld,
        "differences": differences,
        "thresholds": {
            "minDistricts": MIN_DISTRICTS,
            "minSensors": MIN_SENSORS,
            "minCoverage": MIN_COVERAGE,
            "why": WHY,
        },
        "interval": f"{LEVEL:.0%} percentile bootstrap over the zone's districts "
        f"({RESAMPLES} resamples, seed {_SEED})",
    }


def _shuffled(values: Sequence[float], rng: random.Random) -> list[float]:
    out = list(values)
    rng.shuffle(out)
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


CSV_COLUMNS = (
    "indicator",
    "frequency",
    "level",
    "periodFrom",
    "periodTo",
    "zone",
    "value",
    "intervalLow",
    "intervalHigh",
    "rank",
    "enoughData",
    "notEnough",
    "districts",
    "districtsWithData",
    "sensors",
    "coverage",
    "badReadings",
    "minusReference",
    "differenceClear",
)


def csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The report as CSV rows (after a header of :data:`CSV_COLUMNS`): one per zone."""
    ranking = report.get("ranking") or []
    diffs = {d["zone"]: d for d in report.get("differences", [])}
    period = report.get("period") or {}
    out = []
    for row in report["zones"]:
        interval = row["interval"] or {}
        diff = diffs.get(row["zone"], {})
        out.append(
            [
                report["indicator"],
                report.get("frequency", ""),
                report.get("level", ""),
                period.get("from", ""),
                period.get("to", ""),
                row["zone"],
                row["value"],
                interval.get("low"),
                interval.get("high"),
                ranking.index(row["zone"]) + 1 if row["zone"] in ranking else "",
                row["enoughData"],
                " ".join(r["threshold"] for r in row["notEnough"]),
                row["districts"],
                row["districtsWithData"],
                row["sensors"],
                row["coverage"],
                row["badReadings"],
                diff.get("minusReference"),
                diff.get("clear"),
            ]
        )
    return out


__all__ = [
    "CSV_COLUMNS",
    "MIN_COVERAGE",
    "MIN_DISTRICTS",
    "MIN_SENSORS",
    "District",
    "compare",
    "csv_rows",
]
