"""The indicators (DOMAIN.md section 6.2), each as data: its name, what it reads, how its value
is formed from a :class:`~cityhub.indicators.tally.Tally`, and the words a KPI entity carries
about it. Pure.

Value kinds (``kind``):

- ``exposure``: person-hours above a limit per resident (population-weighted; each district
  counts once when the areas give no population). Hourly: the share of residents exposed in
  that hour; daily: hours above per resident, over the hours observed.
- ``share``: numerator / denominator (e.g. congested segment-hours / segment-hours observed).
- ``per1000``: numerator per 1,000 residents.
- ``distribution``: counts per class / the total (``kpiValue`` is an object).
- ``ratio``: numerator / denominator as they stand (shelter places per older resident).
- ``index``: numerator / denominator of quantities that add up over hours (the travel-time
  index: hours of travel observed / the same at free-flow speed).
- ``intensity``: a quantity per unit over the period: numerator / denominator per hour
  observed (kWh per m² of the buildings reporting that hour), times the hours included.
"""

from __future__ import annotations

from dataclasses import dataclass

#: PM2.5 1-hour means at or above this are "unhealthy" on the Korean scale (DOMAIN.md 1.1)
PM25_KOREAN_UNHEALTHY = 36.0
#: PM2.5 above this exceeds the WHO 2021 24-hour guideline (DOMAIN.md 1.3)
PM25_WHO_24H = 15.0
#: congestion by mean speed (MOLIT guideline, DOMAIN.md 4.2): arterials and expressways
CONGESTED_ARTERIAL_KMH = 15.0
CONGESTED_EXPRESSWAY_KMH = 30.0
#: a car park under pressure (DOMAIN.md 6.2 item 4)
PARKING_PRESSURE = 0.95
#: a container is full at its binFullnessThreshold, else this (DOMAIN.md 6.3)
WASTE_FULL = 0.9
#: a walk to a shelter is about this much longer than the straight line (DOMAIN.md 6.2 item 8)
WALK_DETOUR = 1.3
#: a district without an air sensor of its own takes the nearest one within this distance
NEAREST_KM = 5.0
GRADES = ("good", "moderate", "unhealthy", "veryUnhealthy")


@dataclass(frozen=True)
class Indicator:
    """One indicator.

    Attributes:
        name: its stable name (ids and the gap endpoint use it).
        kind: how the value is formed (see the module's docstring).
        title: its name in Korean and English.
        unit: what the value is in (shown on the entity).
        formula: ``calculationFormula``.
        entity_types: what it aggregates (``aggregatedData``), with the attributes read.
        higher_is_worse: which way is worse (the gap's direction); None: neither.
    """

    name: str
    kind: str
    title: dict[str, str]
    unit: str
    formula: str
    entity_types: tuple[tuple[str, tuple[str, ...]], ...]
    higher_is_worse: bool | None = True


INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "pm25ExposureKorea",
        "exposure",
        {"ko": "초미세먼지 '나쁨' 노출 시간", "en": "PM2.5 exposure hours, Korean 'unhealthy'"},
        "hours per resident",
        "sum over hours of residents whose district's PM2.5 1-h mean >= 36 ug/m3 / residents "
        "(district mean of its sensors, else the nearest sensor within 5 km)",
        (("AirQualityObserved", ("pm25",)),),
    ),
    Indicator(
        "pm25ExposureWho",
        "exposure",
        {"ko": "초미세먼지 WHO 권고기준 초과 시간", "en": "PM2.5 hours above the WHO guideline"},
        "hours per resident",
        "sum over hours of residents whose district's PM2.5 1-h mean > 15 ug/m3 (WHO 2021 "
        "24-h guideline) / residents",
        (("AirQualityObserved", ("pm25",)),),
    ),
    Indicator(
        "pm25ExposureSensitive",
        "exposure",
        {
            "ko": "민감군(어린이·노인) 초미세먼지 '나쁨' 노출 시간",
            "en": "PM2.5 exposure hours of sensitive groups (children, 65+), Korean 'unhealthy'",
        },
        "hours per resident aged 65+ or under 15",
        "sum over hours of residents aged 65+ (populationAged65Plus) and under 15 "
        "(populationUnder15, when given) whose district's PM2.5 1-h mean >= 36 ug/m3 / those "
        "residents; only where every district gives its residents aged 65+",
        (("AirQualityObserved", ("pm25",)), ("AdministrativeArea", ("populationAged65Plus",))),
    ),
    Indicator(
        "caiGradeDistribution",
        "distribution",
        {"ko": "통합대기환경지수 등급 분포", "en": "CAI grade distribution"},
        "share of station-hours per grade",
        "station-hours per airQualityLevel (good, moderate, unhealthy, veryUnhealthy) / "
        "station-hours with a grade",
        (("AirQualityObserved", ("airQualityLevel",)),),
        None,
    ),
    Indicator(
        "monitoringCoverage",
        "share",
        {"ko": "관측 자료 완전성", "en": "Monitoring coverage"},
        "share of sensor-hours reported",
        "sensors that reported a usable reading in the hour / sensors in the district",
        (
            ("AirQualityObserved", ("pm25",)),
            ("TrafficFlowObserved", ("averageVehicleSpeed",)),
            ("OffStreetParking", ("occupancy",)),
            ("WasteContainer", ("fillingLevel",)),
            ("Streetlight", ("status", "powerState")),
            ("WeatherObserved", ("temperature", "relativeHumidity")),
            ("Building", ("totalActiveEnergyImport", "totalActivePower")),
        ),
        False,
    ),
    Indicator(
        "congestionIndex",
        "share",
        {"ko": "교통 혼잡 지수", "en": "Congestion index"},
        "share of segment-hours congested",
        "segment-hours with a mean speed <= 15 km/h (arterial) or <= 30 km/h (expressway) / "
        "segment-hours observed",
        (("TrafficFlowObserved", ("averageVehicleSpeed",)),),
    ),
    Indicator(
        "parkingPressure",
        "share",
        {"ko": "주차 압박", "en": "Parking pressure"},
        "share of car-park-hours at >= 95 %",
        "car-park-hours with a mean occupancy >= 0.95 / car-park-hours observed",
        (("OffStreetParking", ("occupancy",)), ("OnStreetParking", ("occupancy",))),
    ),
    Indicator(
        "wasteContainerFullHours",
        "per1000",
        {"ko": "쓰레기통 가득 찬 시간", "en": "Waste container full-hours"},
        "container-hours per 1,000 residents",
        "container-hours with a fillingLevel >= binFullnessThreshold (default 0.9) / "
        "(residents / 1000)",
        (("WasteContainer", ("fillingLevel",)),),
    ),
    Indicator(
        "streetlightsWorkingAtNight",
        "share",
        {"ko": "야간 가로등 정상 작동률", "en": "Streetlights working at night"},
        "share of lamp-hours at night",
        "lamp-hours whose every reading taken at night (the sun 3 degrees below the horizon "
        "at the lamp) was status ok, powerState on or low and powerConsumption > 0 / "
        "lamp-hours at night observed",
        (("Streetlight", ("status", "powerState", "powerConsumption")),),
        False,
    ),
    Indicator(
        "shelterCapacityPerOlderResident",
        "ratio",
        {"ko": "고령 주민당 쉼터 수용 인원", "en": "Shelter places per older resident"},
        "places per resident aged 65+ (per 1,000 residents when no age data)",
        "peopleCapacity of heat, cold and civil-defence shelters / residents aged 65+ "
        "(populationAged65Plus; without it: / (residents / 1000))",
        (("PointOfInterest", ("peopleCapacity", "category")),),
        False,
    ),
    Indicator(
        "shelterWalkingDistance",
        "ratio",
        {"ko": "가장 가까운 쉼터까지 보행 거리", "en": "Walking distance to the nearest shelter"},
        "km (population-weighted)",
        "straight-line distance from the district's representative point to the nearest "
        "shelter x 1.3 (DOMAIN.md 6.2 item 8), weighted by residents over the districts",
        (("PointOfInterest", ("category", "location")),),
    ),
    Indicator(
        "travelTimeIndex",
        "index",
        {"ko": "출퇴근 시간 통행시간 지수", "en": "Travel-time index at the peaks"},
        "travel time / free-flow travel time",
        "sum over road-hours at the peaks of working days (07-09 and 18-20, the city's time; "
        "weekdays that are not public holidays) of length "
        "x mean(1 / averageVehicleSpeed) / sum of length / free-flow speed (freeFlowSpeed, "
        "else maximumAllowedSpeed)",
        (
            ("TrafficFlowObserved", ("averageVehicleSpeed",)),
            ("RoadSegment", ("freeFlowSpeed", "maximumAllowedSpeed", "length")),
        ),
    ),
    Indicator(
        "buildingEnergyIntensity",
        "intensity",
        {"ko": "공공건물 에너지 원단위", "en": "Energy intensity of public buildings"},
        "kWh per m² over the period",
        "sum over building-hours of the energy metered (the rise of totalActiveEnergyImport, "
        "else the mean totalActivePower x 1 h) / sum of the grossFloorArea of the buildings "
        "reporting, x the hours included",
        (("Building", ("totalActiveEnergyImport", "totalActivePower", "grossFloorArea")),),
    ),
    Indicator(
        "heatHours",
        "exposure",
        {"ko": "체감온도 33 °C 이상 시간", "en": "Hours of apparent temperature at or above 33 °C"},
        "hours per resident",
        "sum over hours of residents whose district's apparent temperature (KMA's summer "
        "formula from temperature and relative humidity, the hour's mean) >= 33 C / residents "
        "(district mean of its weather stations, else the nearest within 5 km)",
        (("WeatherObserved", ("temperature", "relativeHumidity")),),
    ),
)
BY_NAME = {i.name: i for i in INDICATORS}

__all__ = [
    "BY_NAME",
    "CONGESTED_ARTERIAL_KMH",
    "CONGESTED_EXPRESSWAY_KMH",
    "GRADES",
    "INDICATORS",
    "NEAREST_KM",
    "PARKING_PRESSURE",
    "PM25_KOREAN_UNHEALTHY",
    "PM25_WHO_24H",
    "WALK_DETOUR",
    "WASTE_FULL",
    "Indicator",
]
