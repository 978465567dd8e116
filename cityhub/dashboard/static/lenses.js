// What matters about each Smart Data Models type, as one of four ordered classes
// (0 good .. 3 bad) drawn with the colour-blind-safe ramp, or null (no judgement: grey).

export const RAMP = ["#2c7bb6", "#abd9e9", "#fdae61", "#d7191c"];
export const NONE = "#8d99a6";

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

// the Korean grade (0..3) of a concentration against a pollutant's CAI bands (whole
// numbers for PM: truncated first, as AirKorea reports them)
export function bandOf(value, bands, places = 0) {
  const f = 10 ** places;
  const v = Math.floor(value * f) / f;
  for (let i = 0; i < bands.length; i++) if (v <= bands[i][1]) return i;
  return bands.length - 1;
}

const PLACES = { pm25: 0, pm10: 0, o3: 3, no2: 3, so2: 3, co: 2 };

// AirQualityObserved: the CAI grade the hub computed (airQualityLevel, airQualityIndex), else
// PM2.5 (then PM10) against the Korean bands; in the WHO view, PM2.5 against the WHO 2021
// 24-hour guideline (1x, 2x, 4x)
export function airClass(p, cfg, view) {
  const aq = cfg.airQuality;
  if (view === "who") {
    for (const name of ["pm25", "pm10"]) {
      const v = num(p[name]);
      if (v !== null) {
        const r = v / aq.who[name].level;
        return { cls: r <= 1 ? 0 : r <= 2 ? 1 : r <= 4 ? 2 : 3, key: "who", pollutant: name, value: v };
      }
    }
    return null;
  }
  const level = typeof p.airQualityLevel === "string" ? aq.grades.indexOf(p.airQualityLevel) : -1;
  if (level >= 0) return { cls: level, key: "grade" };
  const index = num(p.airQualityIndex);
  if (index !== null) {
    const bands = [[0, 50], [51, 100], [101, 250], [251, 500]];
    return { cls: bandOf(index, bands), key: "grade" };
  }
  for (const name of ["pm25", "pm10"]) {
    const v = num(p[name]);
    if (v !== null) return { cls: bandOf(v, aq.scales[name].bands, PLACES[name]), key: "grade", pollutant: name, value: v };
  }
  return null;
}

function ratioClass(v, cuts) {
  if (v === null) return null;
  let c = 0;
  while (c < cuts.length && v >= cuts[c]) c++;
  return { cls: c, key: "level" };
}

export function occupancyOf(p) {
  const occ = num(p.occupancy);
  if (occ !== null) return occ;
  const total = num(p.totalSpotNumber);
  const used = num(p.occupiedSpotNumber);
  const free = num(p.availableSpotNumber);
  if (total && used !== null) return used / total;
  if (total && free !== null) return 1 - free / total;
  return null;
}

const LENSES = {
  AirQualityObserved: airClass,
  OffStreetParking: (p) => ratioClass(occupancyOf(p), [0.7, 0.9, 0.95]),
  OnStreetParking: (p) => ratioClass(occupancyOf(p), [0.7, 0.9, 0.95]),
  WasteContainer: (p) => {
    if (p.status === "burning") return { cls: 3, key: "level" };
    const full = num(p.binFullnessThreshold) ?? 0.9;
    return ratioClass(num(p.fillingLevel), [0.5, 0.75, full]);
  },
  Streetlight: (p) => {
    if (typeof p.status === "string" && p.status !== "ok") return { cls: 3, key: "level" };
    if (p.powerState === "on" && num(p.powerConsumption) === 0) return { cls: 2, key: "level" };
    return p.status === "ok" ? { cls: 0, key: "level" } : null;
  },
  FloodMonitoring: (p) => {
    const level = num(p.currentLevel);
    const alert = num(p.alertLevel);
    const danger = num(p.dangerLevel);
    if (level === null || alert === null) return null;
    if (danger !== null && level >= danger) return { cls: 3, key: "level" };
    if (level >= alert) return { cls: 2, key: "level" };
    return { cls: level >= 0.8 * alert ? 1 : 0, key: "level" };
  },
  TrafficFlowObserved: (p) => {
    const v = num(p.averageVehicleSpeed);
    if (v === null) return p.congested === true ? { cls: 3, key: "level" } : null;
    return { cls: v <= 15 ? 3 : v <= 25 ? 2 : v <= 35 ? 1 : 0, key: "level" };
  },
  PointOfInterest: (p) => {
    const cap = num(p.capacity);
    const occ = num(p.occupancy);
    return cap && occ !== null ? ratioClass(occ / cap, [0.6, 0.8, 0.9]) : null;
  },
};

export function classify(type, props, cfg, airView) {
  const lens = LENSES[type];
  return lens ? lens(props, cfg, airView) : null;
}

export function colourOf(c) {
  return c == null ? NONE : RAMP[c.cls];
}

// District indicators for the choropleth: each reads the entities that name the district
// (refAdministrativeArea) and gives a number, with the classes it is drawn in.
export const INDICATORS = {
  none: null,
  pm25: { types: ["AirQualityObserved"], value: (p) => num(p.pm25), mean: true, classOf: (v, cfg) => bandOf(v, cfg.airQuality.scales.pm25.bands) },
  cai: { types: ["AirQualityObserved"], value: (p) => num(p.airQualityIndex), mean: true, classOf: (v) => bandOf(v, [[0, 50], [51, 100], [101, 250], [251, 500]]) },
  occupancy: { types: ["OffStreetParking", "OnStreetParking"], value: occupancyOf, mean: true, classOf: (v) => (v < 0.7 ? 0 : v < 0.9 ? 1 : v < 0.95 ? 2 : 3) },
  fillingLevel: { types: ["WasteContainer"], value: (p) => num(p.fillingLevel), mean: true, classOf: (v) => (v < 0.5 ? 0 : v < 0.75 ? 1 : v < 0.9 ? 2 : 3) },
  lightFaults: { types: ["Streetlight"], value: (p) => (typeof p.status === "string" && p.status !== "ok" ? 1 : 0), mean: false, classOf: (v) => (v === 0 ? 0 : v === 1 ? 2 : 3) },
  sensors: { types: null, value: (p) => (p.refDevice ? 1 : 0), mean: false, perArea: true, classOf: (v) => (v >= 10 ? 0 : v >= 4 ? 1 : v >= 1 ? 2 : 3) },
};

// the indicator's value per district id: {value, n}
export function districtValues(indicator, entities, areas) {
  const acc = new Map();
  for (const e of entities.values()) {
    if (indicator.types && !indicator.types.includes(e.type)) continue;
    const ref = e.props.refAdministrativeArea;
    if (typeof ref !== "string") continue;
    const v = indicator.value(e.props);
    if (v === null || v === undefined) continue;
    const a = acc.get(ref) || { sum: 0, n: 0, values: [] };
    a.sum += v;
    a.n += 1;
    a.values.push(v);
    acc.set(ref, a);
  }
  const out = new Map();
  for (const [id, a] of acc) {
    let value = indicator.mean ? a.sum / a.n : a.sum;
    if (indicator.perArea) {
      const km2 = num(areas.get(id)?.area);
      if (!km2) continue;
      value = a.sum / km2;
    }
    out.set(id, { value, n: a.n, values: a.values });
  }
  return out;
}
