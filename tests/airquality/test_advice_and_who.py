"""Health advice per grade and group in Korean and English (DOMAIN.md §1.4), and the WHO 2021
guideline comparison (§1.3)."""

from __future__ import annotations

import pytest

from cityhub.airquality.advice import health_advice
from cityhub.airquality.cai import GRADES
from cityhub.airquality.who import who_comparison


@pytest.mark.parametrize("grade", GRADES)
def test_every_grade_has_advice_for_both_groups_in_both_languages(grade: str) -> None:
    advice = health_advice(grade)
    assert [a.group for a in advice] == ["sensitiveGroups", "generalPublic"]
    for a in advice:
        assert set(a.text) == {"ko", "en"}
        assert all(sentence.strip() for sentence in a.text.values())


def test_sensitive_groups_get_stricter_advice_when_it_is_bad() -> None:
    sensitive, general = health_advice("veryUnhealthy")
    assert "indoors" in sensitive.text["en"] and "실내" in sensitive.text["ko"]
    assert sensitive.text != general.text
    assert health_advice("good")[0].text == health_advice("good")[1].text


def test_ozone_at_the_top_of_the_scale_is_for_everyone() -> None:
    for a in health_advice("veryUnhealthy", "o3", 400):
        assert a.text["en"] == "No outdoor physical activity for anyone."
    assert health_advice("veryUnhealthy", "o3", 300)[0].text["en"].startswith("Stay indoors")


def test_no2_advice_names_who_it_is_for() -> None:
    assert "asthma" in health_advice("unhealthy", "no2")[1].text["en"]
    assert "천식" in health_advice("unhealthy", "so2")[1].text["ko"]
    assert "children" not in health_advice("moderate", "no2")[1].text["en"]


def test_pm25_moderate_in_korea_is_twice_the_who_guideline() -> None:
    c = who_comparison("pm25", 30.0, "24h")
    assert (c.ratio, c.exceeds, c.like_for_like, c.unit) == (2.0, True, True, "ug/m3")


def test_gases_are_converted_from_ppm() -> None:
    no2 = who_comparison("no2", 0.01, "1h")  # 18.82 ug/m3 against 25
    assert no2.value == pytest.approx(18.82)
    assert not no2.exceeds and not no2.like_for_like
    co = who_comparison("co", 4.0, "24h")  # 4.58 mg/m3 against 4
    assert co.exceeds and co.unit == "mg/m3"
