// Every label of the control tower in Korean and English; the page switches at any time.
export const LABELS = {
  ko: {
    title: "관제탑", skipToAlerts: "경보로 건너뛰기", langHint: "언어 바꾸기",
    langButton: "English", map: "지도", mapLabel: "도시 지도: 화살표 키로 이동, + 와 - 로 확대 축소",
    layers: "레이어", airView: "대기질 기준", airKorea: "한국 통합대기환경지수(CAI) 등급",
    airWho: "WHO 2021 권고기준", choropleth: "행정동 색 기준", find: "찾기",
    alerts: "진행 중인 경보", noAlerts: "진행 중인 경보가 없습니다.", details: "상세 정보",
    pickEntity: "지도에서 장소를 고르거나 이름으로 찾으세요.", history: "이력",
    period: "집계 기간", byHour: "시간별", byDay: "일별", byWeek: "주별",
    compare: "구도심과 신도시 비교", live: "실시간", connecting: "연결 중", reconnecting: "다시 연결 중",
    locate: "위치 보기", acknowledge: "확인", close: "종료", acknowledged: "확인됨",
    newCritical: "새 심각 경보", chart: "그래프", noHistory: "이 기간의 기록이 없습니다.",
    none: "없음", noData: "자료 없음", mean: "평균", n: "수", zone: "지역",
    legendAir: "대기질", legendOther: "상태 (좋음 → 나쁨)", legendDistricts: "행정동",
    district: "행정동", updated: "갱신", sensorsPerKm2: "센서 밀도 (개/km²)",
    published: "도시 서비스 지표 (행정동별)", fromSensors: "현재 센서 값으로 계산", kpiFrequency: "지표 기간",
    daily: "일별 (지난 하루)", hourly: "시간별 (지난 한 시간)", coverage: "자료 완전성", withData: "자료 있는 행정동",
    thinDashed: "곳은 완전성 50 % 미만 (점선, 흐리게)", noGap: "지역 비교 자료가 없습니다",
    gapValue: "값", interval95: "95 % 구간", measured: "측정 행정동", rank: "순위",
    tooThin: "순위 없음: 자료 부족", noInterval: "구간 없음", notRanked: "순위를 매기지 않음",
    noDirection: "이 지표에는 좋고 나쁨의 방향이 없습니다", tooFewZones: "자료가 충분한 지역이 둘 미만입니다",
    worseFirst: "순위: 1 이 가장 나쁨", 
    thresholds: { minDistricts: "자체 센서로 측정된 행정동이 3곳 미만", minSensors: "지역 안의 센서가 3개 미만", minCoverage: "예상 관측 시간의 절반 미만 보고" },
    measures: { exposure: "관측된 인구·시간 중 기준 초과 비율", share: "지역 합산 비율", per1000: "관측된 쓰레기통·시간 중 가득 찬 비율", distribution: "관측소·시간 중 '나쁨' 이상 비율", ratio: "지역 합산 비", index: "지역 도로·시간 합산 통행시간 비", intensity: "지역 건물·시간 합산 m²·시간당 kWh" },
    kpiUnits: { pm25ExposureKorea: "주민 1인당 시간", pm25ExposureWho: "주민 1인당 시간", caiGradeDistribution: "'나쁨' 이상 관측소·시간 비율", monitoringCoverage: "보고된 센서·시간 비율", congestionIndex: "혼잡 구간·시간 비율", parkingPressure: "95 % 이상 주차장·시간 비율", wasteContainerFullHours: "주민 1,000명당 쓰레기통·시간", streetlightsWorkingAtNight: "야간 가로등·시간 비율", shelterCapacityPerOlderResident: "65세 이상 주민 1인당 수용 인원", pm25ExposureSensitive: "65세 이상·15세 미만 주민 1인당 시간", shelterWalkingDistance: "km (주민 수 가중)", heatHours: "주민 1인당 시간", travelTimeIndex: "통행시간 / 자유 흐름 통행시간", buildingEnergyIntensity: "기간 중 m²당 kWh" },
    signIn: "로그인", signOut: "로그아웃", credential: "API 키 또는 토큰", signInFailed: "인증 실패",
    signInNeeded: "이 허브는 사용자 확인이 필요합니다: API 키나 베어러 토큰을 넣으세요.",
    worst: "가장 나쁨",
    failed: "요청 실패", severity: { critical: "심각", high: "높음", medium: "보통", low: "낮음", informational: "알림" },
    categories: { environment: "환경", weather: "기상", naturalDisaster: "자연재해", traffic: "교통", security: "안전", device: "장치", health: "보건", agriculture: "농업" },
    subCategories: {
      airPollution: "대기오염", dust: "황사", flood: "침수", floodRisk: "침수 위험", rainfall: "호우", heatWave: "폭염", coldWave: "한파",
      wasteContainerFull: "쓰레기통 가득 참", wasteContainerFire: "쓰레기통 화재", parkingFull: "주차장 만차", trafficJam: "교통 정체",
      streetlightFault: "가로등 고장", deviceStuck: "센서 값 고정", valueOutOfRange: "측정값 범위 초과", deviceOffline: "통신 끊김", batteryLow: "배터리 부족",
    },
    grades: { good: "좋음", moderate: "보통", unhealthy: "나쁨", veryUnhealthy: "매우나쁨" },
    who: ["WHO 권고기준 이내", "권고기준의 2배 이내", "권고기준의 2~4배", "권고기준의 4배 초과"],
    levels: ["정상", "주의", "경고", "위험"],
    zones: { "old-downtown": "구도심", "new-town-1990s": "1기 신도시 (분당)", "new-town-2000s": "2기 신도시 (판교·위례)", "peri-urban": "도시 외곽" },
    indicators: { none: "없음", pm25: "초미세먼지 PM2.5 평균", cai: "통합대기환경지수 평균", occupancy: "주차장 점유율 평균", fillingLevel: "쓰레기통 채움 평균", lightFaults: "가로등 고장 수", sensors: "센서 밀도" },
    types: {
      AdministrativeArea: "행정구역", AirQualityObserved: "대기질", WeatherObserved: "기상", TrafficFlowObserved: "교통량",
      RoadSegment: "도로", OffStreetParking: "주차장", OnStreetParking: "노상 주차", ParkingSpot: "주차면",
      WasteContainer: "쓰레기통", Streetlight: "가로등", Building: "건물", PointOfInterest: "대피소·시설",
      FloodMonitoring: "수위", Device: "장치", Alert: "경보", NoiseLevelObserved: "소음", KeyPerformanceIndicator: "지표",
      CrowdFlowObserved: "유동 인구", WeatherAlert: "기상 특보",
    },
  },
  en: {
    title: "Control tower", skipToAlerts: "Skip to alerts", langHint: "Switch language",
    langButton: "한국어", map: "Map", mapLabel: "City map: arrow keys pan, + and - zoom",
    layers: "Layers", airView: "Air quality view", airKorea: "Korean grade (CAI)",
    airWho: "WHO 2021 guideline", choropleth: "Districts coloured by", find: "Find",
    alerts: "Open alerts", noAlerts: "No open alerts.", details: "Details",
    pickEntity: "Pick a place on the map, or find one by name.", history: "History",
    period: "Aggregation period", byHour: "Hourly", byDay: "Daily", byWeek: "Weekly",
    compare: "Old downtown and new towns", live: "Live", connecting: "Connecting", reconnecting: "Reconnecting",
    locate: "Show on map", acknowledge: "Acknowledge", close: "Close", acknowledged: "acknowledged",
    newCritical: "New critical alert", chart: "Chart", noHistory: "No records in this period.",
    none: "None", noData: "No data", mean: "Mean", n: "n", zone: "Zone",
    legendAir: "Air quality", legendOther: "Condition (good → bad)", legendDistricts: "Districts",
    district: "District", updated: "updated", sensorsPerKm2: "Sensors per km²",
    published: "City services' indicators (per district)", fromSensors: "From the sensors now", kpiFrequency: "Indicator period",
    daily: "Daily (last day)", hourly: "Hourly (last hour)", coverage: "coverage", withData: "districts with data",
    thinDashed: "under 50 % coverage (dashed, faded)", noGap: "No zone comparison for this indicator",
    gapValue: "Value", interval95: "95 % interval", measured: "Measured", rank: "Rank",
    tooThin: "not ranked: too thin", noInterval: "no interval", notRanked: "Not ranked",
    noDirection: "this indicator has no better or worse direction", tooFewZones: "fewer than two zones have enough data",
    worseFirst: "Rank 1 is the worst",
    thresholds: { minDistricts: "fewer than 3 districts measured by their own sensors", minSensors: "fewer than 3 sensors in the zone", minCoverage: "under half the expected sensor-hours reported" },
    measures: { exposure: "share of observed person-hours above the limit", share: "pooled share over the zone", per1000: "share of observed container-hours full", distribution: "share of station-hours unhealthy or worse", ratio: "pooled ratio over the zone", index: "travel-time ratio pooled over the zone's road-hours", intensity: "kWh per m² and hour pooled over the zone's building-hours" },
    kpiUnits: { pm25ExposureKorea: "hours per resident", pm25ExposureWho: "hours per resident", caiGradeDistribution: "share of station-hours unhealthy or worse", monitoringCoverage: "share of sensor-hours reported", congestionIndex: "share of segment-hours congested", parkingPressure: "share of car-park-hours at ≥ 95 %", wasteContainerFullHours: "container-hours per 1,000 residents", streetlightsWorkingAtNight: "share of lamp-hours at night", shelterCapacityPerOlderResident: "places per resident aged 65+", pm25ExposureSensitive: "hours per resident aged 65+ or under 15", shelterWalkingDistance: "km (weighted by residents)", heatHours: "hours per resident", travelTimeIndex: "travel time / free-flow travel time", buildingEnergyIntensity: "kWh per m² over the period" },
    signIn: "Sign in", signOut: "Sign out", credential: "API key or token", signInFailed: "Not accepted",
    signInNeeded: "This hub asks who you are: give an API key or a bearer token.",
    worst: "worst",
    failed: "Request failed", severity: { critical: "critical", high: "high", medium: "medium", low: "low", informational: "info" },
    categories: { environment: "Environment", weather: "Weather", naturalDisaster: "Natural disaster", traffic: "Traffic", security: "Safety", device: "Device", health: "Health", agriculture: "Agriculture" },
    subCategories: {
      airPollution: "air pollution", dust: "Asian dust", flood: "flooding", floodRisk: "flood risk", rainfall: "heavy rain", heatWave: "heat wave", coldWave: "cold wave",
      wasteContainerFull: "bin full", wasteContainerFire: "bin fire", parkingFull: "car park full", trafficJam: "traffic jam",
      streetlightFault: "streetlight fault", deviceStuck: "sensor value stuck", valueOutOfRange: "reading out of range", deviceOffline: "offline", batteryLow: "battery low",
    },
    grades: { good: "Good", moderate: "Moderate", unhealthy: "Unhealthy", veryUnhealthy: "Very unhealthy" },
    who: ["Within the WHO guideline", "Up to 2× the guideline", "2–4× the guideline", "Over 4× the guideline"],
    levels: ["Normal", "Watch", "Warning", "Danger"],
    zones: { "old-downtown": "Old downtown", "new-town-1990s": "1990s new town (Bundang)", "new-town-2000s": "2000s new towns (Pangyo, Wirye)", "peri-urban": "Peri-urban" },
    indicators: { none: "None", pm25: "PM2.5 mean", cai: "CAI mean", occupancy: "Parking occupancy mean", fillingLevel: "Bin fill mean", lightFaults: "Streetlight faults", sensors: "Sensor density" },
    types: {
      AdministrativeArea: "Districts", AirQualityObserved: "Air quality", WeatherObserved: "Weather", TrafficFlowObserved: "Traffic",
      RoadSegment: "Roads", OffStreetParking: "Car parks", OnStreetParking: "Street parking", ParkingSpot: "Parking spots",
      WasteContainer: "Bins", Streetlight: "Streetlights", Building: "Buildings", PointOfInterest: "Shelters and places",
      FloodMonitoring: "Water level", Device: "Devices", Alert: "Alerts", NoiseLevelObserved: "Noise", KeyPerformanceIndicator: "Indicators",
      CrowdFlowObserved: "Crowds", WeatherAlert: "Weather warnings",
    },
  },
};

// the label of a dotted key in a language, falling back to English, then the key
// a code's label (an Alert's category, subCategory...), else the code itself: a city's own
// codes show as they are
export function codeLabel(lang, group, code) {
  const found = LABELS[lang]?.[group]?.[code] ?? LABELS.en[group]?.[code];
  return typeof found === "string" ? found : String(code);
}

export function label(lang, key) {
  for (const table of [LABELS[lang], LABELS.en]) {
    let v = table;
    for (const part of key.split(".")) v = v == null ? undefined : v[part];
    if (v != null) return v;
  }
  return key;
}

// a LanguageProperty's value ({ko, en} in keyValues, or a plain string) in a language
export function pickLang(value, lang) {
  if (value == null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") {
    const map = value.languageMap || value;
    return map[lang] || map.en || map.ko || Object.values(map).find((v) => typeof v === "string") || "";
  }
  return String(value);
}
