// The cityhub control tower. Reads the hub's NGSI-LD API (entities, temporal) with the
// tenant of the page's ?tenant=, and listens to /dashboard/feed for which entities changed.
import { codeLabel, label, pickLang } from "./i18n.js";
import { INDICATORS, RAMP, NONE, classify, colourOf, districtValues } from "./lenses.js";
import { drawChart } from "./chart.js";
import { THIN_COVERAGE, axisOf, intervalBar, kpiBreaks, kpiClass, kpiValues } from "./kpi.js";

const cfg = JSON.parse(document.getElementById("cityhub-config").textContent);
const params = new URLSearchParams(location.search);
const tenant = params.get("tenant") || "";
const SEVERITY = ["critical", "high", "medium", "low", "informational"];
const HIDDEN_BY_DEFAULT = new Set(["Device", "Building", "RoadSegment"]);
// not drawn as points: the districts, alerts (their own panel) and the district indicators
// (the choropleth reads them)
const NOT_LAYERS = new Set(["AdministrativeArea", "Alert", "KeyPerformanceIndicator", "IndicatorState"]);
const KPI = "kpi:";
const PAGE = 1000;

const state = {
  lang: localStorage.getItem("cityhub.lang") || params.get("lang") || cfg.language || "ko",
  airView: "korea",
  indicator: "none",
  kpiFrequency: "daily",
  catalogue: [], // GET /indicators: the published indicators
  kpi: null, // {name, frequency, values: Map(district id -> {value, coverage, ...}), breaks, gap}
  entities: new Map(), // id -> {id, type, props, geometry, layer}
  areas: new Map(), // district id -> props
  districtLayers: new Map(), // district id -> Leaflet layer
  layers: new Map(), // type -> {group, on}
  alerts: new Map(), // id -> props
  selected: null,
  history: null, // {id, attr, period}
  seenAlerts: new Set(),
  loaded: false,
};
window.cityhub = state; // for people debugging the screen, and for the end-to-end tests

const t = (key) => label(state.lang, key);

// ---- credentials ----------------------------------------------------------------------
// With access control on, the person gives an API key or a bearer token once; it stays in this
// tab (sessionStorage) and travels only in the Authorization header of the page's own fetches,
// the live feed's included (read with fetch, not EventSource, which cannot send headers): never
// in a URL, so never in an access log or a browser history.
const CREDENTIAL = "cityhub.credential";
let credential = sessionStorage.getItem(CREDENTIAL);
function withAuth(headers) {
  if (credential) headers.Authorization = `Bearer ${credential}`;
  return headers;
}
let signedIn = null; // resolves once the person has given a credential
let whenSignedIn = null;
function askCredential(message) {
  const form = document.getElementById("signin");
  form.hidden = false;
  document.getElementById("signin-error").textContent = message || "";
  document.body.dataset.signin = "needed";
  document.getElementById("credential").focus();
  if (!signedIn) signedIn = new Promise((resolve) => { whenSignedIn = resolve; });
  return signedIn;
}
document.getElementById("signin").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = document.getElementById("credential");
  const value = input.value.trim();
  if (!value) return;
  credential = value;
  input.value = "";
  sessionStorage.setItem(CREDENTIAL, credential);
  document.getElementById("signin").hidden = true;
  document.getElementById("signout").hidden = false;
  delete document.body.dataset.signin;
  const resolve = whenSignedIn;
  signedIn = whenSignedIn = null;
  if (resolve) resolve();
});
document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(CREDENTIAL);
  credential = null;
  location.reload();
});
document.getElementById("signout").hidden = !credential;

// ---- the API --------------------------------------------------------------------------
class Unauthorized extends Error {}

async function api(path, { method = "GET", body, accept = "application/json" } = {}) {
  const headers = withAuth({ Accept: accept });
  if (tenant) headers["NGSILD-Tenant"] = tenant;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(cfg.api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    const error = response.status === 401 ? new Unauthorized(detail) : new Error(`${response.status} ${detail}`);
    error.status = response.status;
    throw error;
  }
  return response.status === 204 ? null : response;
}

