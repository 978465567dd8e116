"""One hour of indicators: from the sensors (where they stand, what they are) and their
history instances of that hour to a :class:`~cityhub.indicators.tally.Tally` per indicator and
district. Pure: no store, no clock.

Bad data never raises: a reading that is not a number, is negative, is beyond what the
quantity can be (a PM2.5 of 1e9, an occupancy of 7) or is text where a number belongs is
counted in ``bad`` and left out; a sensor whose readings of the hour were all bad did not
report (``monitoringCoverage`` shows it).
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import shape

from cityhub.airquality.hours import parse_time, usable_value
from cityhub.indicators.areas import Area, AreaMap
from cityhub.indicators.catalogue import (
    CONGESTED_ARTERIAL_KMH,
    CONGESTED_EXPRESSWAY_KMH,
    GRADES,
    INDICATORS,
    NEAREST_KM,
    PARKING_PRESSURE,
    PM25_KOREAN_UNHEALTHY,
    PM25_WHO_24H,
    WALK_DETOUR,
    WASTE_FULL,
)
from cityhub.indicators.heat import HEAT_APPARENT_C, apparent_temperature_kma
from cityhub.indicators.names import (
    attribute,
    local_name,
    number_of,
    plain_value,
    types_of,
)
from cityhub.indicators.tally import Tally
from cityhub.indicators.workdays import is_workday
from cityhub.ngsild.solar import is_night

#: entity type -> sensor kind
KINDS = {
    "AirQualityObserved": "air",
    "TrafficFlowObserved": "traffic",
    "OffStreetParking": "parking",
    "OnStreetParking": "parking",
    "WasteContainer": "waste",
    "Streetlight": "streetlight",
    "WeatherObserved": "weather",
    "Building": "building",
}
#: attributes each kind is read by (local names)
READS = {
    "air": ("pm25", "airQualityLevel"),
    "traffic": ("averageVehicleSpeed",),
    "parking": ("occupancy",),
    "waste": ("fillingLevel",),
    "streetlight": ("status", "powerState", "powerConsumption"),
    "weather": ("temperature", "relativeHumidity"),
    "building": ("totalActivePower", "totalActiveEnergyImport"),
}
SHELTER_CATEGORIES = frozenset(
    {"heatShelter", "coldShelter", "civilDefenceShelter", "earthquakeEvacuationSite", "shelter"}
)
_EXPRESSWAY_WORDS = ("expressway", "motorway", "freeway", "highway")
_KM_PER_DEG = 111.32
#: the sun's altitude below which a streetlight must be on: about a quarter hour after sunset
#: (lamps switch on some minutes after it; DOMAIN.md 4.5)
LAMPS_ON_BELOW_DEG = -3.0
#: the peaks of the travel-time index, as hours of the city's day (DOMAIN.md 4.2: weekday AM
#: peak 07-09, PM peak 18-20), Monday to Friday except public holidays
PEAK_HOURS = frozenset({7, 8, 18, 19})
#: the city's time zone when none is given (DOMAIN.md 6.4)
CITY_ZONE = ZoneInfo("Asia/Seoul")
#: free-flow speeds (km/h) a road can have; speeds under 1 km/h give no travel time (a loop
#: detector's 0 says no vehicle was measured as much as a standstill)
_FREE_KMH = (5.0, 200.0)
_SLOWEST_KMH = 1.0
_TO_KMH = {"KMH": 1.0, "MTS": 3.6}
_TO_KM = {"MTR": 0.001, "KMT": 1.0}
#: a building's meter: power in kW (Smart Data Models' unit, W, when no unitCode) and energy in
#: kWh (the default); its floor area in m²
_TO_KW = {"WTT": 0.001, "KWT": 1.0, "MAW": 1000.0}
_TO_KWH = {"KWH": 1.0, "WHR": 0.001, "MWH": 1000.0}
_TO_M2 = {"MTK": 1.0}
_FLOOR_M2 = (1.0, 1e7)
_MAX_KW = 1e6
_MAX_KWH = 1e12
#: the shortest span of meter readings whose difference gives the hour's energy
_METER_SPAN = timedelta(minutes=15)


@dataclass(frozen=True)
class Sensor:
    """An entity the indicators read, placed in a leaf district."""

    id: str
    kind: str  # air, traffic, parking, waste, streetlight, shelter
    leaf: str
    lon: float
    lat: float
    expressway: bool = False
    full_at: float = WASTE_FULL
    capacity: float = 0.0
    free_kmh: float | None = None  # a road's free-flow speed (the travel-time index)
    length_km: float = 1.0  # its length (weights its travel time; 1 when unknown)
    floor_m2: float = 0.0  # a building's gross floor area


def _point(entity: Mapping[str, Any]) -> tuple[float, float] | None:
    loc = attribute(entity, "location")
    value = (loc or {}).get("value")
    if not isinstance(value, dict):
        return None
    try:
        p = shape(value).representative_point()
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    if p.is_empty or not (math.isfinite(p.x) and math.isfinite(p.y)):
        return None
    return (p.x, p.y)


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def is_expressway(*entities: Mapping[str, Any] | None) -> bool:
    """Whether a road (its flow observation or its RoadSegment) is an urban expressway: its
    ``category`` or ``roadClass`` says so."""
    for entity in entities:
        if entity is None:
            continue
        for name in ("category", "roadClass"):
            for word in _words(plain_value(attribute(entity, name))):
                if any(w in word.lower() for w in _EXPRESSWAY_WORDS):
                    return True
    return False


def sensor_of(
    entity: Mapping[str, Any], areas: AreaMap, roads: Mapping[str, Mapping[str, Any]]
) -> Sensor | None:
    """The entity as a sensor of the indicators (None: not one, or outside every district)."""
    types = types_of(entity)
    kind = next((KINDS[t] for t in types if t in KINDS), None)
    capacity = 0.0
    if kind is None and "PointOfInterest" in types:
        categories = set(_words(plain_value(attribute(entity, "category"))))
        if not categories & SHELTER_CATEGORIES:
            return None
        kind = "shelter"
        for name in ("peopleCapacity", "capacity"):
            found = number_of(plain_value(attribute(entity, name)))
            if found is not None and 0 <= found < 1e7:
                capacity = found
                break
    if kind is None:
        return None
    floor_m2 = 0.0
    if kind == "building":
        floor_m2 = floor_area_m2(entity) or 0.0
        if not floor_m2:
            return None  # no floor area: not one the energy intensity can read
    where = _point(entity)
    if where is None:
        return None
    leaf = areas.leaf_at(*where)
    if leaf is None:
        return None
    expressway = False
    free_kmh: float | None = None
    length_km = 1.0
    if kind == "traffic":
        ref = attribute(entity, "refRoadSegment")
        road = roads.get(str((ref or {}).get("object")))
        expressway = is_expressway(entity, road)
        free_kmh = free_flow_kmh(entity, road)
        length_km = _length_km(road) or 1.0
    full_at = WASTE_FULL
    if kind == "waste":
        threshold = number_of(plain_value(attribute(entity, "binFullnessThreshold")))
        if threshold is not None and 0 < threshold <= 1:
            full_at = threshold
    return Sensor(
        str(entity["id"]),
        kind,
        leaf.id,
        where[0],
        where[1],
        expressway,
        full_at,
        capacity,
        free_kmh,
        length_km,
        floor_m2,
    )


def floor_area_m2(entity: Mapping[str, Any]) -> float | None:
    """A Building's gross floor area (m², ``grossFloorArea``: a cityhub extension that
    DOMAIN.md 2.2 gives buildings for their energy intensity, Smart Data Models' Building has
    none); None without a usable one. Its meter readings need not be on the entity yet (a
    backfill writes them to the history only)."""
    m2 = _quantity(entity, "grossFloorArea", _TO_M2, "MTK")
    return m2 if m2 is not None and _FLOOR_M2[0] <= m2 <= _FLOOR_M2[1] else None


def energy_of_hour(
    attrs: Mapping[str, Sequence[Mapping[str, Any]]], hour: datetime
) -> tuple[float | None, int]:
    """A building's energy in the hour (kWh) and its bad readings: from the meter's
    ``totalActiveEnergyImport`` (the rise between its first and last readings of the hour,
    at least a quarter hour apart, scaled to the hour), else the mean ``totalActivePower``
    x 1 h. A meter that went backwards gives no energy (one bad reading)."""
    bad = 0
    counter: list[tuple[datetime, float]] = []
    for inst in attrs.get("totalActiveEnergyImport", ()):
        kwh = _reading(inst, _TO_KWH, "KWH", _MAX_KWH)
        when = parse_time(inst.get("observedAt"))
        if kwh is None or when is None:
            bad += 1
        else:
            counter.append((when, kwh))
    powers = []
    for inst in attrs.get("totalActivePower", ()):
        kw = _reading(inst, _TO_KW, "WTT", _MAX_KW)
        if kw is None:
            bad += 1
        else:
            powers.append(kw)
    counter.sort()
    if len(counter) >= 2:
        (t0, first), (t1, last) = counter[0], counter[-1]
        span = t1 - t0
        if last < first:
            bad += 1
        elif span >= _METER_SPAN:
            return (last - first) * (timedelta(hours=1) / span), bad
    if powers:
        return _mean(powers), bad
    return None, bad


def _reading(
    inst: Mapping[str, Any], units: Mapping[str, float], default: str, high: float
) -> float | None:
    value = number_of(inst.get("value"))
    factor = units.get(str(inst.get("unitCode") or default))
    if value is None or factor is None or not 0 <= value * factor <= high:
        return None
    return value * factor


def _quantity(
    entity: Mapping[str, Any] | None, name: str, units: Mapping[str, float], default: str
) -> float | None:
    inst = attribute(entity, name) if entity is not None else None
    if inst is None:
        return None
    value = number_of(inst.get("value"))
    factor = units.get(str(inst.get("unitCode") or default))
    return None if value is None or factor is None else value * factor


def free_flow_kmh(entity: Mapping[str, Any], road: Mapping[str, Any] | None = None) -> float | None:
    """A flow observation's free-flow speed (km/h): ``freeFlowSpeed`` (a cityhub extension) of
    the observation or its RoadSegment, else their ``maximumAllowedSpeed`` (Smart Data
    Models' RoadSegment: the posted limit, the usual stand-in); ``unitCode`` KMH (the
    default) or MTS. None when neither gives 5-200 km/h."""
    for name in ("freeFlowSpeed", "maximumAllowedSpeed"):
        for source in (entity, road):
            kmh = _quantity(source, name, _TO_KMH, "KMH")
            if kmh is not None and _FREE_KMH[0] <= kmh <= _FREE_KMH[1]:
                return kmh
    return None


def _length_km(road: Mapping[str, Any] | None) -> float | None:
    km = _quantity(road, "length", _TO_KM, "MTR")
    return km if km is not None and 0 < km <= 1000 else None


def is_peak(
    hour: datetime, zone: tzinfo = CITY_ZONE, holidays: Container[date] = frozenset()
) -> bool:
    """Whether the hour starting at ``hour`` is a peak hour of a working day (a weekday that
    is not one of ``holidays``) in the city's time zone."""
    local = hour.astimezone(zone)
    return local.hour in PEAK_HOURS and is_workday(local.date(), holidays)


