"""Held-out check of the CAI (issue 16, "Checked by: an independent CAI computation compared
with the hub's on random series"): the Korean CAI written here again from DOMAIN.md §1.1 alone
(the breakpoint table, the sub-index formula, the 24-hour predicted moving average, the
multi-pollutant addition), in exact rational arithmetic, importing nothing of
``cityhub.airquality``, and compared with what the hub writes back, read through the public
API, for seeded random stations on every backend.

Where §1.1 is silent this follows the decisions cityhub documents (``cityhub/airquality/cai.py``
and ``moving_average.py`` docstrings), written again here rather than imported: a
concentration is truncated to the table's decimals before its band is looked up (PM whole
µg/m³, CO 2 places, the other gases 3); a sub-index is rounded half up; above the top
breakpoint it is 500; the addition is +50 for two and +75 for three or more pollutants at
"unhealthy" or worse, capped at 500; the PM average needs 9 of the 12 hours and 3 of the last 4.

The series are built to land on breakpoint edges: gases at a band's first and last value and
one step beyond, PM hourly values whose predicted average falls on an edge, series that set off
the damping of the last four hours (values at or over M within 0.9-1.7 of the 12-hour mean) and
series that just miss it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_client

API = "/ngsi-ld/v1"
START = datetime(2026, 10, 1, tzinfo=UTC)

# ---- the independent computation (DOMAIN.md §1.1) ------------------------------------------

#: pollutant -> (decimals of the table, the four bands BP_LO-BP_HI, good to very unhealthy)
TABLE: dict[str, tuple[int, list[tuple[str, str]]]] = {
    "so2": (3, [("0", "0.020"), ("0.021", "0.050"), ("0.051", "0.150"), ("0.151", "1.0")]),
    "co": (2, [("0", "2.00"), ("2.01", "9.00"), ("9.01", "15.00"), ("15.01", "50")]),
    "o3": (3, [("0", "0.030"), ("0.031", "0.090"), ("0.091", "0.150"), ("0.151", "0.600")]),
    "no2": (3, [("0", "0.030"), ("0.031", "0.060"), ("0.061", "0.200"), ("0.201", "2.0")]),
    "pm10": (0, [("0", "30"), ("31", "80"), ("81", "150"), ("151", "600")]),
    "pm25": (0, [("0", "15"), ("16", "35"), ("36", "75"), ("76", "500")]),
}
INDEX = [(0, 50), (51, 100), (101, 250), (251, 500)]
GRADE = ["good", "moderate", "unhealthy", "veryUnhealthy"]
M = {"pm10": Fraction(70), "pm25": Fraction(30)}


def truncate(c: Fraction, places: int) -> Fraction:
    scale = 10**places
    return Fraction((c * scale).numerator // (c * scale).denominator, scale)


def sub_index(pollutant: str, c: Fraction) -> int:
    places, bands = TABLE[pollutant]
    c = truncate(c, places)
    for (lo_text, hi_text), (i_lo, i_hi) in zip(bands, INDEX, strict=True):
        lo, hi = Fraction(lo_text), Fraction(hi_text)
        if lo <= c <= hi:
            value = Fraction(i_hi - i_lo) / (hi - lo) * (c - lo) + i_lo
            return int(value + Fraction(1, 2))  # half up (value >= 0)
    return 500


def grade(index: int) -> str:
    return next(GRADE[n] for n, (lo, hi) in enumerate(INDEX) if lo <= index <= hi)


def predicted(pollutant: str, hours: list[int | None]) -> Fraction | None:
    """C24E = (C12 * 12 + C4 * 12) / 24 over the 12 hours (oldest first, None: missing)."""
    valid = [Fraction(v) for v in hours if v is not None]
    recent = [Fraction(v) for v in hours[-4:] if v is not None]
    if len(valid) < 9 or len(recent) < 3:
        return None
    c12 = sum(valid) / len(valid)
    ca = [
        Fraction(3, 4) * c
        if c >= M[pollutant] and Fraction(9, 10) <= c / c12 <= Fraction(17, 10)
        else c
        for c in recent
    ]
    c4 = sum(ca) / len(ca)
    return (c12 * 12 + c4 * 12) / 24


def expected(station: dict[str, Any]) -> dict[str, Any]:
    """The CAI of a station's last hour: index (None: not computed), grade, sub-indices."""
    subs: dict[str, int] = {}
    for pm in ("pm10", "pm25"):
        average = predicted(pm, station[pm])
        if average is not None:
            subs[pm] = sub_index(pm, average)
    for gas in ("o3", "no2", "co", "so2"):
        if gas in station:
            subs[gas] = sub_index(gas, Fraction(station[gas]))
    if not {"pm10", "pm25", "no2", "o3"} <= subs.keys():
        return {"index": None, "subs": subs}
    bad = sum(1 for s in subs.values() if s >= 101)
    index = max(subs.values()) + (75 if bad >= 3 else 50 if bad == 2 else 0)
    index = min(index, 500)
    return {"index": index, "grade": grade(index), "subs": subs}