// the hub's own endpoints beside the NGSI-LD API (the city services': /indicators...)
async function hubGet(path) {
  const headers = withAuth({ Accept: "application/json" });
  if (tenant) headers["NGSILD-Tenant"] = tenant;
  const response = await fetch(path, { headers });
  const doc = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(`${response.status} ${doc.detail || response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return doc;
}

async function features(query) {
  const out = [];
  for (let offset = 0; ; offset += PAGE) {
    const r = await api(`/entities?${query}&options=keyValues&limit=${PAGE}&offset=${offset}`, { accept: "application/geo+json" });
    const page = (await r.json()).features || [];
    out.push(...page);
    if (page.length < PAGE) return out;
  }
}

// ---- time in the city's zone ------------------------------------------------------------
const fmt = (opts) => new Intl.DateTimeFormat(state.lang === "ko" ? "ko-KR" : "en-GB", { timeZone: cfg.timeZone, ...opts });
function formatDateTime(value) {
  const d = typeof value === "number" ? new Date(value) : new Date(value && value["@value"] ? value["@value"] : value);
  if (Number.isNaN(d.getTime())) return String(value);
  return fmt({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }).format(d);
}
function tick() {
  const clock = document.getElementById("clock");
  const now = new Date();
  clock.dateTime = now.toISOString();
  clock.textContent = fmt({ month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" }).format(now);
}

// ---- the map -----------------------------------------------------------------------------
const map = L.map("map", { zoomSnap: 0.25, preferCanvas: false, attributionControl: true, keyboard: true, center: [37.4074, 127.1163], zoom: 12 });
state.map = map;
map.attributionControl.setPrefix(`cityhub ${cfg.version} · Leaflet ${cfg.libraries.leaflet}`);
if (cfg.baseMap.url) L.tileLayer(cfg.baseMap.url, { attribution: cfg.baseMap.attribution || "" }).addTo(map);
map.createPane("districts").style.zIndex = 350;
const districtGroup = L.featureGroup().addTo(map);
const alertGroup = L.layerGroup().addTo(map);

function districtStyle(id) {
  const props = state.areas.get(id) || {};
  const level = props.administrativeLevel || "dong";
  if (level !== "dong") return { color: "#dfe7ef", weight: level === "gu" ? 2.5 : 3.5, fill: false, interactive: false, className: "ch-district" };
  const indicator = INDICATORS[state.indicator];
  let fillColor = "#26374b", fillOpacity = 0.55;
  if (state.indicator.startsWith(KPI)) {
    const v = state.kpi?.values.get(id);
    const c = v ? kpiClass(v.value, state.kpi.breaks, state.kpi.meta?.higherIsWorse) : null;
    if (c === null) return { color: "#6f8aa6", weight: 1, fill: true, fillColor: NONE, fillOpacity: 0.35, className: "ch-district" };
    // thin coverage: faded, with a dashed outline (not told by colour alone)
    const thin = v.coverage !== null && v.coverage < THIN_COVERAGE;
    return { color: thin ? "#dfe7ef" : "#6f8aa6", weight: thin ? 1.5 : 1, dashArray: thin ? "4 3" : null, fill: true, fillColor: RAMP[c], fillOpacity: thin ? 0.3 : 0.7, className: "ch-district" };
  }
  if (indicator) {
    const v = state.districtValues?.get(id);
    if (v) { fillColor = RAMP[indicator.classOf(v.value, cfg)]; fillOpacity = 0.55; } else { fillColor = "#26374b"; fillOpacity = 0.3; }
  }
  return { color: "#6f8aa6", weight: 1, fill: true, fillColor, fillOpacity, className: "ch-district" };
}

function drawDistricts(list) {
  districtGroup.clearLayers();
  state.districtLayers.clear();
  for (const f of list) {
    if (!f.geometry) continue;
    state.areas.set(f.id, f.properties);
  }
  const order = { city: 0, si: 0, gu: 1, dong: 2 };
  const sorted = list.filter((f) => f.geometry).sort((a, b) => (order[b.properties.administrativeLevel] ?? 2) - (order[a.properties.administrativeLevel] ?? 2));
  for (const f of sorted) {
    const layer = L.geoJSON(f.geometry, { pane: "districts", style: () => districtStyle(f.id) });
    layer.bindTooltip(() => districtTooltip(f.id), { sticky: true });
    layer.on("add", () => mark(layer, "data-district", f.id, f.properties.administrativeLevel || "dong"));
    layer.addTo(districtGroup);
    mark(layer, "data-district", f.id, f.properties.administrativeLevel || "dong");
    state.districtLayers.set(f.id, layer);
  }
  if (sorted.length) {
    // keep the city clear of the tools floating over the map's right side (wide screens)
    const tools = document.querySelector(".map-tools");
    const over = getComputedStyle(tools).position === "absolute" ? tools.offsetWidth + 20 : 10;
    map.fitBounds(districtGroup.getBounds(), { paddingTopLeft: [10, 10], paddingBottomRight: [over, 10] });
  }
}

function mark(layer, attr, id, level) {
  layer.eachLayer?.((l) => {
    const node = l.getElement?.();
    if (node) { node.setAttribute(attr, id); if (level) node.setAttribute("data-level", level); }
  });
}

function districtTooltip(id) {
  const p = state.areas.get(id) || {};
  let text = `<strong>${escapeHtml(pickLang(p.name, state.lang))}</strong>`;
  if (state.indicator.startsWith(KPI)) {
    const v = state.kpi?.values.get(id);
    text += `<br>${escapeHtml(kpiTitle())}: ${v && v.value !== null ? `${round(v.value)} ${escapeHtml(kpiUnit())}` : t("noData")}`;
    if (v && v.coverage !== null) text += `<br>${escapeHtml(t("coverage"))}: ${Math.round(v.coverage * 100)} %`;
    return text;
  }
  const v = state.districtValues?.get(id);
  if (state.indicator !== "none") text += `<br>${escapeHtml(t(`indicators.${state.indicator}`))}: ${v ? round(v.value) : t("noData")}`;
  return text;
}

function paintDistricts() {
  for (const [id, layer] of state.districtLayers) {
    layer.setStyle(districtStyle(id));
    const v = state.kpi?.values.get(id);
    layer.eachLayer?.((l) => {
      const node = l.getElement?.();
      if (!node) return;
      if (state.indicator.startsWith(KPI) && v) node.setAttribute("data-coverage", v.coverage === null ? "" : String(v.coverage));
      else node.removeAttribute("data-coverage");
    });
  }
}

// ---- published indicators (KeyPerformanceIndicator entities) and the gap ------------------
const kpiMeta = (name) => state.catalogue.find((i) => i.name === name) || null;
const kpiTitle = () => { const m = state.kpi?.meta; return m ? (m.title?.[state.lang] || m.name) : ""; };
const kpiUnit = () => { const m = state.kpi?.meta; return m ? label(state.lang, `kpiUnits.${m.name}`).startsWith("kpiUnits.") ? m.unit : t(`kpiUnits.${m.name}`) : ""; };

async function loadKpi() {
  const name = state.indicator.slice(KPI.length);
  const frequency = state.kpiFrequency;
  const q = encodeURIComponent(`indicator=="${name}";calculationFrequency=="${frequency}"`);
  const entities = [];
  try {
    for (let offset = 0; ; offset += PAGE) {
      const attrs = "kpiValue,refAdministrativeArea,calculationPeriod";
      const page = await (await api(`/entities?type=KeyPerformanceIndicator&q=${q}&attrs=${attrs}&limit=${PAGE}&offset=${offset}`)).json();
      entities.push(...page);
      if (page.length < PAGE) break;
    }
  } catch (e) { report(e); }
  let gap = null;
  try {
    gap = await hubGet(`${cfg.indicators}/gap?indicator=${encodeURIComponent(name)}&frequency=${frequency}`);
  } catch (e) { gap = { error: e.message }; }
  if (state.indicator !== KPI + name || state.kpiFrequency !== frequency) return; // chosen again since
  const values = kpiValues(entities);
  // the districts drawn (the dong): the level the gap compares, else every district
  const dong = [...values].filter(([id]) => (state.areas.get(id)?.administrativeLevel || "dong") === (gap?.level || "dong"));
  const breaks = kpiBreaks(dong.map(([, v]) => v.value));
  state.kpi = { name, frequency, meta: kpiMeta(name), values, breaks, gap };
  paintDistricts();
  renderLegend();
  renderCompare();
  document.getElementById("compare").dataset.loaded = KPI + name;
}

let kpiTimer = null;
function kpiChanged() { // the city services wrote indicators: read them again, at most every 2 s
  if (!state.indicator.startsWith(KPI) || kpiTimer) return;
  kpiTimer = setTimeout(() => { kpiTimer = null; loadKpi(); }, 2000);
}

function restyleDistricts() {
  if (state.indicator.startsWith(KPI)) {
    document.getElementById("kpi-frequency-row").hidden = false;
    if (state.kpi?.name !== state.indicator.slice(KPI.length) || state.kpi?.frequency !== state.kpiFrequency) {
      state.kpi = null;
      delete document.getElementById("compare").dataset.loaded;
      paintDistricts();
      loadKpi();
    } else paintDistricts();
    renderLegend();
    renderCompare();
    return;
  }
  document.getElementById("kpi-frequency-row").hidden = true;
  state.kpi = null;
  const indicator = INDICATORS[state.indicator];
  state.districtValues = indicator ? districtValues(indicator, state.entities, state.areas) : null;
  for (const [id, layer] of state.districtLayers) layer.setStyle(districtStyle(id));
  renderLegend();
  renderCompare();
}

// ---- entities as layers ------------------------------------------------------------------
function layerOf(type) {
  let entry = state.layers.get(type);
  if (!entry) {
    entry = { group: L.featureGroup(), cells: L.layerGroup(), on: !HIDDEN_BY_DEFAULT.has(type), clustered: false, points: 0 };
    // drawn once the first load is done (recluster): as cells, if dense, never point by point
    if (entry.on && state.loaded) entry.group.addTo(map);
    state.layers.set(type, entry);
    renderLayerList();
  }
  return entry;
}

// ---- dense points at city zoom: counted in cells -------------------------------------------
// Below CLUSTER_ZOOM, a layer of more than CLUSTER_MIN points is drawn as cells of a
// CELL_PX-pixel grid (in the map's projection at that zoom, so panning keeps them): one mark
// per cell with how many points it holds, coloured by its worst class (the one to look at);
// choosing a cell zooms into it. Zoomed in, each point is its own marker again.
const CLUSTER_ZOOM = 14, CLUSTER_MIN = 300, CELL_PX = 64;

function clusterLayer(type, entry) {
  const zoom = map.getZoom();
  const want = entry.on && zoom < CLUSTER_ZOOM && entry.points > CLUSTER_MIN;
  entry.clustered = want;
  entry.cells.clearLayers();
  if (!want) {
    entry.cells.remove();
    if (entry.on && !map.hasLayer(entry.group)) entry.group.addTo(map);
    return;
  }
  entry.group.remove();
  if (!map.hasLayer(entry.cells)) entry.cells.addTo(map);
  const cells = new Map();
  for (const e of state.entities.values()) {
    if (e.type !== type || !e.pointLike || !e.geometry) continue;
    const [lng, lat] = e.geometry.coordinates;
    const p = map.project([lat, lng], zoom);
    const key = `${Math.floor(p.x / CELL_PX)}:${Math.floor(p.y / CELL_PX)}`;
    const cell = cells.get(key) || { n: 0, lat: 0, lng: 0, worst: -1 };
    cell.n += 1;
    cell.lat += lat;
    cell.lng += lng;
    if (e.cls && e.cls.cls > cell.worst) cell.worst = e.cls.cls;
    cells.set(key, cell);
  }
  for (const cell of cells.values()) {
    const cls = cell.worst < 0 ? "none" : String(cell.worst);
    const size = Math.round(26 + 6 * Math.log10(cell.n));
    const typeName = label(state.lang, `types.${type}`).startsWith("types.") ? type : t(`types.${type}`);
    const text = `${cell.n} ${typeName}` + (cell.worst >= 0 ? `, ${t("worst")}: ${label(state.lang, "levels")[cell.worst]}` : "");
    const icon = L.divIcon({ className: `ch-cluster c${cls}`, iconSize: [size, size], html: "" });
    const at = [cell.lat / cell.n, cell.lng / cell.n];
    const mark = L.marker(at, { icon, keyboard: true, title: text, alt: text });
    mark.on("add", () => {
      const node = mark.getElement();
      node.textContent = String(cell.n);
      node.dataset.type = type;
      node.dataset.count = String(cell.n);
      node.dataset.class = cls;
      node.setAttribute("aria-label", text);
    });
    mark.on("click", () => map.setView(at, Math.min(CLUSTER_ZOOM, zoom + 2)));
    entry.cells.addLayer(mark);
  }
}

let clusterTimer = null;
function reclusterSoon() { // after a batch of updates: at most every 500 ms
  if (clusterTimer) return;
  clusterTimer = setTimeout(() => { clusterTimer = null; recluster(); }, 500);
}
function recluster() {
  for (const [type, entry] of state.layers) {
    entry.points = entry.group.getLayers().filter((l) => l.getLatLng).length;
    clusterLayer(type, entry);
  }
}
map.on("zoomend", recluster);

function tagMarker(e) {
  const node = e.pointLike ? e.layer?.getElement?.() : null;
  if (node) {
    node.setAttribute("data-entity", e.id);
    node.setAttribute("data-class", e.cls ? String(e.cls.cls) : "none");
  }
}

function markerStyle(e) {
  const c = classify(e.type, e.props, cfg, state.airView);
  const colour = colourOf(c);
  return { c, style: { radius: c ? 7 : 5, color: "#e8eef4", weight: 1.5, fillColor: colour, fillOpacity: 0.95, className: "ch-marker" } };
}

function upsertEntity(f) {
  const type = f.properties.type;
  if (type === "AdministrativeArea") { state.areas.set(f.id, f.properties); return; }
  if (type === "Alert") { upsertAlert(f); return; }
  const e = state.entities.get(f.id) || { id: f.id, type };
  e.props = f.properties;
  e.geometry = f.geometry;
  state.entities.set(f.id, e);
  if (!f.geometry) return;
  const { c, style } = markerStyle(e);
  const group = layerOf(type).group;
  const pointLike = f.geometry.type === "Point";
  if (e.layer && e.pointLike === pointLike && pointLike) {
    e.layer.setLatLng([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
    e.layer.setStyle(style);
  } else {
    if (e.layer) group.removeLayer(e.layer);
    e.layer = pointLike
      ? L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], style)
      : L.geoJSON(f.geometry, { style: () => ({ color: colourOf(c) === NONE ? "#c3ced9" : colourOf(c), weight: 4, className: "ch-marker" }) });
    e.pointLike = pointLike;
    e.layer.on("click", () => select(e.id));
    e.layer.bindTooltip(() => entityTooltip(e.id));
    e.layer.on("add", () => tagMarker(e)); // drawn again (zoomed in from the cells)
    group.addLayer(e.layer);
  }
  e.cls = c;
  tagMarker(e);
  if (state.layers.get(type)?.clustered) reclusterSoon();
}

function removeEntity(id) {
  const e = state.entities.get(id);
  if (e) {
    if (e.layer) state.layers.get(e.type)?.group.removeLayer(e.layer);
    state.entities.delete(id);
  }
  if (state.alerts.has(id)) { state.alerts.delete(id); renderAlerts(); }
}

function entityTooltip(id) {
  const e = state.entities.get(id);
  if (!e) return "";
  const name = pickLang(e.props.name, state.lang) || id;
  let text = `<strong>${escapeHtml(name)}</strong><br>${escapeHtml(t(`types.${e.type}`))}`;
  if (e.cls) text += `<br>${escapeHtml(classText(e.cls))}`;
  return text;
}

function classText(c) {
  if (c.key === "grade") return label(state.lang, `grades.${cfg.airQuality.grades[c.cls]}`);
  if (c.key === "who") return label(state.lang, "who")[c.cls];
  return label(state.lang, "levels")[c.cls];
}

function restyleMarkers() {
  for (const e of state.entities.values()) if (e.geometry) upsertEntity({ id: e.id, geometry: e.geometry, properties: e.props });
}

function renderLayerList() {
  const box = document.getElementById("layers");
  for (const node of [...box.querySelectorAll("label")]) node.remove();
  const types = [...state.layers.keys()].sort((a, b) => t(`types.${a}`).localeCompare(t(`types.${b}`)));
  for (const type of types) {
    const entry = state.layers.get(type);
    const row = document.createElement("label");
    const box2 = document.createElement("input");
    box2.type = "checkbox";
    box2.checked = entry.on;
    box2.dataset.type = type;
    box2.addEventListener("change", () => {
      entry.on = box2.checked;
      if (entry.on) { entry.group.addTo(map); restyleMarkers(); } else { entry.group.remove(); entry.cells.remove(); entry.clustered = false; }
      recluster();
    });
    const name = document.createElement("span");
    name.textContent = label(state.lang, `types.${type}`).startsWith("types.") ? type : t(`types.${type}`);
    const n = document.createElement("span");
    n.className = "n";
    n.textContent = String(entry.group.getLayers().length);
    row.append(box2, name, n);
    box.appendChild(row);
  }
}

function renderLegend() {
  const box = document.getElementById("legend");
  box.textContent = "";
  const air = state.airView === "who" ? label(state.lang, "who") : cfg.airQuality.grades.map((g) => label(state.lang, `grades.${g}`));
  const section = (title, note, items) => {
    const head = document.createElement("strong");
    head.textContent = title;
    box.appendChild(head);
    if (note) {
      const span = document.createElement("span");
      span.className = "muted";
      span.textContent = ` (${note})`;
      box.appendChild(span);
    }
    const ul = document.createElement("ul");
    for (const [text, colour] of items) {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour; // the CSSOM, which the page's CSP allows
      li.append(swatch, text);
      ul.appendChild(li);
    }
    box.appendChild(ul);
  };
  if (state.indicator.startsWith(KPI) && state.kpi) kpiLegend(box);
  section(t("legendAir"), t(state.airView === "who" ? "airWho" : "airKorea"), air.map((k, i) => [k, RAMP[i]]));
  section(t("legendOther"), "", [...label(state.lang, "levels").map((k, i) => [k, RAMP[i]]), [t("noData"), NONE]]);
}

// the choropleth's legend: the classes with their ranges and unit, "no data", and coverage
function kpiLegend(box) {
  const { meta, breaks, values } = state.kpi;
  const wrap = document.createElement("div");
  wrap.id = "kpi-legend";
  const head = document.createElement("strong");
  head.textContent = kpiTitle();
  const unitLine = document.createElement("div");
  unitLine.className = "muted";
  unitLine.textContent = `${kpiUnit()} · ${t(state.kpiFrequency === "daily" ? "daily" : "hourly")}`;
  wrap.append(head, unitLine);
  const ul = document.createElement("ul");
  if (breaks.length === 5) {
    for (let i = 0; i < 4; i++) {
      if (i > 0 && breaks[0] === breaks[4]) break;
      const cls = meta?.higherIsWorse === false ? 3 - i : i;
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch sq";
      swatch.style.background = RAMP[cls];
      li.dataset.class = String(cls);
      li.append(swatch, breaks[0] === breaks[4] ? round(breaks[0]) : `${round(breaks[i])} – ${round(breaks[i + 1])}`);
      ul.appendChild(li);
    }
  }
  const none = document.createElement("li");
  const swatch = document.createElement("span");
  swatch.className = "swatch sq";
  swatch.style.background = NONE;
  none.append(swatch, t("noData"));
  ul.appendChild(none);
  wrap.appendChild(ul);
  const dong = [...state.districtLayers.keys()].filter((id) => (state.areas.get(id)?.administrativeLevel || "dong") === "dong");
  const withData = dong.filter((id) => values.get(id)?.value != null);
  const covs = withData.map((id) => values.get(id).coverage).filter((c) => c !== null);
  const thin = covs.filter((c) => c < THIN_COVERAGE).length;
  const cov = document.createElement("p");
  cov.id = "kpi-coverage";
  cov.className = "muted";
  const mean = covs.length ? Math.round((covs.reduce((s, c) => s + c, 0) / covs.length) * 100) : null;
  cov.textContent = `${t("withData")} ${withData.length}/${dong.length}` + (mean === null ? "" : ` · ${t("coverage")} ${mean} %`) + (thin ? ` · ${thin} ${t("thinDashed")}` : "");
  wrap.appendChild(cov);
  box.appendChild(wrap);
}

// ---- alerts ------------------------------------------------------------------------------
function upsertAlert(f) {
  const p = f.properties;
  const open = p.validTo == null || new Date(p.validTo["@value"] || p.validTo).getTime() > Date.now();
  if (!open) { state.alerts.delete(f.id); renderAlerts(); return; }
  const isNew = state.loaded && !state.seenAlerts.has(f.id);
  state.seenAlerts.add(f.id);
  state.alerts.set(f.id, { ...p, id: f.id, geometry: f.geometry, isNew: isNew || state.alerts.get(f.id)?.isNew });
  renderAlerts();
  if (isNew && p.severity === "critical") announceCritical(f.id, p);
}

function announceCritical(id, p) {
  document.getElementById("alert-announce").textContent = `${t("newCritical")}: ${pickLang(p.description, state.lang)}`;
  try {
    const audio = new AudioContext();
    const osc = audio.createOscillator();
    osc.frequency.value = 880;
    osc.connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  } catch (e) { /* no sound before a person has touched the page: the highlight remains */ }
}

function renderAlerts() {
  const list = document.getElementById("alert-list");
  const alerts = [...state.alerts.values()].sort((a, b) => {
    const s = sevRank(a.severity) - sevRank(b.severity);
    return s !== 0 ? s : String(dateOf(b.dateIssued)).localeCompare(String(dateOf(a.dateIssued)));
  });
  list.textContent = "";
  alertGroup.clearLayers();
  for (const a of alerts) {
    const li = document.createElement("li");
    li.className = "alert" + (a.isNew ? " new" : "");
    li.dataset.severity = a.severity || "informational";
    li.dataset.alert = a.id;
    li.dataset.acknowledged = a.acknowledged === true ? "true" : "false";
    const head = document.createElement("div");
    head.className = "head";
    const sev = document.createElement("span");
    sev.className = "sev";
    sev.textContent = label(state.lang, `severity.${a.severity}`) + (a.acknowledged === true ? ` (${t("acknowledged")})` : "");
    const what = document.createElement("span");
    const codes = [["categories", a.category], ["subCategories", a.subCategory]].filter(([, c]) => c);
    what.textContent = codes.map(([group, c]) => codeLabel(state.lang, group, c)).join(" / ");
    const when = document.createElement("time");
    when.className = "when";
    when.textContent = formatDateTime(dateOf(a.dateIssued || a.validFrom));
    head.append(sev, what, when);
    const text = document.createElement("p");
    text.textContent = pickLang(a.description, state.lang);
    const acts = document.createElement("div");
    acts.className = "acts";
    acts.append(
      button(t("locate"), () => locateAlert(a), "locate"),
      button(t("acknowledge"), () => acknowledge(a), "acknowledge", a.acknowledged === true),
      button(t("close"), () => closeAlert(a), "close"),
    );
    li.append(head, text, acts);
    list.appendChild(li);
    if (a.geometry) {
      const ll = a.geometry.type === "Point" ? [a.geometry.coordinates[1], a.geometry.coordinates[0]] : L.geoJSON(a.geometry).getBounds().getCenter();
      const ring = L.circleMarker(ll, { radius: 14, color: a.severity === "critical" ? RAMP[3] : RAMP[2], weight: 3, fill: false, interactive: false, className: "ch-alert-ring" });
      alertGroup.addLayer(ring);
    }
  }
  document.getElementById("alert-count").textContent = String(alerts.length);
  document.getElementById("alert-empty").hidden = alerts.length > 0;
}

const sevRank = (s) => { const i = SEVERITY.indexOf(s); return i < 0 ? SEVERITY.length : i; };
const dateOf = (v) => (v && typeof v === "object" ? v["@value"] : v) || "";

function button(text, onClick, action, disabled = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.dataset.action = action;
  b.disabled = disabled;
  b.addEventListener("click", onClick);
  return b;
}

function locateAlert(a) {
  if (a.geometry) {
    const target = a.geometry.type === "Point" ? L.latLng(a.geometry.coordinates[1], a.geometry.coordinates[0]) : L.geoJSON(a.geometry).getBounds().getCenter();
    map.setView(target, Math.max(map.getZoom(), 15));
  }
  if (typeof a.alertSource === "string" && state.entities.has(a.alertSource)) select(a.alertSource);
}

async function acknowledge(a) {
  const now = new Date().toISOString();
  try {
    await api(`/entities/${encodeURIComponent(a.id)}/attrs`, { method: "POST", body: { acknowledged: { type: "Property", value: true, observedAt: now } } });
    const current = state.alerts.get(a.id);
    if (current) { current.acknowledged = true; current.isNew = false; renderAlerts(); }
  } catch (e) { report(e); }
}

async function closeAlert(a) {
  const now = new Date().toISOString();
  try {
    await api(`/entities/${encodeURIComponent(a.id)}/attrs`, { method: "POST", body: { validTo: { type: "Property", value: { "@type": "DateTime", "@value": now } } } });
    state.alerts.delete(a.id);
    renderAlerts();
  } catch (e) { report(e); }
}

function report(error) {
  document.getElementById("alert-announce").textContent = `${t("failed")}: ${error.message}`;
}

// ---- details and history ----------------------------------------------------------------
async function select(id) {
  state.selected = id;
  const body = document.getElementById("details-body");
  document.getElementById("details-empty").hidden = true;
  body.hidden = false;
  let entity;
  try {
    entity = await (await api(`/entities/${encodeURIComponent(id)}`)).json();
  } catch (e) { body.textContent = `${t("failed")}: ${e.message}`; return; }
  if (state.selected !== id) return;
  renderDetails(entity);
  const e = state.entities.get(id);
  if (e?.layer?.getLatLng) map.panTo(e.layer.getLatLng());
}

function renderDetails(entity) {
  const body = document.getElementById("details-body");
  body.textContent = "";
  const title = document.createElement("h3");
  title.textContent = pickLang(entity.name?.languageMap || entity.name?.value, state.lang) || entity.id;
  const ident = document.createElement("p");
  ident.className = "ident";
  ident.textContent = `${label(state.lang, `types.${entity.type}`)} · ${entity.id}`;
  const table = document.createElement("table");
  table.className = "attrs";
  const numeric = [];
  for (const [name, attr] of Object.entries(entity)) {
    if (["id", "type", "@context", "name", "location"].includes(name) || typeof attr !== "object" || attr === null) continue;
    const first = Array.isArray(attr) ? attr[0] : attr;
    let value;
    if (first.type === "Relationship") value = first.object;
    else if (first.type === "LanguageProperty") value = pickLang(first.languageMap, state.lang);
    else if (first.type === "GeoProperty") continue;
    else value = first.value;
    if (value && typeof value === "object" && value["@type"] === "DateTime") value = formatDateTime(value["@value"]);
    else if (value && typeof value === "object") value = JSON.stringify(value);
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    const td = document.createElement("td");
    td.textContent = `${value}${first.unitCode ? ` ${unit(first.unitCode)}` : ""}`;
    if (first.observedAt) td.title = `${t("updated")} ${formatDateTime(first.observedAt)}`;
    if (typeof first.value === "number") {
      numeric.push(name);
      td.append(" ");
      td.appendChild(button(t("chart"), () => showHistory(entity.id, name), "chart"));
    }
    tr.append(th, td);
    table.appendChild(tr);
  }
  body.append(title, ident, table);
  if (numeric.length) showHistory(entity.id, state.history?.id === entity.id ? state.history.attr : numeric[0]);
  else document.getElementById("history").hidden = true;
}

const UNITS = { GQ: "µg/m³", GP: "mg/m³", 59: "ppm", 61: "ppb", CEL: "°C", P1: "%", KMH: "km/h", MTR: "m", MTS: "m/s", WTT: "W", KWH: "kWh", KMK: "km²", LTR: "L", KGM: "kg", A97: "hPa", MMT: "mm", DD: "°", "2N": "dB" };
const unit = (code) => UNITS[code] || code;

const PERIODS = { hour: ["PT1H", 2 * 86400e3], day: ["P1D", 31 * 86400e3], week: ["P1W", 13 * 7 * 86400e3] };

async function showHistory(id, attr, period = state.history?.period || "hour") {
  state.history = { id, attr, period };
  document.getElementById("history").hidden = false;
  document.getElementById("history-attr").textContent = attr;
  for (const b of document.querySelectorAll("#history [data-period]")) b.setAttribute("aria-pressed", String(b.dataset.period === period));
  const [duration, span] = PERIODS[period];
  const from = new Date(Date.now() - span).toISOString();
  const box = document.getElementById("chart");
  let doc;
  try {
    const query = `attrs=${encodeURIComponent(attr)}&options=aggregatedValues&aggrMethods=avg,min,max&aggrPeriodDuration=${duration}&timerel=after&timeAt=${encodeURIComponent(from)}`;
    doc = await (await api(`/temporal/entities/${encodeURIComponent(id)}?${query}`)).json();
  } catch (e) { box.textContent = `${t("failed")}: ${e.message}`; return; }
  if (state.history.id !== id || state.history.attr !== attr || state.history.period !== period) return;
  const a = Array.isArray(doc[attr]) ? doc[attr][0] : doc[attr];
  const byStart = new Map();
  for (const method of ["avg", "min", "max"]) {
    for (const [value, start] of a?.[method] || []) {
      if (typeof value !== "number") continue;
      const ms = Date.parse(start);
      const p = byStart.get(ms) || { t: ms };
      p[method] = value;
      byStart.set(ms, p);
    }
  }
  const series = [...byStart.values()].filter((p) => p.avg != null).sort((x, y) => x.t - y.t);
  box.dataset.points = String(series.length);
  if (!series.length) { box.textContent = t("noHistory"); return; }
  const opts = period === "hour" ? { month: "numeric", day: "numeric", hour: "2-digit", hour12: false } : { month: "numeric", day: "numeric" };
  drawChart(box, series, { formatTime: (ms) => fmt(opts).format(new Date(ms)), title: `${attr}: ${t(period === "hour" ? "byHour" : period === "day" ? "byDay" : "byWeek")}` });
}

// ---- old downtown vs new towns -----------------------------------------------------------
// the zones compared by GET /indicators/gap: pooled value, its 95 % interval drawn on an axis
// shared by the zones, districts measured, coverage, and the rank or why there is none
function renderGap(box) {
  const gap = state.kpi?.gap;
  if (!state.kpi) { box.innerHTML = `<p class="muted">…</p>`; return; }
  if (!gap || gap.error || !gap.zones) { box.innerHTML = `<p class="muted">${escapeHtml(t("noGap"))}${gap?.error ? `: ${escapeHtml(gap.error)}` : ""}</p>`; return; }
  box.textContent = "";
  const note = document.createElement("p");
  note.className = "muted gap-note";
  const period = gap.period ? ` · ${formatDateTime(gap.period.from)} – ${formatDateTime(gap.period.to)}` : "";
  const kind = state.kpi.meta?.kind || "share";
  note.textContent = `${kpiTitle()} · ${label(state.lang, `measures.${kind}`)}${period}`;
  box.appendChild(note);
  const table = document.createElement("table");
  table.className = "compare gap";
  const cap = document.createElement("caption");
  cap.className = "visually-hidden";
  cap.textContent = t("compare");
  table.appendChild(cap);
  const head = table.createTHead().insertRow();
  for (const key of ["zone", "gapValue", "interval95", "measured", "coverage", "rank"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(key);
    head.appendChild(th);
  }
  const body = table.createTBody();
  const [lo, hi] = axisOf(gap.zones);
  const worseFirst = gap.ranking || [];
  const share = (v) => (v == null ? "–" : v < 0.1 && v > 0 ? `${(v * 100).toFixed(1)} %` : `${Math.round(v * 100)} %`);
  const pct = (v) => (kind === "ratio" && v != null ? round(v) : share(v));
  for (const z of gap.zones) {
    const tr = body.insertRow();
    tr.dataset.zone = z.zone;
    tr.dataset.ranked = String(worseFirst.includes(z.zone));
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label(state.lang, `zones.${z.zone}`).startsWith("zones.") ? z.zone : t(`zones.${z.zone}`);
    tr.appendChild(th);
    const value = tr.insertCell();
    value.className = "num";
    value.textContent = z.value == null ? t("noData") : pct(z.value);
    const ci = tr.insertCell();
    const rank = worseFirst.indexOf(z.zone);
    const colour = rank < 0 ? NONE : RAMP[Math.round((1 - rank / Math.max(1, worseFirst.length - 1)) * 3)];
    ci.appendChild(intervalBar(z, lo, hi, z.enoughData ? colour : NONE));
    const text = document.createElement("span");
    text.className = "ci-text";
    text.textContent = z.interval ? `${pct(z.interval.low)} – ${pct(z.interval.high)}` : t("noInterval");
    ci.appendChild(text);
    const measured = tr.insertCell();
    measured.className = "num";
    measured.textContent = `${z.districtsMeasured}/${z.districts}`;
    const cov = tr.insertCell();
    cov.className = "num";
    cov.textContent = share(z.coverage);
    const status = tr.insertCell();
    status.className = "rank";
    if (!z.enoughData) {
      status.textContent = t("tooThin");
      status.title = z.notEnough.map((r) => label(state.lang, `thresholds.${r.threshold}`)).join("; ");
      const why = document.createElement("small");
      why.className = "muted why";
      why.textContent = status.title;
      status.appendChild(document.createElement("br"));
      status.appendChild(why);
    } else if (rank >= 0) status.textContent = `${rank + 1} / ${worseFirst.length}`;
    else status.textContent = "–";
  }
  box.appendChild(table);
  if (!gap.ranking) {
    const withheld = document.createElement("p");
    withheld.id = "gap-withheld";
    withheld.className = "muted";
    withheld.textContent = `${t("notRanked")}: ${t(gap.higherIsWorse === null ? "noDirection" : "tooFewZones")}`;
    box.appendChild(withheld);
  } else {
    const order = document.createElement("p");
    order.className = "muted";
    order.textContent = t("worseFirst");
    box.appendChild(order);
  }
}

function renderCompare() {
  const box = document.getElementById("compare-body");
  if (state.indicator.startsWith(KPI)) { renderGap(box); return; }
  const indicator = INDICATORS[state.indicator];
  if (!indicator || !state.districtValues) { box.innerHTML = `<p class="muted">${escapeHtml(t("choropleth"))}: ${escapeHtml(t("indicators.none"))}</p>`; return; }
  const zones = new Map();
  for (const [id, v] of state.districtValues) {
    const zone = state.areas.get(id)?.cityhubZone;
    if (!zone) continue;
    const z = zones.get(zone) || [];
    z.push(v.value);
    zones.set(zone, z);
  }
  let html = `<table class="compare"><caption class="visually-hidden">${escapeHtml(t("compare"))}</caption><thead><tr><th scope="col">${escapeHtml(t("zone"))}</th><th scope="col">${escapeHtml(t("indicators." + state.indicator))}</th><th scope="col">${escapeHtml(t("n"))}</th></tr></thead><tbody>`;
  for (const [zone, values] of [...zones].sort()) {
    const n = values.length;
    const mean = values.reduce((s, v) => s + v, 0) / n;
    const sd = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : null;
    const ci = sd === null ? "" : ` ± ${round(1.96 * sd / Math.sqrt(n))}`;
    html += `<tr><th scope="row">${escapeHtml(label(state.lang, `zones.${zone}`))}</th><td class="num">${round(mean)}${ci}</td><td class="num">${n}</td></tr>`;
  }
  box.innerHTML = html + "</tbody></table>";
}

// ---- language -------------------------------------------------------------------------------
// the city's name: the district at the top (level city, or the one no other names as parent)
function cityName() {
  for (const p of state.areas.values()) if (["city", "si", "municipality"].includes(p.administrativeLevel)) return pickLang(p.name, state.lang);
  return "";
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  const city = cityName();
  document.getElementById("city-name").textContent = city;
  document.title = city ? `${city} ${t("title")}` : t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
  document.getElementById("lang").textContent = t("langButton");
  renderChooser();
  setLive(state.liveState || "connecting");
  renderLayerList();
  renderLegend();
  renderAlerts();
  renderCompare();
  renderFindList();
  if (state.selected) select(state.selected);
  tick();
}

function renderChooser() {
  const chooser = document.getElementById("choropleth");
  const current = state.indicator;
  chooser.textContent = "";
  const option = (parent, value, text) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    parent.appendChild(o);
  };
  option(chooser, "none", t("indicators.none"));
  if (state.catalogue.length) {
    const group = document.createElement("optgroup");
    group.label = t("published");
    for (const i of state.catalogue) option(group, KPI + i.name, i.title?.[state.lang] || i.name);
    chooser.appendChild(group);
  }
  const live = document.createElement("optgroup");
  live.label = t("fromSensors");
  for (const key of Object.keys(INDICATORS)) if (key !== "none") option(live, key, t(`indicators.${key}`));
  chooser.appendChild(live);
  chooser.value = current;
}

function renderFindList() {
  const list = document.getElementById("find-list");
  list.textContent = "";
  for (const e of state.entities.values()) {
    const o = document.createElement("option");
    o.value = pickLang(e.props.name, state.lang) || e.id;
    list.appendChild(o);
  }
}

// ---- live --------------------------------------------------------------------------------
function setLive(s) {
  state.liveState = s;
  const node = document.getElementById("live");
  node.dataset.state = s;
  document.getElementById("live-text").textContent = t(s);
}

let connections = 0;
let retryDelay = 1000;
let feedAbort = null;

// the live feed: Server-Sent Events read with fetch (so that the Authorization header goes
// with it), parsed here; the hub's retry field, and reconnection with back-off, by hand
async function connect() {
  const url = `${cfg.feed}${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ""}`;
  const controller = new AbortController();
  feedAbort = controller;
  let wait = retryDelay;
  try {
    const response = await fetch(url, { headers: withAuth({ Accept: "text/event-stream" }), cache: "no-store", signal: controller.signal });
    if (response.status === 401) {
      setLive("reconnecting");
      await askCredential(`${t("signInFailed")}: 401`);
      connect();
      return;
    }
    if (!response.ok || !response.body) throw new Error(String(response.status));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const ms = onFeedEvent(block);
        if (ms !== null) wait = retryDelay = ms;
      }
    }
  } catch (e) {
    if (controller.signal.aborted) return;
    // back off: to 5 s while the hub cannot be reached (it is restarting), to 30 s on an
    // error status (a 503: it serves too many screens)
    wait = retryDelay;
    retryDelay = Math.min(retryDelay * 2, e instanceof TypeError ? 5000 : 30000);
  }
  setLive("reconnecting");
  setTimeout(connect, wait);
}

// one event of the stream; returns the retry time it sets, if any
function onFeedEvent(block) {
  let event = "message", data = "", retry = null;
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a keep-alive comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data += (data ? "\n" : "") + value;
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  }
  if (event === "hello") {
    setLive("live");
    connections += 1;
    if (connections > 1) loadAll(); // changes made while the feed was away: read everything again
  } else if (event === "change") {
    for (const [id, kind, type] of JSON.parse(data).changes) {
      if (type === "KeyPerformanceIndicator") { kpiChanged(); continue; }
      if (NOT_LAYERS.has(type) && type !== "Alert" && type !== "AdministrativeArea") continue;
      if (kind === "entityDeleted") { removeEntity(id); pending.delete(id); } else pending.set(id, type);
    }
    scheduleFetch();
  } else if (event === "resync") loadAll();
  return retry;
}

const pending = new Map(); // id -> type
let fetching = false;
function scheduleFetch() {
  if (fetching || !pending.size) return;
  fetching = true;
  queueMicrotask(async () => {
    try {
      while (pending.size) {
        const batch = [...pending].slice(0, 100);
        batch.forEach(([id]) => pending.delete(id));
        const ids = batch.map(([id]) => encodeURIComponent(id)).join(",");
        const types = [...new Set(batch.map(([, type]) => type))].map(encodeURIComponent).join(",");
        const found = await features(`id=${ids}&type=${types}`);
        for (const f of found) upsertEntity(f);
      }
      restyleDistricts();
      reclusterSoon();
      if (state.selected && state.entities.has(state.selected)) refreshSelected();
    } catch (e) { /* the next change or reconnection reads them again */ } finally {
      fetching = false;
      if (pending.size) scheduleFetch();
    }
  });
}

let refreshTimer = null;
function refreshSelected() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => state.selected && select(state.selected), 1000);
}

// ---- loading ---------------------------------------------------------------------------
// the types asked for one by one when the caller may not list every type of the tenant (a key
// narrowed to some types: GET /types is 403 for it), each query narrowed to what it may read
const KNOWN_TYPES = ["AdministrativeArea", "Alert", "AirQualityObserved", "OffStreetParking", "OnStreetParking",
  "WasteContainer", "Streetlight", "FloodMonitoring", "TrafficFlowObserved", "PointOfInterest", "WeatherObserved",
  "NoiseLevelObserved", "CrowdFlowObserved", "WeatherAlert", "Device", "Building", "RoadSegment"];

async function typesOf() {
  try {
    return (await (await api("/types")).json()).typeList || [];
  } catch (e) {
    if (e.status === 403) return KNOWN_TYPES;
    throw e;
  }
}

async function loadAll() {
  let types;
  for (;;) {
    try { types = await typesOf(); break; } catch (e) {
      if (!(e instanceof Unauthorized)) throw e;
      await askCredential(credential ? `${t("signInFailed")}: ${e.message}` : "");
    }
  }
  try { state.catalogue = (await hubGet(cfg.indicators)).indicators || []; } catch (e) { state.catalogue = []; }
  if (types.includes("AdministrativeArea")) drawDistricts(await features("type=AdministrativeArea"));
  const seen = new Set();
  for (const type of types) {
    if (type === "AdministrativeArea" || (NOT_LAYERS.has(type) && type !== "Alert")) continue;
    // alerts: only the open ones (no validTo, or one still ahead), filtered by the hub, so a
    // city's years of closed alerts are not read on every load
    const open = type === "Alert" ? `&q=${encodeURIComponent(`!validTo|validTo>${new Date().toISOString()}`)}` : "";
    const list = await features(`type=${encodeURIComponent(type)}${open}`);
    for (const f of list) { seen.add(f.id); upsertEntity(f); }
  }
  for (const id of [...state.entities.keys()]) if (!seen.has(id)) removeEntity(id);
  for (const id of [...state.alerts.keys()]) if (!seen.has(id)) state.alerts.delete(id);
  state.loaded = true;
  recluster();
  document.getElementById("city-name").textContent = cityName();
  renderLayerList();
  renderAlerts();
  renderFindList();
  renderChooser(); // the published indicators
  if (state.indicator.startsWith(KPI)) state.kpi = null;
  restyleDistricts();
  document.body.dataset.loaded = "true";
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
const round = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2));

// ---- start --------------------------------------------------------------------------------
document.getElementById("tenant").textContent = tenant ? `· ${tenant}` : "";
document.getElementById("lang").addEventListener("click", () => {
  state.lang = state.lang === "ko" ? "en" : "ko";
  localStorage.setItem("cityhub.lang", state.lang);
  applyLanguage();
});
document.getElementById("air-view").addEventListener("change", (ev) => { state.airView = ev.target.value; restyleMarkers(); renderLegend(); });
document.getElementById("choropleth").addEventListener("change", (ev) => { state.indicator = ev.target.value; restyleDistricts(); });
document.getElementById("kpi-frequency").addEventListener("change", (ev) => { state.kpiFrequency = ev.target.value; restyleDistricts(); });
document.getElementById("find").addEventListener("change", (ev) => {
  const wanted = ev.target.value.trim();
  for (const e of state.entities.values()) {
    if (pickLang(e.props.name, "ko") === wanted || pickLang(e.props.name, "en") === wanted || e.id === wanted) { select(e.id); break; }
  }
});
for (const b of document.querySelectorAll("#history [data-period]")) {
  b.addEventListener("click", () => state.history && showHistory(state.history.id, state.history.attr, b.dataset.period));
}
if (matchMedia("(max-width: 760px)").matches) document.getElementById("layers-box").open = false; // a phone: the map first
applyLanguage();
setInterval(tick, 1000);
loadAll().then(connect, (e) => { report(e); connect(); });
