"""The sun's place (cityhub/ngsild/solar.py, NOAA's low-precision equations), which the demo's
streetlights and the streetlights-at-night indicator share: sunrise and sunset against the
published times for Seoul (about: 2026-06-21 05:11 / 19:57, 2026-12-21 07:43 / 17:17, within the
equations' few minutes), and the altitude agreeing with them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cityhub.ngsild.solar import HORIZON_DEG, is_night, sun_altitude, sun_times

SEOUL = (126.98, 37.57)


@pytest.mark.parametrize(
    ("day", "rise", "set_"),
    [
        (date(2026, 6, 21), 5 + 11 / 60, 19 + 57 / 60),
        (date(2026, 12, 21), 7 + 43 / 60, 17 + 17 / 60),
    ],
)
def test_sunrise_and_sunset_within_minutes_of_the_published_times(
    day: date, rise: float, set_: float
) -> None:
    sunrise, sunset = sun_times(day, *SEOUL, utc_offset_hours=9)
    assert sunrise == pytest.approx(rise, abs=5 / 60)
    assert sunset == pytest.approx(set_, abs=5 / 60)


def test_the_altitude_crosses_the_horizon_at_sunset_and_peaks_at_noon() -> None:
    day = date(2026, 6, 21)
    _, sunset = sun_times(day, *SEOUL, utc_offset_hours=9)
    local_midnight = datetime(2026, 6, 21, tzinfo=UTC) - timedelta(hours=9)
    at_sunset = local_midnight + timedelta(hours=sunset)
    assert sun_altitude(*SEOUL, at_sunset) == pytest.approx(HORIZON_DEG, abs=0.5)
    assert not is_night(*SEOUL, at_sunset - timedelta(minutes=20))
    assert is_night(*SEOUL, at_sunset + timedelta(minutes=20))
    # at the June solstice the noon sun stands 90 - 37.57 + 23.44 degrees high
    noon = max(sun_altitude(*SEOUL, local_midnight + timedelta(minutes=m)) for m in range(660, 800))
    assert noon == pytest.approx(90 - 37.57 + 23.44, abs=0.3)
