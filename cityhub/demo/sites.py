"""Where the demo city's assets stand (DOMAIN.md section 6.1), as data.

Landmark coordinates are approximate (DOMAIN.md 3.4: each checked to fall in its dong polygon;
verify on a map before publishing anything). Everything not at a landmark is placed at a
seeded random point inside its dong. Dong are named by their Korean names in the districts file.
"""

from __future__ import annotations

from typing import NamedTuple


class Landmark(NamedTuple):
    lon: float
    lat: float
    ko: str
    en: str


LANDMARKS: dict[str, Landmark] = {
    "moran": Landmark(127.1290, 37.4321, "모란역", "Moran Station"),
    "moran-market": Landmark(127.1300, 37.4320, "모란시장", "Moran Market"),
    "city-hall": Landmark(127.1267, 37.4200, "성남시청", "Seongnam City Hall"),
    "sinheung": Landmark(127.1472, 37.4406, "신흥역", "Sinheung Station"),
    "sujin": Landmark(127.1408, 37.4377, "수진역", "Sujin Station"),
    "dandae-ogeori": Landmark(127.1568, 37.4451, "단대오거리역", "Dandae-ogeori Station"),
    "namhansanseong": Landmark(127.1597, 37.4515, "남한산성입구역", "Namhansanseong-ipgu Station"),
    "gachon": Landmark(127.1288, 37.4507, "가천대학교", "Gachon University"),
    "sangdaewon-industrial": Landmark(
        127.1700, 37.4350, "성남일반산업단지", "Seongnam Industrial Complex"
    ),
    "yatap": Landmark(127.1286, 37.4112, "야탑역", "Yatap Station"),
    "imae": Landmark(127.1278, 37.3953, "이매역", "Imae Station"),
    "seohyeon": Landmark(127.1233, 37.3850, "서현역", "Seohyeon Station"),
    "sunae": Landmark(127.1146, 37.3784, "수내역", "Sunae Station"),
    "jeongja": Landmark(127.1081, 37.3670, "정자역", "Jeongja Station"),
    "ori": Landmark(127.1149, 37.3398, "오리역", "Ori Station"),
    "pangyo": Landmark(127.1112, 37.3948, "판교역", "Pangyo Station"),
    "ptv": Landmark(127.1083, 37.4013, "판교테크노밸리", "Pangyo Techno Valley"),
    "ptv2": Landmark(127.0990, 37.4140, "제2판교테크노밸리", "Pangyo Techno Valley 2"),
    "wirye": Landmark(127.1440, 37.4720, "위례 중심", "Wirye centre"),
    "snuh": Landmark(
        127.1235, 37.3520, "분당서울대학교병원", "Seoul National University Bundang Hospital"
    ),
}


class AirSite(NamedTuple):
    dong: str
    landmark: str | None
    offset: float  # PM offset: roadside +, industrial +, hillside -


#: 18 low-cost PM sensors at schools and senior centres (DOMAIN.md 6.1)
AIR_SENSORS = (
    AirSite("신흥2동", None, 0.0),
    AirSite("태평2동", None, 0.02),
    AirSite("수진2동", None, 0.03),
    AirSite("단대동", None, -0.04),
    AirSite("성남동", "moran", 0.15),
    AirSite("중앙동", None, 0.05),
    AirSite("금광2동", None, 0.0),
    AirSite("상대원2동", None, 0.08),
    AirSite("정자1동", None, 0.0),
    AirSite("서현1동", "seohyeon", 0.1),
    AirSite("야탑1동", None, 0.02),
    AirSite("판교동", None, -0.03),
    AirSite("삼평동", "ptv", 0.05),
    AirSite("구미동", None, -0.02),
    AirSite("위례동", None, 0.0),
    AirSite("도촌동", None, -0.02),
    AirSite("고등동", None, -0.06),
    AirSite("시흥동", "ptv2", -0.05),
)
#: PM offsets of the six AirKorea sites, by station name
STATION_OFFSETS = {
    "단대동": -0.02,
    "복정동": 0.02,
    "상대원동": 0.08,
    "수내동": 0.0,
    "운중동": -0.08,
    "정자동": 0.0,
}


class WeatherSite(NamedTuple):
    dong: str
    landmark: str | None
    ko: str
    en: str
    offset: float  # °C


WEATHER_STATIONS = (
    WeatherSite("도촌동", "city-hall", "성남시청 옥상", "City Hall roof", 0.0),
    WeatherSite("태평2동", None, "수정구청", "Sujeong-gu Office", 0.3),
    WeatherSite("서현1동", None, "분당구청", "Bundang-gu Office", -0.2),
)


