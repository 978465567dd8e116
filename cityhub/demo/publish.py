"""The demo city's open data (issue 19): the simulator publishes every type of the city but
the sensors' ``Device`` entities, and the district indicators the city services derive,
through the publishing rules' admin API like an operator would (``PUT
/admin/publishing/{type}``; the demo hub runs open), under CC-BY-4.0, with the history of the
types that have readings."""

from __future__ import annotations

import httpx

from cityhub.demo.city import City

ATTRIBUTION = (
    "cityhub Seongnam demo: synthetic readings (cityhub-simulator); district boundaries "
    "Statistics Korea (KOSTAT) SGIS 2018, KOGL Type 1"
)
#: what each published type is, in English and Korean (catalogues, the /data page)
TITLES = {
    "AdministrativeArea": ("Districts (gu and dong)", "행정구역 (구·동)"),
    "AirQualityObserved": ("Air quality", "대기질"),
    "WeatherObserved": ("Weather", "기상 관측"),
    "RoadSegment": ("Road segments", "도로 구간"),
    "TrafficFlowObserved": ("Traffic flow", "교통량"),
    "OffStreetParking": ("Parking lots", "노외 주차장"),
    "WasteContainer": ("Waste containers", "폐기물 수거함"),
    "Streetlight": ("Streetlights", "가로등"),
    "Building": ("Public buildings and their energy", "공공건물 에너지"),
    "PointOfInterest": ("Shelters", "대피소"),
    "FloodMonitoring": ("Flood monitoring", "하천 수위"),
    "KeyPerformanceIndicator": ("District indicators", "행정동 지표"),
}
#: what the city services derive from the city, published beside it (issue 19: "the city
#: services' indicators are collections too"), with their history
DERIVED = ("KeyPerformanceIndicator",)
UNPUBLISHED = frozenset({"Device"})


async def publish_city(client: httpx.AsyncClient, city: City) -> list[str]:
    """Publish the city's types; returns their names. Raises httpx.HTTPStatusError when the
    hub refuses a rule."""
    types = sorted(({a.entity_type for a in city.assets} | set(DERIVED)) - UNPUBLISHED)
    live = {a.entity_type for a in city.live} | set(DERIVED)
    for name in types:
        en, ko = TITLES.get(name, (name, name))
        response = await client.put(
            f"/admin/publishing/{name}",
            json={
                "license": "CC-BY-4.0",
                "attribution": ATTRIBUTION,
                "history": name in live,
                "title": f"{en} ({ko})",
                "description": f"Seongnam demo city: {en} / 성남시 데모: {ko}",
                "keywords": ["seongnam", "성남", "smart city", name],
            },
        )
        response.raise_for_status()
    return types


__all__ = ["ATTRIBUTION", "DERIVED", "TITLES", "publish_city"]
