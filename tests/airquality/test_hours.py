"""From history instances to the CAI's hourly inputs (cityhub/airquality/hours.py): which
readings are usable, which hour the CAI is for, and the 12-hour window whatever the order of
arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityhub.airquality.hours import (
    PLAUSIBLE_MAX,
    anchor_of,
    hourly_window,
    parse_time,
    usable_value,
    window_bounds,
)

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def inst(value: Any, minutes: int, unit: str | None = "GQ", **extra: Any) -> dict[str, Any]:
    at = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = {"type": "Property", "value": value, "observedAt": at, **extra}
    if unit:
        out["unitCode"] = unit
    return out


@pytest.mark.parametrize(
    ("value", "unit", "why"),
    [
        (-5, "GQ", "not a concentration"),
        (float("nan"), "GQ", "not a concentration"),
        ("high", "GQ", "not a number"),
        (True, "GQ", "not a number"),
        (None, "GQ", "not a number"),
        (1e9, "GQ", "beyond what the air can hold"),
        (20, "KGM", "unitCode 'KGM'"),
    ],
)
def test_bad_readings_are_named(value: Any, unit: str, why: str) -> None:
    got, problem = usable_value("pm25", {"value": value, "unitCode": unit})
    assert got is None and problem is not None and why in problem


def test_good_readings_in_the_cais_unit() -> None:
    assert usable_value("pm25", {"value": 3000}) == (3000.0, None)  # the bound is kept
    assert usable_value("no2", {"value": 37.64, "unitCode": "GQ"})[0] == pytest.approx(0.02)
    assert usable_value("o3", {"value": 30, "unitCode": "61"})[0] == pytest.approx(0.03)
    assert usable_value("co", {"value": 1.145, "unitCode": "GP"})[0] == pytest.approx(1.0)
    assert usable_value("pm10", {"value": PLAUSIBLE_MAX["pm10"] + 1})[0] is None


def test_parse_time() -> None:
    assert parse_time("2026-11-01T09:30:00Z") == T0 + timedelta(hours=9, minutes=30)
    assert parse_time("2026-11-01T18:30:00+09:00") == T0 + timedelta(hours=9, minutes=30)
    assert parse_time("yesterday") is None and parse_time(7) is None


def test_the_anchor_is_the_latest_hour_and_a_late_reading_keeps_it() -> None:
    times = [T0 + timedelta(hours=3, minutes=10), T0 + timedelta(hours=5, minutes=59)]
    assert anchor_of(times, None) == T0 + timedelta(hours=5)
    # a late reading (hour 3) after hour 5 was computed: hour 5 again, not hour 3
    assert anchor_of(times[:1], T0 + timedelta(hours=5)) == T0 + timedelta(hours=5)
    # a station whose clock ran years ahead and came back is followed, not stuck
    ahead = datetime(2099, 1, 1, tzinfo=UTC)
    assert anchor_of([ahead], T0) == ahead
    assert anchor_of(times, ahead) == T0 + timedelta(hours=5)
    assert anchor_of([None], T0) is None


def test_the_window_is_twelve_hours_whatever_the_order() -> None:
    anchor = T0 + timedelta(hours=11)
    assert window_bounds(anchor) == (T0, T0 + timedelta(hours=12))
    readings = [inst(10 + h, h * 60 + 30) for h in range(12)]
    readings.reverse()  # arrival order does not matter
    readings.append(inst(30, 11 * 60 + 45))  # two in the last hour: their mean
    readings.append(inst(99, -30))  # before the window
    readings.append(inst(-5, 5 * 60))  # bad: left out, counted
    readings.append(inst(40, 6 * 60, datasetId="urn:ngsi-ld:Dataset:other"))  # another source
    hours, bad = hourly_window("pm25", readings, anchor, "observedAt")
    assert bad == 1
    assert hours[:11] == [10.0 + h for h in range(11)]
    assert hours[11] == pytest.approx((21 + 30) / 2)


def test_missing_hours_are_none() -> None:
    hours, bad = hourly_window(
        "pm10", [inst(20, 0), inst(20, 11 * 60)], T0 + timedelta(hours=11), "observedAt"
    )
    assert (hours[0], hours[11], bad) == (20.0, 20.0, 0)
    assert hours[1:11] == [None] * 10


def test_hostile_values_and_times_do_not_raise() -> None:
    got, problem = usable_value("pm25", {"value": 10**400})
    assert got is None and problem is not None and len(problem) < 200
    far = [datetime(9999, 12, 31, 23, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)]
    assert anchor_of(far, datetime(9999, 12, 31, 23, tzinfo=UTC)) is None
    assert anchor_of([*far, T0], None) == T0
    latest = datetime(9999, 12, 30, tzinfo=UTC)
    assert anchor_of([latest], latest + timedelta(hours=2)) == latest  # no window past 9999
