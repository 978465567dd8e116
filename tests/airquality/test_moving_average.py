"""The 24-hour predicted moving average of PM (DOMAIN.md §1.1, AirKorea's CAI calculator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityhub.airquality.moving_average import hourly_means, predicted_24h_average


def test_worked_example() -> None:
    # PM2.5, 8 hours at 20 then 40, 45, 50, 60.
    # C12 = 355 / 12 = 29.5833; M = 30. Last 4: 40/C12 = 1.35 -> 30; 45 -> 1.52 -> 33.75;
    # 50 -> 1.69 -> 37.5; 60 -> 2.03 > 1.7, not damped -> 60. C4 = 161.25 / 4 = 40.3125.
    # C24E = (29.5833 * 12 + 40.3125 * 12) / 24 = 34.9479
    result = predicted_24h_average("pm25", [20.0] * 8 + [40.0, 45.0, 50.0, 60.0])
    assert result.c12 == pytest.approx(355 / 12)
    assert result.c4 == pytest.approx(40.3125)
    assert result.value == pytest.approx((355 / 12 + 40.3125) / 2)
    assert (result.hours, result.recent_hours, result.reason) == (12, 4, None)


def test_below_m_nothing_is_damped() -> None:
    result = predicted_24h_average("pm10", [50.0] * 12)  # M for PM10 is 70
    assert result.value == pytest.approx(50.0)


def test_at_m_within_the_ratio_the_last_hours_are_damped() -> None:
    result = predicted_24h_average("pm10", [70.0] * 12)  # ratio 1.0: 0.75 * 70
    assert result.c4 == pytest.approx(52.5)
    assert result.value == pytest.approx((70.0 + 52.5) / 2)


def test_missing_hours_are_left_out_of_the_means() -> None:
    hours = [20.0, None, 20.0, None, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, None, 20.0]
    result = predicted_24h_average("pm25", hours)
    assert (result.hours, result.recent_hours) == (9, 3)
    assert result.value == pytest.approx(20.0)


@pytest.mark.parametrize(
    "hours",
    [
        [20.0] * 8 + [None] * 4,  # the last 4 hours missing
        [None] * 4 + [20.0] * 4 + [20.0, None, None, 20.0],  # 2 of the last 4
        [20.0] * 3,  # only 3 hours of history
    ],
)
def test_too_thin_says_so(hours: list[float | None]) -> None:
    result = predicted_24h_average("pm25", hours)
    assert result.value is None
    assert result.reason is not None and "too few hourly pm25 values" in result.reason


def test_hourly_means_put_late_and_out_of_order_samples_in_their_hour() -> None:
    end = datetime(2026, 12, 6, 9, 40, tzinfo=UTC)
    at = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    samples = [
        (at + timedelta(minutes=30), 30.0),
        (at - timedelta(hours=3, minutes=-10), 10.0),  # 06:10, arrived late
        (at + timedelta(minutes=5), 20.0),
        (at - timedelta(hours=12), 99.0),  # before the window
        (at + timedelta(hours=1), 99.0),  # after it
    ]
    means = hourly_means(samples, end)
    assert len(means) == 12
    assert means[-1] == pytest.approx(25.0)
    assert means[-4] == pytest.approx(10.0)
    assert [m for m in means if m is not None] == [10.0, 25.0]