# ---- one sensor's hour ----------------------------------------------------------------------


@dataclass
class SensorHour:
    """What one sensor's readings of one hour say (None: nothing usable)."""

    reported: bool = False
    bad: int = 0
    pm25: float | None = None
    grade: str | None = None
    flag: bool | None = None  # congested / pressured / full / working
    night: bool = False
    apparent: float | None = None  # the hour's mean apparent temperature (°C)
    travel: float | None = None  # the hour's mean travel time (hours per km)
    energy: float | None = None  # a building's energy in the hour (kWh)


def _numbers(
    instances: Iterable[Mapping[str, Any]], low: float, high: float
) -> tuple[list[float], int]:
    good, bad = [], 0
    for inst in instances:
        value = number_of(inst.get("value"))
        if value is None or not low <= value <= high:
            bad += 1
        else:
            good.append(value)
    return good, bad


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def sensor_hour(
    sensor: Sensor, attrs: Mapping[str, Sequence[Mapping[str, Any]]], hour: datetime
) -> SensorHour:
    """Judge a sensor's hour from its instances (by attribute local name, in time order)."""
    out = SensorHour()
    if sensor.kind == "air":
        values = []
        for inst in attrs.get("pm25", ()):
            value, _ = usable_value("pm25", inst)
            if value is None:
                out.bad += 1
            else:
                values.append(value)
        if values:
            out.pm25 = _mean(values)
            out.reported = True
        grades = [plain_value(i) for i in attrs.get("airQualityLevel", ())]
        grades = [g for g in grades if g in GRADES]
        out.grade = grades[-1] if grades else None
    elif sensor.kind == "traffic":
        speeds, out.bad = _numbers(attrs.get("averageVehicleSpeed", ()), 0.0, 400.0)
        if speeds:
            limit = CONGESTED_EXPRESSWAY_KMH if sensor.expressway else CONGESTED_ARTERIAL_KMH
            out.flag, out.reported = _mean(speeds) <= limit, True
            moving = [1.0 / v for v in speeds if v >= _SLOWEST_KMH]
            out.travel = _mean(moving) if moving else None
    elif sensor.kind == "parking":
        shares, out.bad = _numbers(attrs.get("occupancy", ()), 0.0, 1.0)
        if shares:
            out.flag, out.reported = _mean(shares) >= PARKING_PRESSURE, True
    elif sensor.kind == "waste":
        levels, out.bad = _numbers(attrs.get("fillingLevel", ()), 0.0, 1.5)
        if levels:
            out.flag, out.reported = max(levels) >= sensor.full_at, True
    elif sensor.kind == "building":
        out.energy, out.bad = energy_of_hour(attrs, hour)
        out.reported = out.energy is not None
    elif sensor.kind == "weather":
        out.apparent, out.bad = apparent_of_hour(attrs)
        out.reported = out.apparent is not None
    elif sensor.kind == "streetlight":
        # judged on the readings taken at night (the sun well down at the lamp, so a lamp
        # that switches on a little after sunset is not caught out), expected when the hour's
        # middle is night
        middle = hour + timedelta(minutes=30)

        def at_night(inst: Mapping[str, Any]) -> bool:
            at = parse_time(inst.get("observedAt")) or middle
            return is_night(sensor.lon, sensor.lat, at, LAMPS_ON_BELOW_DEG)

        states = [i for i in attrs.get("powerState", ()) if at_night(i)]
        statuses = [plain_value(i) for i in attrs.get("status", ()) if at_night(i)]
        watts = [
            number_of(i.get("value")) for i in attrs.get("powerConsumption", ()) if at_night(i)
        ]
        out.bad = sum(1 for i in states if not isinstance(plain_value(i), str))
        out.bad += sum(1 for s in statuses if not isinstance(s, str))
        out.bad += sum(1 for w in watts if w is None or w < 0)
        power = [plain_value(i) for i in states if isinstance(plain_value(i), str)]
        out.night = bool(power or statuses) or is_night(
            sensor.lon, sensor.lat, middle, LAMPS_ON_BELOW_DEG
        )
        if power or statuses:
            out.reported = True
            out.flag = (
                bool(power)
                and all(p in ("on", "low") for p in power)
                and all(s == "ok" for s in statuses if isinstance(s, str))
                and all(w > 0 for w in watts if w is not None and w >= 0)
            )
    return out


