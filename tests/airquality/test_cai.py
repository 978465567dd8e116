"""The Korean CAI (DOMAIN.md §1.1): every breakpoint edge of every pollutant, the gaps between
bands, the top of the scale, the multi-pollutant addition and the inputs AirKorea requires."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from cityhub.airquality.cai import (
    INDEX_BANDS,
    SCALES,
    MultiPollutantRule,
    OutOfRange,
    comprehensive_index,
    grade_of,
    sub_index,
)

EDGES = [
    (p, band, lo, hi, i_lo, i_hi)
    for p, scale in SCALES.items()
    for band, ((lo, hi), (i_lo, i_hi)) in enumerate(zip(scale.bands, INDEX_BANDS, strict=True))
]


@pytest.mark.parametrize(("pollutant", "band", "lo", "hi", "i_lo", "i_hi"), EDGES)
def test_each_band_edge_maps_to_its_index_edge(
    pollutant: str, band: int, lo: Decimal, hi: Decimal, i_lo: int, i_hi: int
) -> None:
    assert sub_index(pollutant, float(lo)).index == i_lo
    assert sub_index(pollutant, float(hi)).index == i_hi
    assert sub_index(pollutant, float(lo)).grade == grade_of(i_lo)
    assert sub_index(pollutant, float(hi)).grade == grade_of(i_hi)


@pytest.mark.parametrize(("pollutant", "band", "lo", "hi", "i_lo", "i_hi"), EDGES[:-1])
def test_a_value_between_two_bands_belongs_to_the_lower_one(
    pollutant: str, band: int, lo: Decimal, hi: Decimal, i_lo: int, i_hi: int
) -> None:
    """The table leaves gaps (PM2.5 15 | 16): the value is truncated to the table's decimals."""
    step = Decimal(1).scaleb(-SCALES[pollutant].places)
    if band == 3:
        return
    between = float(hi + step * Decimal("0.9"))
    assert sub_index(pollutant, between).index == i_hi


@pytest.mark.parametrize("pollutant", list(SCALES))
def test_above_the_top_breakpoint_is_500_and_says_so(pollutant: str) -> None:
    top = SCALES[pollutant].bands[-1][1]
    at_top = sub_index(pollutant, float(top))
    assert (at_top.index, at_top.beyond_scale) == (500, False)
    beyond = sub_index(pollutant, float(top) * 2)
    assert (beyond.index, beyond.grade, beyond.beyond_scale) == (500, "veryUnhealthy", True)


def test_interpolation_inside_a_band() -> None:
    # PM2.5 25 ug/m3: (100 - 51) / (35 - 16) * (25 - 16) + 51 = 74.21 -> 74
    assert sub_index("pm25", 25).index == 74
    # O3 0.120 ppm: (250 - 101) / (0.150 - 0.091) * (0.120 - 0.091) + 101 = 174.24 -> 174
    assert sub_index("o3", 0.120).index == 174
    # CO 5.5 ppm: (100 - 51) / (9.00 - 2.01) * (5.5 - 2.01) + 51 = 75.47 -> 75
    assert sub_index("co", 5.5).index == 75


def test_half_rounds_up() -> None:
    # PM10 55: (100 - 51) / (80 - 31) * (55 - 31) + 51 = 75.0; PM10 41 -> 61.0 exactly
    assert sub_index("pm10", 55).index == 75
    # NO2 0.045: 49 / 0.029 * 0.014 + 51 = 74.655... -> 75
    assert sub_index("no2", 0.045).index == 75


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "12", None, True])
def test_what_is_not_a_concentration_raises(bad: object) -> None:
    with pytest.raises(OutOfRange):
        sub_index("pm25", bad)  # type: ignore[arg-type]


def test_grades() -> None:
    assert [grade_of(i) for i in (0, 50, 51, 100, 101, 250, 251, 500)] == [
        "good",
        "good",
        "moderate",
        "moderate",
        "unhealthy",
        "unhealthy",
        "veryUnhealthy",
        "veryUnhealthy",
    ]


CLEAN = {"pm10": 20.0, "pm25": 10.0, "no2": 0.02, "o3": 0.02, "co": 0.5, "so2": 0.003}


def test_the_index_is_the_largest_sub_index() -> None:
    result = comprehensive_index({**CLEAN, "pm25": 25.0})
    assert (result.index, result.grade, result.governing) == (74, "moderate", "pm25")
    assert result.sub_indices["pm10"].index == 33  # 50 / 30 * 20 = 33.3
    assert result.reason is None


def test_two_unhealthy_pollutants_add_50_three_add_75() -> None:
    two = comprehensive_index({**CLEAN, "pm25": 50.0, "pm10": 100.0})
    # PM2.5 50: 149 / 39 * 14 + 101 = 154.49 -> 154; PM10 100: 149 / 69 * 19 + 101 = 142.03
    assert (two.sub_indices["pm25"].index, two.addition, two.index) == (154, 50, 204)
    three = comprehensive_index({**CLEAN, "pm25": 50.0, "pm10": 100.0, "o3": 0.1})
    assert (three.addition, three.index) == (75, 229)  # O3 0.1 -> 124
    off = comprehensive_index(
        {**CLEAN, "pm25": 50.0, "pm10": 100.0}, MultiPollutantRule(enabled=False)
    )
    assert (off.addition, off.index) == (0, 154)


def test_the_addition_never_passes_500() -> None:
    result = comprehensive_index({**CLEAN, "pm25": 400.0, "pm10": 550.0})
    assert result.index == 500


def test_no_index_without_the_four_required_pollutants() -> None:
    result = comprehensive_index({"pm25": 80.0, "pm10": 40.0, "co": 1.0})
    assert result.index is None and result.grade is None
    assert result.missing == ("no2", "o3")
    assert result.governing == "pm25"  # what was measured is still there
    assert result.sub_indices["pm25"].grade == "veryUnhealthy"
    assert result.reason is not None and "no2, o3" in result.reason
    assert comprehensive_index({}).sub_indices == {}


def test_co_and_so2_are_optional() -> None:
    result = comprehensive_index({k: v for k, v in CLEAN.items() if k not in ("co", "so2")})
    assert result.index is not None and result.missing == ()
