// The districts coloured by a published indicator (the city services' KeyPerformanceIndicator
// entities, one per district, indicator and frequency: docs/indicators.md) and the zones'
// comparison from GET /indicators/gap, with its 95 % intervals drawn.

const SVG = "http://www.w3.org/2000/svg";

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

// an attribute's value in the API's normalized form ({type, value} or a list of instances)
function valueOf(attr) {
  const first = Array.isArray(attr) ? attr.find((a) => !a.datasetId) || attr[0] : attr;
  if (!first || typeof first !== "object") return undefined;
  return "object" in first ? first.object : first.value;
}

// a KPI's value as a number: a grade distribution ({good: 0.6, unhealthy: 0.1, ...}) as its
// share "unhealthy" or worse (what the gap compares it by); "noData" and the like: null
export function kpiNumber(value) {
  if (value && typeof value === "object") {
    const parts = Object.values(value).filter((v) => num(v) !== null);
    if (!parts.length) return null;
    return (num(value.unhealthy) ?? 0) + (num(value.veryUnhealthy) ?? 0);
  }
  return num(value);
}

// the KPI entities (normalized) as district id -> {value, coverage, sensors, period}
export function kpiValues(entities) {
  const out = new Map();
  for (const e of entities) {
    const area = valueOf(e.refAdministrativeArea);
    const kpi = Array.isArray(e.kpiValue) ? e.kpiValue[0] : e.kpiValue;
    if (typeof area !== "string" || !kpi) continue;
    const period = valueOf(e.calculationPeriod);
    out.set(area, {
      value: kpiNumber(kpi.value),
      coverage: num(valueOf(kpi.dataCoverage)),
      sensors: num(valueOf(kpi.sensors)),
      estimated: num(valueOf(kpi.estimatedShare)),
      period: period && typeof period === "object" ? period : null,
    });
  }
  return out;
}

// four classes of equal width between the smallest and the largest value (good -> bad:
// reversed when a higher value is better); [] when there is no value
export function kpiBreaks(values) {
  const xs = values.filter((v) => v !== null);
  if (!xs.length) return [];
  const lo = Math.min(...xs), hi = Math.max(...xs);
  if (hi === lo) return [lo, lo, lo, lo, hi];
  const step = (hi - lo) / 4;
  return [lo, lo + step, lo + 2 * step, lo + 3 * step, hi];
}

export function kpiClass(value, breaks, higherIsWorse) {
  if (value === null || breaks.length < 5) return null;
  let c = 0;
  while (c < 3 && value > breaks[c + 1]) c++;
  if (breaks[0] === breaks[4]) c = 0;
  return higherIsWorse === false ? 3 - c : c;
}

// districts whose value rests on less than half the sensor-hours expected are drawn faded
export const THIN_COVERAGE = 0.5;

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// one zone's value and 95 % interval on a shared axis [lo, hi] (an SVG of width W)
export function intervalBar(row, lo, hi, colour) {
  const W = 160, H = 22, P = 6;
  const x = (v) => P + ((v - lo) / (hi - lo || 1)) * (W - 2 * P);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "ci", role: "img" });
  el("line", { x1: P, x2: W - P, y1: H / 2, y2: H / 2, class: "ci-axis" }, svg);
  if (row.interval) {
    const a = x(row.interval.low), b = x(row.interval.high);
    el("line", { x1: a, x2: b, y1: H / 2, y2: H / 2, class: "ci-range", stroke: colour, "data-low": row.interval.low, "data-high": row.interval.high }, svg);
    for (const at of [a, b]) el("line", { x1: at, x2: at, y1: H / 2 - 6, y2: H / 2 + 6, class: "ci-cap", stroke: colour }, svg);
  }
  if (num(row.value) !== null) el("circle", { cx: x(row.value), cy: H / 2, r: 4.5, class: "ci-value", fill: colour }, svg);
  return svg;
}

// the axis shared by the zones: every value and interval end, with a little room
export function axisOf(rows) {
  const xs = [];
  for (const r of rows) {
    if (num(r.value) !== null) xs.push(r.value);
    if (r.interval) xs.push(r.interval.low, r.interval.high);
  }
  if (!xs.length) return [0, 1];
  const lo = Math.min(0, ...xs), hi = Math.max(...xs);
  return [lo, hi === lo ? lo + 1 : hi];
}
