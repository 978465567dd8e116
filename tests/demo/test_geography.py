"""The shipped Seongnam data: 54 districts, 6 AirKorea stations inside their dong."""

from __future__ import annotations

import pytest
from shapely.geometry import shape

from cityhub.demo.geography import (
    DISTRICTS_FILE,
    Geography,
    english_name,
    metres_between,
    read_data,
    valid_geometry,
)


@pytest.fixture(scope="module")
def geo() -> Geography:
    return Geography.load()


def test_the_city_has_3_gu_and_50_dong(geo: Geography) -> None:
    assert geo.city.name_ko == "성남시" and geo.city.code == "4113000000"
    assert sorted(g.name_en for g in geo.gus) == ["Bundang-gu", "Jungwon-gu", "Sujeong-gu"]
    assert len(geo.dongs) == 50
    per_gu = {g.gu_code: sum(d.gu_code == g.gu_code for d in geo.dongs) for g in geo.gus}
    assert per_gu == {"41131": 17, "41133": 11, "41135": 22}


def test_every_dong_polygon_is_valid_and_lies_in_the_city(geo: Geography) -> None:
    city = geo.city.shape.buffer(1e-5)  # about a metre: the repaired pinch of 신촌동
    for d in geo.districts:
        assert d.shape.is_valid, d.name_ko
    for d in geo.dongs:
        assert city.contains(d.shape), d.name_ko
    assert sum(d.area_km2 for d in geo.dongs) == pytest.approx(geo.city.area_km2, rel=0.01)


def test_only_the_pinched_ring_of_sinchon_is_repaired() -> None:
    raw = {f["properties"]["name_ko"]: f["geometry"] for f in read_data(DISTRICTS_FILE)["features"]}
    repaired = [name for name, g in raw.items() if valid_geometry(g) is not g]
    assert repaired == ["신촌동"]
    before, after = shape(raw["신촌동"]), shape(valid_geometry(raw["신촌동"]))
    assert after.is_valid and after.area == pytest.approx(before.area, rel=1e-6)


def test_airkorea_stations_lie_in_their_dong(geo: Geography) -> None:
    assert len(geo.stations) == 6
    for s in geo.stations:
        assert geo.by_code[s.dong_code].contains(s.lon, s.lat), s.name_ko


def test_english_names_are_made_uniform() -> None:
    assert english_name("Sinheung 1(il)-dong") == "Sinheung 1-dong"
    assert english_name("Sunae1-dong") == "Sunae 1-dong"
    assert english_name("Wirye-dong") == "Wirye-dong"


def test_random_points_fall_inside_the_dong(geo: Geography) -> None:
    import random

    rng = random.Random(1)
    smallest = min(geo.dongs, key=lambda d: d.area_km2)
    for _ in range(20):
        assert smallest.contains(*smallest.random_point(rng))


def test_segment_stays_inside_its_dong(geo: Geography) -> None:
    dong = geo.dong("성남동")
    line = geo.segment((127.1290, 37.4321), 0, 700, dong)
    assert dong.prepared.contains(line)
    assert 100 < metres_between(*line.coords) <= 701