# ---- random stations, aimed at the edges -------------------------------------------------------


def _gas_value(rng: random.Random, gas: str) -> str:
    places, bands = TABLE[gas]
    step = Fraction(1, 10**places)
    lo, hi = (Fraction(x) for x in rng.choice(bands))
    pick = rng.choice(["lo", "hi", "beyond", "inside", "top"])
    value = {
        "lo": lo,
        "hi": hi,
        "beyond": hi + step,
        "inside": lo + (hi - lo) * Fraction(rng.randrange(1, 100), 100),
        "top": Fraction(TABLE[gas][1][-1][1]) + step * rng.randrange(0, 3),
    }[pick]
    return f"{float(truncate(value, places)):.{places}f}"


def _pm_hours(rng: random.Random, pm: str) -> list[int | None]:
    edges = [int(Fraction(x)) for band in TABLE[pm][1] for x in band]
    shape = rng.choice(["steady-edge", "random", "damped", "missing", "too-few"])
    if shape == "steady-edge":  # the average lands on an edge (or one over it)
        level = rng.choice(edges) + rng.choice([0, 1])
        hours: list[int | None] = [level] * 12
    elif shape == "damped":  # the last four at or over M, near the 12-hour mean
        base = int(M[pm]) + rng.randrange(0, 60)
        hours = [base + rng.randrange(-5, 6) for _ in range(12)]
    else:
        top = 700 if pm == "pm10" else 550
        hours = [rng.randrange(0, rng.choice([40, 120, top])) for _ in range(12)]
    if shape == "missing":
        for n in rng.sample(range(8), rng.randrange(1, 4)):
            hours[n] = None
    if shape == "too-few":
        for n in rng.sample(range(12), 5):
            hours[n] = None
    return hours


def random_station(rng: random.Random) -> dict[str, Any]:
    station: dict[str, Any] = {pm: _pm_hours(rng, pm) for pm in ("pm10", "pm25")}
    for gas in ("o3", "no2"):
        station[gas] = _gas_value(rng, gas)
    for gas in ("co", "so2"):
        if rng.random() < 0.6:
            station[gas] = _gas_value(rng, gas)
    return station


def _at(hour: int) -> str:
    return (START + timedelta(hours=hour, minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def temporal_body(eid: str, station: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": eid, "type": "AirQualityObserved"}
    for pm in ("pm10", "pm25"):
        body[pm] = [
            {"type": "Property", "value": v, "unitCode": "GQ", "observedAt": _at(h)}
            for h, v in enumerate(station[pm])
            if v is not None
        ]
    for gas in ("o3", "no2", "co", "so2"):
        if gas in station:  # the last hour's reading (a gas takes its 1-hour value)
            value = float(station[gas])
            body[gas] = [
                {"type": "Property", "value": value, "unitCode": "59", "observedAt": _at(11)}
            ]
    return body


@pytest.fixture
def aq(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(tmp_path, store_url, airquality_service=True, alerts_service=False) as c:
        yield c


def test_the_hubs_cai_matches_an_independent_computation(aq: TestClient) -> None:
    rng = random.Random(20261207)
    stations = {
        f"urn:ngsi-ld:AirQualityObserved:heldout:{n}": random_station(rng) for n in range(60)
    }
    for eid, station in stations.items():
        r = aq.post(API + "/temporal/entities", json=temporal_body(eid, station))
        assert r.status_code == 201, r.text
    aq.portal.call(aq.app.state.services.settle)  # type: ignore[attr-defined,union-attr]
    mismatches = []
    computed = 0
    for eid, station in stations.items():
        want = expected(station)
        body = aq.get(f"{API}/entities/{eid}", params={"options": "keyValues"}).json()
        got_subs = {p: s["index"] for p, s in (body.get("caiSubIndex") or {}).items()}
        got = {"index": body.get("airQualityIndex"), "subs": got_subs}
        if want["index"] is not None:
            computed += 1
            got["grade"] = body.get("airQualityLevel")
            assert body["airQualityIndexStatus"] == "computed", (eid, body)
        else:
            assert body["airQualityIndexStatus"] == "notComputed", (eid, body)
        if got != want:
            mismatches.append((eid, station, want, got))
    assert not mismatches, mismatches[:3]
    assert computed >= 30  # most stations have an index: the comparison is not vacuous