class RoadSite(NamedTuple):
    key: str
    ko: str
    en: str
    dong: str
    landmark: str | None
    bearing: float  # degrees from north, towards the inbound (Seoul-bound) direction
    lanes: int  # per direction
    capacity: float  # veh/h per lane
    free_speed: float  # km/h
    peak_load: float  # demand/capacity at the busiest hour
    expressway: bool = False


#: 8 road segments, each observed in both directions (DOMAIN.md 6.1)
ROADS = (
    RoadSite("seongnamdaero-moran", "성남대로 (모란)", "Seongnam-daero (Moran)", "성남동", "moran",
             0, 3, 1000, 50, 1.45),
    RoadSite("seongnamdaero-seohyeon", "성남대로 (서현)", "Seongnam-daero (Seohyeon)", "서현1동",
             "seohyeon", 350, 3, 1000, 50, 1.15),
    RoadSite("sanseongdaero", "산성대로 (신흥)", "Sanseong-daero (Sinheung)", "중앙동", "sinheung",
             320, 2, 950, 45, 1.3),
    RoadSite("sujeongro", "수정로 (수진)", "Sujeong-ro (Sujin)", "수진1동", "sujin",
             315, 2, 900, 40, 1.0),
    RoadSite("dunchondaero", "둔촌대로 (상대원)", "Dunchon-daero (Sangdaewon)", "상대원1동",
             "sangdaewon-industrial", 300, 3, 1000, 50, 1.05),
    RoadSite("pangyoyeokro", "판교역로 (판교테크노밸리)", "Pangyoyeok-ro (Pangyo Techno Valley)",
             "삼평동", "ptv", 0, 3, 1000, 50, 1.15),
    RoadSite("bundangsuseoro", "분당수서로 (야탑)", "Bundang-Suseo Expressway (Yatap)", "야탑1동",
             None, 340, 3, 1900, 80, 1.05, True),
    RoadSite("wiryegwangjangro", "위례광장로 (위례)", "Wiryegwangjang-ro (Wirye)", "위례동",
             "wirye", 0, 2, 900, 45, 0.9),
)  # fmt: skip


class ParkingSite(NamedTuple):
    key: str
    ko: str
    en: str
    dong: str
    landmark: str | None
    kind: str  # office, residential-old, residential-new, retail, hospital
    spots: int
    market: bool = False


#: 12 public car parks, 4 per gu (DOMAIN.md 6.1)
PARKING = (
    ParkingSite("sujin", "수진공영주차장", "Sujin Public Car Park", "수진1동", None,
                "residential-old", 120),
    ParkingSite("taepyeong", "태평공영주차장", "Taepyeong Public Car Park", "태평2동", None,
                "residential-old", 90),
    ParkingSite("dandae", "단대공영주차장", "Dandae Public Car Park", "단대동", None,
                "residential-old", 80),
    ParkingSite("wirye", "위례공영주차장", "Wirye Public Car Park", "위례동", None,
                "residential-new", 300),
    ParkingSite("moran", "모란공영주차장", "Moran Public Car Park", "성남동", "moran-market",
                "retail", 400, True),
    ParkingSite("city-hall", "성남시청 주차장", "Seongnam City Hall Car Park", "도촌동",
                "city-hall", "office", 600),
    ParkingSite("sangdaewon", "상대원공영주차장", "Sangdaewon Public Car Park", "상대원1동", None,
                "office", 200),
    ParkingSite("geumgwang", "금광공영주차장", "Geumgwang Public Car Park", "금광2동", None,
                "residential-old", 100),
    ParkingSite("ptv", "판교테크노밸리 공영주차장", "Pangyo Techno Valley Public Car Park",
                "삼평동", "ptv", "office", 500),
    ParkingSite("seohyeon", "서현역 공영주차장", "Seohyeon Station Car Park", "서현1동",
                "seohyeon", "retail", 250),
    ParkingSite("jeongja", "정자동 공영주차장", "Jeongja Public Car Park", "정자1동", "jeongja",
                "retail", 150),
    ParkingSite("snuh", "분당서울대병원 주차장", "SNU Bundang Hospital Car Park", "구미동", "snuh",
                "hospital", 800),
)  # fmt: skip


class BinSite(NamedTuple):
    dong: str
    landmark: str | None
    daily_fill: float
    weekend_factor: float


