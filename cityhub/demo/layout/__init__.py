"""Placing the demo city's assets inside Seongnam's dong (tables in ``cityhub.demo.sites``)."""

from __future__ import annotations

from cityhub.demo.geography import Geography
from cityhub.demo.layout import environment, infrastructure, services
from cityhub.demo.layout.builder import Builder
from cityhub.demo.model import Asset


def build_assets(geography: Geography) -> list[Asset]:
    """Every entity of the demo city, always in the same order and at the same places."""
    b = Builder(geography)
    environment.districts(b)
    environment.air_quality(b)
    environment.weather_and_water(b)
    infrastructure.roads(b)
    infrastructure.parking(b)
    infrastructure.streetlights(b)
    infrastructure.buildings(b)
    services.waste(b)
    services.shelters(b)
    return b.assets
