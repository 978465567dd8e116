"""Waste containers (litter bins, AI recycling kiosks, RFID food-waste bins) and shelters."""

from __future__ import annotations

from cityhub.demo import sites
from cityhub.demo.layout.builder import Builder
from cityhub.demo.model import point, prop, slug
from cityhub.demo.patterns.waste import Container
from cityhub.demo.readings import BinParams, ShelterParams

KIOSK_DESCRIPTION = "AI PET-bottle and can reverse-vending kiosk (무인회수기), 10 points a bottle"


def waste(b: Builder) -> None:
    """``WasteContainer``s told apart by ``category`` and ``storedWasteKind``: 24 smart litter
    bins, 30 AI PET-bottle/can kiosks at 19 sites, 16 RFID food-waste bins."""
    for i, s in enumerate(sites.LITTER_BINS, start=1):
        dong, loc = b.where(s.dong, s.landmark)
        local = f"bin-{slug(dong.name_en)}-{i:02d}"
        b.add(
            "litter-bin",
            "WasteContainer",
            local,
            dong,
            loc,
            (f"{dong.name_ko} 스마트 휴지통 {i:02d}", f"{dong.name_en} smart litter bin {i:02d}"),
            attrs={
                "category": prop(["fixed", "streetLitterBin"]),
                "storedWasteKind": prop(["inorganic"]),
                "binCapacity": prop(120, "LTR"),
                "binFullnessThreshold": prop(0.9, "C62"),
                "status": prop("ok"),
            },
            params=BinParams(Container(local, "litter", s.daily_fill, 1, 6.0, s.weekend_factor)),
            device=(["fillingLevel"], True),
        )
    for k in sites.KIOSKS:
        dong, centre = b.where(k.dong)
        for unit in range(1, k.units + 1):
            lon, lat = centre["coordinates"]
            loc = point(lon + 0.00002 * (unit - 1), lat)
            local = f"kiosk-{slug(dong.name_en)}-{unit}"
            items = 1000 if unit % 2 else 1200
            b.add(
                "kiosk",
                "WasteContainer",
                local,
                dong,
                loc,
                (f"{k.ko} AI 재활용 회수기 {unit}", f"{k.en} AI recycling kiosk {unit}"),
                attrs={
                    "category": prop(["fixed", "recyclingKiosk"]),
                    "storedWasteKind": prop(["plastic", "metal"]),
                    "binCapacity": prop(items, "H87"),
                    "binFullnessThreshold": prop(0.9, "C62"),
                    "status": prop("ok"),
                    "description": prop(KIOSK_DESCRIPTION),
                },
                params=BinParams(
                    Container(local, "kiosk", 0.35 * 1000 / items, 2, 10.0, 1.3),
                    kiosk_items=items,
                ),
                device=(["fillingLevel", "weight"], False),
            )
    for i, dong_ko in enumerate(sites.FOOD_BINS, start=1):
        dong, loc = b.where(dong_ko)
        local = f"foodbin-{slug(dong.name_en)}"
        b.add(
            "food-bin",
            "WasteContainer",
            local,
            dong,
            loc,
            (
                f"{dong.name_ko} 아파트 음식물 RFID 수거함",
                f"{dong.name_en} apartment RFID food-waste bin",
            ),
            attrs={
                "category": prop(["fixed", "rfidFoodWasteBin"]),
                "storedWasteKind": prop(["organic"]),
                "binCapacity": prop(120, "LTR"),
                "binFullnessThreshold": prop(0.9, "C62"),
                "status": prop("ok"),
            },
            params=BinParams(
                Container(local, "food", 0.55 + 0.02 * (i % 6), 1, 7.0, 1.1), food_kg=80.0
            ),
            device=(["fillingLevel", "weight"], False),
        )


def shelters(b: Builder) -> None:
    """30 ``PointOfInterest`` shelters: 15 heat/cold shelters at senior centres (occupancy
    reported), 10 civil-defence shelters in underground stations, 5 earthquake evacuation
    sites."""
    for dong_ko in sites.HEAT_SHELTERS:
        dong, loc = b.where(dong_ko)
        local = f"shelter-{slug(dong.name_en)}"
        capacity = 20 + 10 * (len(dong.name_ko) % 4)
        b.add(
            "heat-shelter",
            "PointOfInterest",
            local,
            dong,
            loc,
            (
                f"{dong.name_ko} 경로당 무더위·한파쉼터",
                f"{dong.name_en} senior centre heat/cold shelter",
            ),
            attrs={
                "category": prop(["heatShelter", "coldShelter"]),
                "alternateName": prop("무더위쉼터 · 한파쉼터"),
                "peopleCapacity": prop(capacity),
                "openingHours": prop(["Mo-Su 09:00-18:00"]),
            },
            params=ShelterParams(local, capacity),
            device=(["occupancy"], False),
        )
    for key in sites.CIVIL_DEFENCE_SHELTERS:
        lm = sites.LANDMARKS[key]
        station_dong = b.geo.dong_at(lm.lon, lm.lat)
        assert station_dong is not None, key
        b.add(
            "static",
            "PointOfInterest",
            f"civil-defence-{key}",
            station_dong,
            point(lm.lon, lm.lat),
            (f"{lm.ko} 민방위 대피소", f"{lm.en} civil-defence shelter"),
            attrs={
                "category": prop(["civilDefenceShelter"]),
                "alternateName": prop("민방위대피소"),
                "peopleCapacity": prop(3000),
            },
        )
    for dong_ko, ko, en in sites.EVACUATION_SITES:
        dong, loc = b.where(dong_ko)
        b.add(
            "static",
            "PointOfInterest",
            f"evacuation-{slug(dong.name_en)}",
            dong,
            loc,
            (
                f"{dong.name_ko} {ko} 지진 옥외대피장소",
                f"{dong.name_en} {en} earthquake evacuation site",
            ),
            attrs={
                "category": prop(["earthquakeEvacuationSite"]),
                "alternateName": prop("지진 옥외대피장소"),
                "peopleCapacity": prop(2000),
            },
        )