#: 24 smart litter bins at stations, markets and parks, 8 per gu
LITTER_BINS = (
    BinSite("중앙동", "sinheung", 0.55, 1.0),
    BinSite("수진1동", "sujin", 0.5, 1.0),
    BinSite("신흥2동", "dandae-ogeori", 0.45, 1.0),
    BinSite("단대동", "namhansanseong", 0.5, 1.4),
    BinSite("복정동", "gachon", 0.5, 0.6),
    BinSite("태평1동", None, 0.35, 1.2),
    BinSite("위례동", None, 0.4, 1.3),
    BinSite("위례동", "wirye", 0.45, 1.3),
    BinSite("성남동", "moran", 0.6, 1.1),
    BinSite("성남동", "moran-market", 0.7, 1.3),
    BinSite("하대원동", None, 0.35, 1.1),
    BinSite("상대원1동", "sangdaewon-industrial", 0.4, 0.5),
    BinSite("은행2동", None, 0.3, 1.3),
    BinSite("도촌동", "city-hall", 0.35, 0.8),
    BinSite("금광1동", None, 0.3, 1.2),
    BinSite("상대원3동", None, 0.3, 1.2),
    BinSite("서현1동", "seohyeon", 0.65, 1.2),
    BinSite("수내1동", "sunae", 0.45, 1.1),
    BinSite("정자1동", "jeongja", 0.5, 1.2),
    BinSite("삼평동", "ptv", 0.6, 0.5),
    BinSite("백현동", "pangyo", 0.6, 1.1),
    BinSite("야탑1동", "yatap", 0.55, 1.1),
    BinSite("구미동", "ori", 0.4, 1.0),
    BinSite("정자동", None, 0.35, 1.4),
)


class KioskSite(NamedTuple):
    dong: str
    ko: str
    en: str
    units: int


#: 30 AI PET-bottle/can kiosks at 19 sites, mostly old-downtown community centres (DOMAIN.md 4.4)
KIOSKS = (
    KioskSite("신흥3동", "신흥3동 행정복지센터", "Sinheung 3-dong Community Centre", 2),
    KioskSite("태평1동", "태평1동 행정복지센터", "Taepyeong 1-dong Community Centre", 2),
    KioskSite("은행2동", "은행동 종합사회복지관", "Eunhaeng Welfare Centre", 2),
    KioskSite("성남동", "성남종합운동장", "Seongnam Sports Complex", 3),
    KioskSite("위례동", "위례동 행정복지센터", "Wirye-dong Community Centre", 2),
    KioskSite("서현1동", "분당구청", "Bundang-gu Office", 2),
    KioskSite("수진2동", "수진2동 행정복지센터", "Sujin 2-dong Community Centre", 2),
    KioskSite("중앙동", "중앙동 행정복지센터", "Jungang-dong Community Centre", 2),
    KioskSite("하대원동", "하대원동 행정복지센터", "Hadaewon-dong Community Centre", 2),
    KioskSite("단대동", "단대동 행정복지센터", "Dandae-dong Community Centre", 2),
    KioskSite("신흥1동", "신흥1동 행정복지센터", "Sinheung 1-dong Community Centre", 1),
    KioskSite("신흥2동", "신흥2동 행정복지센터", "Sinheung 2-dong Community Centre", 1),
    KioskSite("태평2동", "태평2동 행정복지센터", "Taepyeong 2-dong Community Centre", 1),
    KioskSite("태평3동", "태평3동 행정복지센터", "Taepyeong 3-dong Community Centre", 1),
    KioskSite("태평4동", "태평4동 행정복지센터", "Taepyeong 4-dong Community Centre", 1),
    KioskSite("수진1동", "수진1동 행정복지센터", "Sujin 1-dong Community Centre", 1),
    KioskSite("양지동", "양지동 행정복지센터", "Yangji-dong Community Centre", 1),
    KioskSite("금광1동", "금광1동 행정복지센터", "Geumgwang 1-dong Community Centre", 1),
    KioskSite("상대원2동", "상대원2동 행정복지센터", "Sangdaewon 2-dong Community Centre", 1),
)

#: 16 RFID food-waste bins at apartment complexes: 8 in new towns, 8 in old-downtown
#: redevelopment blocks
FOOD_BINS = (
    "정자1동", "수내2동", "서현2동", "야탑2동", "이매2동", "구미1동", "백현동", "위례동",
    "신흥2동", "태평4동", "단대동", "산성동", "금광1동", "중앙동", "은행1동", "상대원3동",
)  # fmt: skip

#: 120 streetlights: alleys and steep stairs in the old downtown (no night dimming, for
#: safety), arterials and parks in Bundang and Pangyo
OLD_DOWNTOWN_LIGHTS = ("태평2동", "신흥2동", "수진2동", "상대원2동", "금광1동", "은행1동")
NEW_TOWN_LIGHTS = ("정자1동", "서현1동", "야탑1동", "삼평동", "백현동", "판교동")
LIGHTS_PER_DONG = 10


