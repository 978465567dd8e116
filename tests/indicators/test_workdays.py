"""The travel-time index is an indicator of commuting peaks (DOMAIN.md 6.2 item 3, 4.2): a
weekday that is a public holiday has none. Calendars from the ``holidays`` package, chosen by
the setting ``holidays_country``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cityhub.indicators.compute import is_peak
from cityhub.indicators.service import IndicatorService
from cityhub.indicators.workdays import is_workday, public_holidays
from tests.conftest import make_client
from tests.indicators.helpers import CITY
from tests.indicators.test_heat_travel_energy import FLOWS, ROADS, run, speeds, value

KR = public_holidays("KR")
#: 08:00 in Seoul on Friday 2026-09-25, Chuseok
CHUSEOK_PEAK = datetime(2026, 9, 24, 23, tzinfo=UTC)
#: 08:00 in Seoul on Friday 2026-09-18, a working day a week earlier
WORKING_PEAK = datetime(2026, 9, 17, 23, tzinfo=UTC)


def test_korean_holidays_include_lunar_substitute_and_election_days() -> None:
    # Seollal and Chuseok move with the lunar calendar; 2026-03-02 substitutes for Sunday's
    # Independence Movement Day; 2026-06-03 is the local elections' holiday
    for day in (date(2026, 2, 17), date(2026, 9, 25), date(2026, 3, 2), date(2026, 6, 3)):
        assert day in KR and not is_workday(day, KR)
    assert is_workday(date(2026, 9, 18), KR)
    assert not is_workday(date(2026, 9, 19), KR)  # a Saturday
    assert is_workday(date(2026, 9, 25), frozenset())  # no calendar: weekends only


def test_no_peak_on_a_public_holiday() -> None:
    assert is_peak(WORKING_PEAK, holidays=KR)
    assert is_peak(CHUSEOK_PEAK)  # without the calendar Chuseok's Friday is a weekday
    assert not is_peak(CHUSEOK_PEAK, holidays=KR)


def test_the_travel_time_index_skips_a_holidays_peak_hours() -> None:
    working = run(FLOWS, speeds(WORKING_PEAK), WORKING_PEAK, ROADS, holidays=KR)
    assert value(working, CITY, "travelTimeIndex") > 1
    chuseok = run(FLOWS, speeds(CHUSEOK_PEAK), CHUSEOK_PEAK, ROADS, holidays=KR)
    tti = chuseok[CITY]["travelTimeIndex"]
    assert value(chuseok, CITY, "travelTimeIndex") is None
    assert (tti.expected, tti.den) == (0, 0)
    # the congestion index is not a peak indicator: it still reads the holiday's roads
    assert chuseok[CITY]["congestionIndex"].reporting == 3


def test_the_service_takes_the_calendar_and_the_setting_names_it(tmp_path: Path) -> None:
    assert IndicatorService(holidays=KR).holidays is KR
    for bad in ("XX", "KR-zz"):
        with pytest.raises(ValueError, match="holidays_country") as caught:
            public_holidays(bad)
        assert "ISO 3166-1" in str(caught.value)
    assert public_holidays("  ") == frozenset()
    with pytest.raises(ValueError, match="holidays_country"):
        make_client(tmp_path, holidays_country="Atlantis", indicators_service=True)