#: temperatures (°C) and relative humidities (percent) a weather station can report
_TEMPERATURE_C = (-60.0, 60.0)
_TO_CELSIUS = {"CEL": lambda v: v, "FAH": lambda v: (v - 32) * 5 / 9, "KEL": lambda v: v - 273.15}


def temperature_c(inst: Mapping[str, Any]) -> float | None:
    """A temperature instance in °C (``unitCode`` CEL, the default, FAH or KEL); None when it
    is not a number, has another unit or is beyond -60..60 °C."""
    value = number_of(inst.get("value"))
    convert = _TO_CELSIUS.get(str(inst.get("unitCode") or "CEL"))
    if value is None or convert is None:
        return None
    c = convert(value)
    return c if _TEMPERATURE_C[0] <= c <= _TEMPERATURE_C[1] else None


def humidity_percent(inst: Mapping[str, Any]) -> float | None:
    """A relative humidity instance in percent: a 0-1 fraction as Smart Data Models gives it
    (``unitCode`` C62 or none), or 0-100 with ``unitCode`` P1; None otherwise (a 55 without
    P1 is not guessed at)."""
    value = number_of(inst.get("value"))
    if value is None:
        return None
    percent = value if inst.get("unitCode") == "P1" else value * 100
    return percent if 0 <= percent <= 100 else None


