"""Roads with traffic sensors, car parks, streetlights and public buildings."""

from __future__ import annotations

from shapely.geometry import mapping

from cityhub.demo import sites
from cityhub.demo.geography import metres_between
from cityhub.demo.layout.builder import Builder
from cityhub.demo.model import point, prop, rel, slug
from cityhub.demo.patterns import energy, mobility
from cityhub.demo.readings import ParkingParams


def roads(b: Builder) -> None:
    """8 road segments (``RoadSegment``), each observed in both directions
    (``TrafficFlowObserved`` at the segment's middle, with a loop-detector Device)."""
    for r in sites.ROADS:
        dong, centre = b.where(r.dong, r.landmark)
        line = b.geo.segment(tuple(centre["coordinates"]), r.bearing, 700, dong)
        segment = b.add(
            "static",
            "RoadSegment",
            r.key,
            dong,
            dict(mapping(line)),
            (r.ko, r.en),
            attrs={
                "totalLaneNumber": prop(2 * r.lanes),
                "maximumAllowedSpeed": prop(80 if r.expressway else 60, "KMH"),
                # the simulator's own free-flow speed (a cityhub extension: the travel-time
                # index's reference, docs/indicators.md)
                "freeFlowSpeed": prop(r.free_speed, "KMH"),
                "length": prop(round(metres_between(*line.coords)), "MTR"),
                "category": prop(["urbanExpressway" if r.expressway else "arterial"]),
            },
        )
        middle = line.interpolate(0.5, normalized=True)
        for direction, inbound in (("inbound", True), ("outbound", False)):
            label_ko = "서울 방향" if inbound else "성남 방향"
            label_en = "towards Seoul" if inbound else "away from Seoul"
            b.add(
                "traffic",
                "TrafficFlowObserved",
                f"{r.key}-{direction}",
                dong,
                point(middle.x, middle.y),
                (f"{r.ko} {label_ko}", f"{r.en}, {label_en}"),
                attrs={
                    "refRoadSegment": rel(segment.id),
                    "laneDirection": prop("forward" if inbound else "backward"),
                    "laneId": prop(1 if inbound else 2),
                    "vehicleType": prop("anyVehicle"),
                },
                params=mobility.Road(
                    key=f"{r.key}-{direction}",
                    lanes=r.lanes,
                    capacity=r.capacity,
                    free_speed=r.free_speed,
                    peak_load=r.peak_load,
                    inbound=inbound,
                    expressway=r.expressway,
                ),
                device=(["trafficFlow"], False),
            )


def parking(b: Builder) -> None:
    """12 public car parks (``OffStreetParking``), 4 per gu, with entrance counters."""
    for p in sites.PARKING:
        dong, loc = b.where(p.dong, p.landmark)
        b.add(
            "parking",
            "OffStreetParking",
            f"parking-{p.key}",
            dong,
            loc,
            (p.ko, p.en),
            attrs={
                "totalSpotNumber": prop(p.spots),
                "category": prop(["public", "feeCharged"]),
                "parkingKind": prop(p.kind),
            },
            params=ParkingParams(p.key, p.kind, p.spots, p.market),
            device=(["occupancy"], False),
        )


def streetlights(b: Builder) -> None:
    """120 streetlights: 60 in old-downtown alleys and stairs (40-80 W, not dimmed at night
    for safety), 60 on Bundang and Pangyo arterials (100-200 W) and in parks (60-80 W)."""
    for dong_ko in sites.OLD_DOWNTOWN_LIGHTS + sites.NEW_TOWN_LIGHTS:
        old = dong_ko in sites.OLD_DOWNTOWN_LIGHTS
        for i in range(1, sites.LIGHTS_PER_DONG + 1):
            dong, loc = b.where(dong_ko)
            if old:
                category, watts = (
                    ("pedestrianPath" if i % 3 == 0 else "sidewalk"),
                    40 + 10 * (i % 5),
                )
            elif i <= 7:
                category, watts = "road", 100 + 25 * (i % 5)
            else:
                category, watts = "park", 60 + 10 * (i % 3)
            local = f"light-{slug(dong.name_en)}-{i:02d}"
            b.add(
                "streetlight",
                "Streetlight",
                local,
                dong,
                loc,
                (f"{dong.name_ko} 가로등 {i:02d}", f"{dong.name_en} streetlight {i:02d}"),
                attrs={
                    "locationCategory": prop(category),
                    "lanternType": prop("LED"),
                    "ratedPower": prop(watts, "WTT"),
                },
                params=energy.Lamp(local, float(watts), dims=not old),
                device=(["light"], False),  # its lamp controller (a CMS node)
            )


def buildings(b: Builder) -> None:
    """12 public buildings (``Building``) with an energy meter: City Hall, the 3 gu offices,
    6 community centres and 2 libraries. ``grossFloorArea`` is a cityhub extension."""
    for s in sites.BUILDINGS:
        dong, loc = b.where(s.dong, s.landmark)
        # peak load so that the yearly mean matches the intensity (the shape averages ~0.55)
        peak = s.floor_area * s.intensity / 8760 / 0.55
        b.add(
            "building",
            "Building",
            s.key,
            dong,
            loc,
            (s.ko, s.en),
            attrs={
                "category": prop([s.category]),
                "grossFloorArea": prop(s.floor_area, "MTK"),
                "openingHours": prop(
                    ["Mo-Su 09:00-18:00"] if s.open_weekends else ["Mo-Fr 09:00-18:00"]
                ),
            },
            params=energy.Building(s.key, round(peak, 1), s.open_weekends),
            device=(["electricityConsumption"], False),
        )
