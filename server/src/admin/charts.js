// Tickwire's chart code, shared by the live monitor (served at the admin address) and the
// bot report's HTML page: plain JavaScript drawing SVG, no dependencies.
//
//   TickwireCharts.line(element, {title, unit, xUnit, series: [{name, color, points: [[x, y], …]}]})
//   TickwireCharts.cdf(element, {title, unit, log, series: [{name, color, buckets: [[value, count], …]
//                                                              | points: [[value, fraction ≤], …]}]})
//
// Both draw axes with value ticks ("nice" 1-2-5 steps) and a legend, and replace what the
// element held, so a live page redraws by calling them again.
(function (global) {
  "use strict";
  const W = 560, H = 220, L = 56, R = 12, T = 26, B = 34;

  function nice(span) {
    if (!(span > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(span / 5)));
    for (const m of [1, 2, 5, 10]) if (span / (m * p) <= 6) return m * p;
    return 10 * p;
  }
  function ticks(lo, hi) {
    const step = nice(hi - lo), out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }
  function fmt(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 100 || v === Math.round(v)) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  // An SVG chart frame: axes, ticks on both, labels; `plot` returns the series' paths.
  function frame(title, xs, ys, xLabel, yLabel, plot, legend, xFmt) {
    xFmt = xFmt || fmt;
    const sx = (x) => L + ((x - xs[0]) / (xs[1] - xs[0] || 1)) * (W - L - R);
    const sy = (y) => H - B - ((y - ys[0]) / (ys[1] - ys[0] || 1)) * (H - T - B);
    let svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" class="chart">`;
    svg += `<text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`;
    for (const y of ticks(ys[0], ys[1])) {
      svg += `<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#ddd"/>`;
      svg += `<text x="${L - 4}" y="${sy(y) + 4}" font-size="10" text-anchor="end">${fmt(y)}</text>`;
    }
    for (const x of ticks(xs[0], xs[1])) {
      svg += `<line x1="${sx(x)}" x2="${sx(x)}" y1="${H - B}" y2="${H - B + 4}" stroke="#555"/>`;
      svg += `<text x="${sx(x)}" y="${H - B + 15}" font-size="10" text-anchor="middle">${xFmt(x)}</text>`;
    }
    svg += `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#555"/>`;
    svg += `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#555"/>`;
    svg += `<text x="${(L + W - R) / 2}" y="${H - 4}" font-size="10" text-anchor="middle">${esc(xLabel)}</text>`;
    svg += `<text x="12" y="${(T + H - B) / 2}" font-size="10" text-anchor="middle" transform="rotate(-90 12 ${(T + H - B) / 2})">${esc(yLabel)}</text>`;
    svg += plot(sx, sy);
    // The legend sits right of the title, or inside the plot's top when they would meet.
    const width = legend.reduce((a, s) => a + 22 + s.name.length * 6, 0);
    const ly = W - R - width < L + title.length * 7.5 ? T + 4 : 7;
    let lx = W - R;
    for (const s of legend.slice().reverse()) {
      const w = 14 + s.name.length * 6;
      lx -= w + 8;
      svg += `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${s.color}"/><text x="${lx + 13}" y="${ly + 9}" font-size="11">${esc(s.name)}</text>`;
    }
    return svg + "</svg>";
  }

  function bounds(values, from0) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo === Infinity) return [0, 1];
    if (from0) lo = Math.min(0, lo);
    if (hi === lo) hi = lo + 1;
    return [lo, hi + (hi - lo) * 0.05];
  }

  // A line chart over time (or any x): one polyline per series.
  function line(el, c) {
    const pts = c.series.flatMap((s) => s.points);
    const xs = bounds(pts.map((p) => p[0]), false);
    xs[1] = Math.max(...pts.map((p) => p[0]), xs[0] + 1);
    const ys = bounds(pts.map((p) => p[1]), true);
    el.innerHTML = frame(c.title, xs, ys, c.xUnit || "s", c.unit, (sx, sy) =>
      c.series.map((s) => {
        const d = s.points.filter((p) => Number.isFinite(p[1])).map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
        return d ? `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5" data-series="${esc(s.name)}"/>` : "";
      }).join(""), c.series);
  }

  // A series' CDF as [value, fraction at or below]: from `points` as given, or from
  // histogram `buckets` ([value, count], ascending).
  function cumulative(s) {
    if (s.points) return s.points;
    const total = (s.buckets || []).reduce((a, b) => a + b[1], 0);
    let seen = 0;
    return total ? s.buckets.map(([v, n]) => { seen += n; return [v, seen / total]; }) : [];
  }

  // A cumulative distribution: the fraction of samples at or below each value. `c.log`
  // spreads a long tail (values ≥ 1) over a log axis.
  function cdf(el, c) {
    const curves = c.series.map((s) => ({ s, pts: cumulative(s) }));
    const tx = c.log ? (v) => Math.log10(Math.max(v, 1e-3)) : (v) => v;
    const xs = bounds(curves.flatMap((k) => k.pts.map((p) => tx(p[0]))), !c.log);
    const label = c.log ? c.unit + " (log scale)" : c.unit;
    el.innerHTML = frame(c.title, xs, [0, 1], label, "fraction ≤ x", (sx, sy) =>
      curves.map(({ s, pts }) => {
        if (!pts.length) return "";
        let d = `M${sx(tx(pts[0][0])).toFixed(1)},${sy(0).toFixed(1)}`;
        for (const [v, f] of pts) d += `L${sx(tx(v)).toFixed(1)},${sy(f).toFixed(1)}`;
        return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5" data-series="${esc(s.name)}"/>`;
      }).join(""), c.series, c.log ? (v) => fmt(Math.pow(10, v)) : fmt);
  }

  global.TickwireCharts = { line, cdf, ticks, nice };
})(typeof window !== "undefined" ? window : globalThis);