class BuildingSite(NamedTuple):
    key: str
    ko: str
    en: str
    dong: str
    landmark: str | None
    category: str
    floor_area: float  # m²
    intensity: float  # kWh/m²/year (DOMAIN.md 4.5: 80-150)
    open_weekends: bool


#: 12 public buildings with energy meters (DOMAIN.md 6.1). Floor areas are rough estimates.
BUILDINGS = (
    BuildingSite("city-hall", "성남시청", "Seongnam City Hall", "도촌동", "city-hall", "office",
                 74_000, 140, False),
    BuildingSite("sujeong-gu-office", "수정구청", "Sujeong-gu Office", "태평2동", None, "office",
                 9_000, 120, False),
    BuildingSite("jungwon-gu-office", "중원구청", "Jungwon-gu Office", "성남동", None, "office",
                 9_000, 120, False),
    BuildingSite("bundang-gu-office", "분당구청", "Bundang-gu Office", "서현1동", None, "office",
                 12_000, 120, False),
    BuildingSite("sinheung2-centre", "신흥2동 행정복지센터", "Sinheung 2-dong Community Centre",
                 "신흥2동", None, "civic", 1_500, 100, True),
    BuildingSite("taepyeong2-centre", "태평2동 행정복지센터", "Taepyeong 2-dong Community Centre",
                 "태평2동", None, "civic", 1_600, 100, True),
    BuildingSite("sangdaewon2-centre", "상대원2동 행정복지센터",
                 "Sangdaewon 2-dong Community Centre", "상대원2동", None, "civic", 1_500, 100,
                 True),
    BuildingSite("jeongja1-centre", "정자1동 행정복지센터", "Jeongja 1-dong Community Centre",
                 "정자1동", None, "civic", 2_500, 95, True),
    BuildingSite("yatap1-centre", "야탑1동 행정복지센터", "Yatap 1-dong Community Centre",
                 "야탑1동", None, "civic", 2_400, 95, True),
    BuildingSite("pangyo-centre", "판교동 행정복지센터", "Pangyo-dong Community Centre", "판교동",
                 None, "civic", 3_000, 90, True),
    BuildingSite("jungwon-library", "중원도서관", "Jungwon Library", "은행2동", None, "public",
                 6_000, 110, True),
    BuildingSite("bundang-library", "분당도서관", "Bundang Library", "서현1동", None, "public",
                 8_000, 110, True),
)  # fmt: skip

#: 15 heat and cold shelters (경로당), weighted to dong with older populations
HEAT_SHELTERS = (
    "신흥1동", "신흥2동", "신흥3동", "태평1동", "태평3동", "수진1동", "단대동", "양지동",
    "성남동", "중앙동", "금광1동", "은행1동", "상대원3동", "하대원동", "야탑3동",
)  # fmt: skip
#: 10 civil-defence shelters in underground stations
CIVIL_DEFENCE_SHELTERS = (
    "moran", "sinheung", "sujin", "dandae-ogeori", "namhansanseong",
    "yatap", "imae", "seohyeon", "sunae", "jeongja",
)  # fmt: skip
#: 5 outdoor earthquake evacuation sites: school grounds and parks
EVACUATION_SITES = (
    ("태평3동", "초등학교 운동장", "elementary school ground"),
    ("상대원1동", "근린공원", "neighbourhood park"),
    ("위례동", "근린공원", "neighbourhood park"),
    ("정자1동", "중학교 운동장", "middle school ground"),
    ("구미동", "고등학교 운동장", "high school ground"),
)


class FloodSite(NamedTuple):
    key: str
    ko: str
    en: str
    dong: str
    lon: float
    lat: float
    underpass: bool


#: 4 Tancheon stream gauges and 2 underpasses (approximate positions)
FLOOD_SITES = (
    FloodSite("tancheon-bokjeong", "탄천 복정 수위계", "Tancheon gauge (Bokjeong)", "복정동",
              127.1190, 37.4605, False),
    FloodSite("tancheon-moran", "탄천 모란 수위계", "Tancheon gauge (Moran)", "성남동", 127.1225,
              37.4275, False),
    FloodSite("tancheon-imae", "탄천 야탑·이매 수위계", "Tancheon gauge (Yatap-Imae)", "이매1동",
              127.1262, 37.4030, False),
    FloodSite("tancheon-jeongja", "탄천 정자·수내 수위계", "Tancheon gauge (Jeongja-Sunae)",
              "정자동", 127.1135, 37.3720, False),
    FloodSite("moran-underpass", "모란 지하차도", "Moran underpass", "성남동", 127.1280, 37.4300,
              True),
    FloodSite("seohyeon-underpass", "서현 지하차도", "Seohyeon underpass", "서현1동", 127.1240,
              37.3870, True),
)  # fmt: skip