def apparent_of_hour(
    attrs: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[float | None, int]:
    """A weather station's hour: the mean of KMA's apparent temperature over its readings
    (temperature and humidity paired by ``observedAt``; without any pair, the hour's means
    of each), and how many readings were bad."""
    temps: dict[Any, float] = {}
    hums: dict[Any, float] = {}
    bad = 0
    for name, read, into in (
        ("temperature", temperature_c, temps),
        ("relativeHumidity", humidity_percent, hums),
    ):
        for inst in attrs.get(name, ()):
            value = read(inst)
            if value is None:
                bad += 1
            else:
                into[inst.get("observedAt")] = value
    pairs = [(temps[at], hums[at]) for at in temps if at in hums]
    if not pairs and temps and hums:
        pairs = [(_mean(list(temps.values())), _mean(list(hums.values())))]
    if not pairs:
        return None, bad
    return _mean([apparent_temperature_kma(t, h) for t, h in pairs]), bad


# ---- one hour of every district -------------------------------------------------------------


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (a[0] - b[0]) * _KM_PER_DEG * math.cos(math.radians((a[1] + b[1]) / 2))
    dy = (a[1] - b[1]) * _KM_PER_DEG
    return math.hypot(dx, dy)


def weights_of(areas: AreaMap) -> tuple[dict[str, float], str]:
    """Each leaf's weight (residents; 1 each when any leaf has no population) and what it is."""
    leaves = areas.leaves
    if leaves and all(a.population is not None for a in leaves):
        sources = {a.population_source for a in leaves}
        return {a.id: float(a.population or 0) for a in leaves}, "+".join(sorted(sources))
    return {a.id: 1.0 for a in leaves}, "none"


def older_of(areas: AreaMap) -> dict[str, float] | None:
    """Each leaf's residents aged 65+, None unless every leaf gives them."""
    leaves = areas.leaves
    if leaves and all(a.older_population is not None for a in leaves):
        return {a.id: float(a.older_population or 0) for a in leaves}
    return None


def sensitive_of(areas: AreaMap) -> dict[str, float] | None:
    """Each leaf's sensitive residents (aged 65+, and under 15 where given), None unless every
    leaf gives its residents aged 65+."""
    older = older_of(areas)
    if older is None:
        return None
    return {a.id: older[a.id] + (a.young_population or 0.0) for a in areas.leaves}


def compute_hour(
    areas: AreaMap,
    sensors: Sequence[Sensor],
    history: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    hour: datetime,
    zone: tzinfo = CITY_ZONE,
    holidays: Container[date] = frozenset(),
) -> dict[str, dict[str, Tally]]:
    """Every indicator's tally of every area (leaves and parents) for the hour starting at
    ``hour``: ``{area id: {indicator name: Tally}}``.

    Args:
        history: the hour's instances by sensor id and attribute local name.
        zone: the city's time zone (the peaks of the travel-time index are its hours).
        holidays: the city's public holidays (no peaks on them; see ``workdays``).
    """
    peak = is_peak(hour, zone, holidays)
    weights, _ = weights_of(areas)
    older = older_of(areas)
    sensitive = sensitive_of(areas)
    leaf_tallies: dict[str, dict[str, Tally]] = {
        a.id: {i.name: Tally(hours=1, weight=weights[a.id]) for i in INDICATORS}
        for a in areas.leaves
    }
    exposures = ["pm25ExposureKorea", "pm25ExposureWho"]
    if sensitive is not None:
        exposures.append("pm25ExposureSensitive")
    for a in areas.leaves:
        leaf_tallies[a.id]["pm25ExposureSensitive"].weight = (sensitive or {}).get(a.id, 0.0)
    judged: list[tuple[Sensor, SensorHour]] = []
    for sensor in sensors:
        if sensor.leaf not in leaf_tallies:
            continue
        if sensor.kind == "shelter":
            judged.append((sensor, SensorHour()))
            continue
        judged.append((sensor, sensor_hour(sensor, history.get(sensor.id, {}), hour)))

    reporting_air: list[tuple[Sensor, float]] = []
    reporting_weather: list[tuple[Sensor, float]] = []
    for sensor, seen in judged:
        t = leaf_tallies[sensor.leaf]
        if sensor.kind == "shelter":
            t["shelterCapacityPerOlderResident"].num += sensor.capacity
            t["shelterCapacityPerOlderResident"].sensors += 1
            continue
        cov = t["monitoringCoverage"]
        cov.expected += 1
        cov.sensors += 1
        cov.bad += seen.bad
        cov.parts[sensor.kind] = cov.parts.get(sensor.kind, 0.0) + 1
        if seen.reported:
            cov.reporting += 1
            cov.num += 1
        cov.den += 1
        if sensor.kind == "air":
            for name in exposures:
                t[name].expected += 1
                t[name].sensors += 1
                t[name].bad += seen.bad
                t[name].reporting += int(seen.pm25 is not None)
            if seen.pm25 is not None:
                reporting_air.append((sensor, seen.pm25))
            grades = t["caiGradeDistribution"]
            grades.expected += 1
            grades.sensors += 1
            if seen.grade is not None:
                grades.reporting += 1
                grades.den += 1
                grades.parts[seen.grade] = grades.parts.get(seen.grade, 0.0) + 1
            continue
        if sensor.kind == "building":
            energy = t["buildingEnergyIntensity"]
            energy.expected += 1
            energy.sensors += 1
            energy.bad += seen.bad
            if seen.energy is not None:
                energy.reporting += 1
                energy.num += seen.energy
                energy.den += sensor.floor_m2
            continue
        if sensor.kind == "weather":
            heat = t["heatHours"]
            heat.expected += 1
            heat.sensors += 1
            heat.bad += seen.bad
            if seen.apparent is not None:
                heat.reporting += 1
                reporting_weather.append((sensor, seen.apparent))
            continue
        name = {
            "traffic": "congestionIndex",
            "parking": "parkingPressure",
            "waste": "wasteContainerFullHours",
            "streetlight": "streetlightsWorkingAtNight",
        }[sensor.kind]
        if sensor.kind == "traffic" and sensor.free_kmh is not None:
            _travel(t["travelTimeIndex"], sensor, seen, peak)
        tally = t[name]
        if sensor.kind == "streetlight" and not seen.night:
            tally.sensors += 1
            continue  # daytime: a lamp is not judged
        tally.expected += 1
        tally.sensors += 1
        tally.bad += seen.bad
        if seen.flag is not None:
            tally.reporting += 1
            tally.den += 1
            tally.num += float(seen.flag)

    # PM2.5 (and the apparent temperature) per leaf: its own sensors' mean, else the nearest
    # reporting sensor within reach; the residents above the limit
    limits = [
        (name, limit, inclusive)
        for name, limit, inclusive in (
            ("pm25ExposureKorea", PM25_KOREAN_UNHEALTHY, True),
            ("pm25ExposureWho", PM25_WHO_24H, False),
            ("pm25ExposureSensitive", PM25_KOREAN_UNHEALTHY, True),
        )
        if name in exposures
    ]
    _expose(areas, leaf_tallies, reporting_air, limits)
    _expose(areas, leaf_tallies, reporting_weather, [("heatHours", HEAT_APPARENT_C, True)])
    for leaf in areas.leaves:
        shelter = leaf_tallies[leaf.id]["shelterCapacityPerOlderResident"]
        if older is not None:
            shelter.den = older[leaf.id]
        elif leaf.population is not None:
            shelter.den = leaf.population / 1000.0
        shelter.expected = shelter.reporting = shelter.sensors
    # the walk to the nearest shelter (anywhere in the city) from each leaf, per resident
    shelters = [(s.lon, s.lat) for s, _ in judged if s.kind == "shelter"]
    if shelters:
        for leaf in areas.leaves:
            walk = leaf_tallies[leaf.id]["shelterWalkingDistance"]
            km = min(_km(leaf.centre, where) for where in shelters) * WALK_DETOUR
            w = weights[leaf.id]
            walk.num, walk.den = round(km, 6) * w, w
            walk.sensors = leaf_tallies[leaf.id]["shelterCapacityPerOlderResident"].sensors
            walk.expected = walk.reporting = 1

    out: dict[str, dict[str, Tally]] = dict(leaf_tallies)
    for area in areas.bottom_up():
        if area.is_leaf:
            continue
        total = {i.name: Tally() for i in INDICATORS}
        for child in area.children:
            for name, tally in out[child].items():
                total[name].add(tally, same_period=True)
        out[area.id] = total
    return out


def _travel(tally: Tally, sensor: Sensor, seen: SensorHour, peak: bool) -> None:
    """A road's peak hour in the travel-time index: the hour's travel time over its length
    (``num``) against the same length at its free-flow speed (``den``), both in hours."""
    tally.sensors += 1
    if not peak or sensor.free_kmh is None:
        return  # off-peak: a road is not judged
    tally.expected += 1
    tally.bad += seen.bad
    if seen.travel is not None:
        tally.reporting += 1
        tally.num += sensor.length_km * seen.travel
        tally.den += sensor.length_km / sensor.free_kmh


def _expose(
    areas: AreaMap,
    leaf_tallies: Mapping[str, Mapping[str, Tally]],
    reporting: Sequence[tuple[Sensor, float]],
    limits: Sequence[tuple[str, float, bool]],
) -> None:
    """Each leaf's value (its own sensors' mean, else the nearest reporting sensor within
    :data:`NEAREST_KM`) against each limit: the leaf's weight observed (``den``), above
    (``num``), and estimated from outside (``estimated``)."""
    by_leaf: dict[str, list[float]] = {}
    for sensor, value in reporting:
        by_leaf.setdefault(sensor.leaf, []).append(value)
    for leaf in areas.leaves:
        t = leaf_tallies[leaf.id]
        own = by_leaf.get(leaf.id)
        estimated = False
        if own:
            found: float | None = _mean(own)
        else:
            found = _nearest(leaf, reporting)
            estimated = found is not None
        if found is None:
            continue
        for name, limit, inclusive in limits:
            tally = t[name]
            w = tally.weight
            tally.den += w
            if estimated:
                tally.estimated += w
            if found >= limit if inclusive else found > limit:
                tally.num += w


def _nearest(leaf: Area, reporting: Sequence[tuple[Sensor, float]]) -> float | None:
    best: tuple[float, float] | None = None
    for sensor, value in reporting:
        d = _km(leaf.centre, (sensor.lon, sensor.lat))
        if d <= NEAREST_KM and (best is None or d < best[0]):
            best = (d, value)
    return None if best is None else best[1]


def local_attrs(history: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[Any]]:
    """A history's attributes by local name (instances with a datasetId, other sources of a
    reading, are left out), each in time order."""
    out: dict[str, list[Any]] = {}
    for key, instances in history.items():
        kept = [i for i in instances if "datasetId" not in i and not i.get("deletedAt")]
        if kept:
            out.setdefault(local_name(key), []).extend(kept)
    for instances in out.values():
        instances.sort(key=lambda i: str(i.get("observedAt", "")))
    return out


__all__ = [
    "KINDS",
    "READS",
    "SHELTER_CATEGORIES",
    "Sensor",
    "apparent_of_hour",
    "humidity_percent",
    "temperature_c",
    "SensorHour",
    "compute_hour",
    "energy_of_hour",
    "floor_area_m2",
    "free_flow_kmh",
    "is_peak",
    "is_expressway",
    "local_attrs",
    "older_of",
    "sensitive_of",
    "sensor_hour",
    "sensor_of",
    "weights_of",
]
