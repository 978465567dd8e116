"""Districts, air-quality sensors, weather stations and flood sensors."""

from __future__ import annotations

from typing import Any

from cityhub.demo import sites
from cityhub.demo.geography import DISTRICTS_ATTRIBUTION, STATIONS_ATTRIBUTION, english_name
from cityhub.demo.layout.builder import Builder
from cityhub.demo.model import Asset, area_id, point, prop, rel, slug
from cityhub.demo.readings import AirParams, FloodParams, WeatherParams

ELECTORS_NOTE = (
    "National Election Commission electors, 2022 presidential election: a rough indicator of "
    "adult population, not population (see cityhub/data/SOURCES.md)"
)


def districts(b: Builder) -> None:
    """The city, its 3 gu and 50 dong as ``AdministrativeArea`` entities with their polygons."""
    for d in b.geo.districts:
        electors = prop(d.electors)
        electors["description"] = prop(ELECTORS_NOTE)
        attrs: dict[str, Any] = {
            "administrativeLevel": prop(d.level),
            "administrativeCode": prop(d.code),
            "area": prop(d.area_km2, "KMK"),
            "electors": electors,
        }
        if d.zone:
            attrs["cityhubZone"] = prop(d.zone)
        if d.level == "dong":
            attrs["refParentArea"] = rel(area_id(b.geo.gu_of(d)))
        elif d.level == "gu":
            attrs["refParentArea"] = rel(area_id(b.geo.city))
        b.assets.append(
            Asset(
                kind="static",
                entity_type="AdministrativeArea",
                id=area_id(d),
                name_ko=d.name_ko,
                name_en=d.name_en,
                location=d.geometry,
                dong=None,
                attrs=attrs,
                data_provider=DISTRICTS_ATTRIBUTION,
            )
        )


def air_quality(b: Builder) -> None:
    """The 6 AirKorea station sites (real places, simulated values) and 18 low-cost sensors
    at schools and senior centres."""
    for s in b.geo.stations:
        dong = b.geo.by_code[s.dong_code]
        local = "airkorea-" + slug(english_name(s.name_en))
        b.add(
            "air-station",
            "AirQualityObserved",
            local,
            dong,
            point(s.lon, s.lat),
            (f"{s.name_ko} 대기측정소", f"{s.name_en} air-quality station"),
            attrs={
                "stationName": prop(s.name_ko),
                "typeofLocation": prop("outdoor"),
                "siteSource": prop(STATIONS_ATTRIBUTION + "; the values are synthetic"),
            },
            params=AirParams(local, sites.STATION_OFFSETS.get(s.name_ko, 0.0), low_cost=False),
            device=(["airPollution"], False),
        )
    for i, a in enumerate(sites.AIR_SENSORS):
        dong, loc = b.where(a.dong, a.landmark)
        ko, en = ("초등학교", "elementary school") if i % 2 == 0 else ("경로당", "senior centre")
        local = f"pm-{slug(dong.name_en)}"
        b.add(
            "air-sensor",
            "AirQualityObserved",
            local,
            dong,
            loc,
            (f"{dong.name_ko} {ko} 미세먼지 센서", f"{dong.name_en} {en} PM sensor"),
            attrs={"typeofLocation": prop("outdoor"), "reliability": prop(0.7, "C62")},
            params=AirParams(local, a.offset, low_cost=True),
            device=(["airPollution", "temperature", "humidity"], False),
        )


def weather_and_water(b: Builder) -> None:
    """3 weather stations (one per gu), 4 Tancheon stream gauges and 2 underpass sensors."""
    for w in sites.WEATHER_STATIONS:
        dong, loc = b.where(w.dong, w.landmark)
        b.add(
            "weather",
            "WeatherObserved",
            f"weather-{slug(w.en)}",
            dong,
            loc,
            (f"{w.ko} 기상관측소", f"{w.en} weather station"),
            params=WeatherParams(w.offset),
            device=(["temperature", "humidity", "precipitation", "windSpeed"], False),
        )
    for f in sites.FLOOD_SITES:
        dong = b.geo.dong(f.dong)
        p = b.geo.place((f.lon, f.lat), dong, b.rng)
        alert, danger = (0.15, 0.30) if f.underpass else (2.5, 3.5)
        b.add(
            "flood",
            "FloodMonitoring",
            f.key,
            dong,
            point(p.x, p.y),
            (f.ko, f.en),
            attrs={
                "referenceLevel": prop(0.0, "MTR"),
                "alertLevel": prop(alert, "MTR"),
                "dangerLevel": prop(danger, "MTR"),
                "category": prop("underpass" if f.underpass else "stream"),
            },
            params=FloodParams(
                f.underpass,
                base=0.0 if f.underpass else round(0.5 + 0.3 * b.rng.random(), 2),
                response=0.05,
            ),
            device=(["waterLevel"], True),
        )
