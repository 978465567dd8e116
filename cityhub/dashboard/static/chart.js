// A history chart in plain SVG: the mean per period as a line with a point per period, and
// the band between the period's minimum and maximum.

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// series: [{t: ms (period start), avg, min, max}], sorted by t
export function drawChart(box, series, { formatTime, title }) {
  box.textContent = "";
  const W = 600, H = 240, L = 48, R = 12, T = 12, B = 36;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  el("title", {}, svg).textContent = title;
  const ts = series.map((p) => p.t);
  const lows = series.map((p) => (p.min ?? p.avg));
  const highs = series.map((p) => (p.max ?? p.avg));
  let y0 = Math.min(...lows), y1 = Math.max(...highs);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const pad = (y1 - y0) * 0.08;
  y0 -= pad; y1 += pad;
  const t0 = ts[0], t1 = ts.length > 1 ? ts[ts.length - 1] : ts[0] + 1;
  const x = (t) => L + ((t - t0) / (t1 - t0 || 1)) * (W - L - R);
  const y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  el("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }, svg);
  el("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }, svg);
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    const text = el("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" }, svg);
    text.textContent = Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
  }
  const ticks = Math.min(5, series.length);
  for (let i = 0; i < ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / Math.max(1, ticks - 1);
    const text = el("text", { x: x(t), y: H - B + 16, "text-anchor": i === 0 ? "start" : i === ticks - 1 ? "end" : "middle" }, svg);
    text.textContent = formatTime(t);
  }
  if (series.some((p) => p.min != null && p.max != null)) {
    const top = series.map((p) => `${x(p.t)},${y(p.max ?? p.avg)}`);
    const bottom = series.slice().reverse().map((p) => `${x(p.t)},${y(p.min ?? p.avg)}`);
    el("polygon", { class: "band", points: [...top, ...bottom].join(" ") }, svg);
  }
  el("polyline", { class: "line", points: series.map((p) => `${x(p.t)},${y(p.avg)}`).join(" ") }, svg);
  for (const p of series) {
    const dot = el("circle", { cx: x(p.t), cy: y(p.avg), r: 3 }, svg);
    el("title", {}, dot).textContent = `${formatTime(p.t)}: ${p.avg}`;
  }
  box.appendChild(svg);
}
