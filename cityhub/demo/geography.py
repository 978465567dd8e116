"""Seongnam's districts and AirKorea station sites, read from the files shipped in
``cityhub/data`` (see ``cityhub/data/SOURCES.md`` for their sources and licences)."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

from shapely.geometry import LineString, Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep
from shapely.validation import make_valid

DISTRICTS_FILE = "seongnam-districts.geojson"
STATIONS_FILE = "seongnam-airkorea-stations.geojson"
#: the attribution the districts' licence (KOGL Type 1) requires
DISTRICTS_ATTRIBUTION = (
    "Boundaries: Statistics Korea (KOSTAT) SGIS, 2018, KOGL Type 1, via southkorea/southkorea-maps"
)
STATIONS_ATTRIBUTION = (
    "Station sites: AirKorea (Korea Environment Corporation) via minseok-lab/NicePlab (MIT)"
)
_METRES_PER_DEG_LAT = 111_320.0


def read_data(name: str) -> dict[str, Any]:
    """A JSON file shipped in ``cityhub/data``."""
    text = resources.files("cityhub").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def valid_geometry(geometry: dict[str, Any]) -> dict[str, Any]:
    """The geometry, repaired when GEOS finds it invalid.

    With GEOS 3.14, 신촌동's ring pinches to a single point at about (127.08789, 37.44488)
    after the source's rounding to 5 decimals: a self-touching ring, which OGC calls invalid.
    ``make_valid`` splits it into the two polygons that touch there (same area), so the hub
    gets valid GeoJSON and geo-queries behave.
    """
    geom = shape(geometry)
    if geom.is_valid:
        return geometry
    repaired: dict[str, Any] = json.loads(json.dumps(mapping(make_valid(geom))))  # lists
    return repaired


def english_name(raw: str) -> str:
    """KOSTAT's romanisation made uniform: ``Sinheung 1(il)-dong`` and ``Sunae1-dong`` become
    ``Sinheung 1-dong`` and ``Sunae 1-dong``."""
    name = re.sub(r"\s*\([a-z]+\)", "", raw)
    return re.sub(r"([A-Za-z])(\d)", r"\1 \2", name)


@dataclass(frozen=True)
class District:
    """The city, a gu or a dong, as in the districts file."""

    level: str  # "city", "gu" or "dong"
    code: str  # 10-digit MOIS code (행정기관코드)
    gu_code: str  # 5-digit MOIS gu code; "" for the city
    name_ko: str
    name_en: str
    zone: str  # cityhub_zone of a dong (an annotation of ours), "" above dong level
    area_km2: float
    electors: int
    geometry: dict[str, Any]

    @cached_property
    def shape(self) -> BaseGeometry:
        return shape(self.geometry)

    @cached_property
    def prepared(self) -> PreparedGeometry[BaseGeometry]:
        return prep(self.shape)

    def contains(self, lon: float, lat: float) -> bool:
        return bool(self.prepared.contains(Point(lon, lat)))

    def random_point(self, rng: random.Random) -> tuple[float, float]:
        """A point inside the polygon, drawn by rejection from its bounding box."""
        x0, y0, x1, y1 = self.shape.bounds
        while True:
            lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if self.contains(lon, lat):
                return round(lon, 6), round(lat, 6)

    def representative_point(self) -> tuple[float, float]:
        p = self.shape.representative_point()
        return round(p.x, 6), round(p.y, 6)


@dataclass(frozen=True)
class Station:
    """An AirKorea monitoring station site (coordinates are real; no measurements shipped)."""

    name_ko: str
    name_en: str
    dong_code: str
    lon: float
    lat: float


class Geography:
    """The districts of Seongnam: lookups by code and name, and placement helpers."""

    def __init__(self, districts: list[District], stations: list[Station]) -> None:
        self.districts = districts
        self.stations = stations
        self.by_code = {d.code: d for d in districts}
        self.city = next(d for d in districts if d.level == "city")
        self.gus = [d for d in districts if d.level == "gu"]
        self.dongs = [d for d in districts if d.level == "dong"]
        self._dong_by_name = {d.name_ko: d for d in self.dongs}

    @classmethod
    def load(cls) -> Geography:
        raw = read_data(DISTRICTS_FILE)
        districts = []
        for feature in raw["features"]:
            p = feature["properties"]
            districts.append(
                District(
                    level=p["level"],
                    code=p["mois_code"],
                    gu_code=p.get("mois_gu_code", ""),
                    name_ko=p["name_ko"],
                    name_en=english_name(p["name_en"]),
                    zone=p.get("cityhub_zone", ""),
                    area_km2=float(p["area_km2"]),
                    electors=int(p.get("nec2022_electors_in_dong", p.get("nec2022_electors", 0))),
                    geometry=valid_geometry(feature["geometry"]),
                )
            )
        stations = [
            Station(
                name_ko=f["properties"]["stationName"],
                name_en=f["properties"]["name_en"],
                dong_code=f["properties"]["admin_dong_mois_code"],
                lon=f["geometry"]["coordinates"][0],
                lat=f["geometry"]["coordinates"][1],
            )
            for f in read_data(STATIONS_FILE)["features"]
        ]
        return cls(districts, stations)

    def dong(self, name_ko: str) -> District:
        return self._dong_by_name[name_ko]

    def gu_of(self, dong: District) -> District:
        return next(g for g in self.gus if g.gu_code == dong.gu_code)

    def dong_at(self, lon: float, lat: float) -> District | None:
        return next((d for d in self.dongs if d.contains(lon, lat)), None)

    def place(self, near: tuple[float, float] | None, dong: District, rng: random.Random) -> Point:
        """``near`` when it lies in ``dong``, else a random point of the dong."""
        if near is not None and dong.contains(*near):
            return Point(*near)
        return Point(*dong.random_point(rng))

    def segment(
        self, centre: tuple[float, float], bearing_deg: float, length_m: float, dong: District
    ) -> LineString:
        """A straight road segment through ``centre`` along ``bearing_deg`` (0 = north), inside
        ``dong``: shortened until it fits, and moved to the dong's inside when it cannot fit
        around ``centre`` at a useful length."""
        for middle in (centre, dong.representative_point()):
            half = length_m / 2
            while half >= 50:
                line = _line(middle, bearing_deg, half)
                if dong.prepared.contains(line):
                    return line
                half *= 0.8
        return _line(dong.representative_point(), bearing_deg, 10)


def _line(centre: tuple[float, float], bearing_deg: float, half_m: float) -> LineString:
    lon0, lat0 = centre
    d_lat = half_m * math.cos(math.radians(bearing_deg)) / _METRES_PER_DEG_LAT
    d_lon = (
        half_m
        * math.sin(math.radians(bearing_deg))
        / (_METRES_PER_DEG_LAT * math.cos(math.radians(lat0)))
    )
    return LineString(
        [
            (round(lon0 - d_lon, 6), round(lat0 - d_lat, 6)),
            (round(lon0 + d_lon, 6), round(lat0 + d_lat, 6)),
        ]
    )


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine), in metres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))
