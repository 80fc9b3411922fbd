'use strict';
// Hand-written SVG, no dependency: a timeline of counts per bin, one stacked panel per series,
// with vertical marks (the HUPs) and a dashed level line (the same backend without HUPs). All
// panels share the y scale, so that their heights compare. Sized for 800×300.

const COLORS = ['#1f5fbf', '#d9730d', '#2a9d4b', '#8e44ad'];
const MARK_COLOR = '#c62828';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const r1 = (x) => Math.round(x * 10) / 10;

/** A "nice" axis step (1, 2, 2.5 or 5 × 10^k) giving about `ticks` ticks up to `max`. */
function niceStep(max, ticks) {
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

/**
 * series: [{ label, bins: [count per bin], marks: [ms], baseline?: count per bin }].
 * Returns the SVG text (width × height, default 800 × 300).
 */
function timelineSvg({ title, subtitle, series, binMs, width = 800, height = 300, yLabel = `answered / ${binMs} ms`, xLabel = 'seconds since the start of the wrk run' }) {
  const left = 64;
  const right = 14;
  const top = 72; // title, subtitle, legend, and the first panel's label above it
  const bottom = 40;
  const gap = 24; // room for the next panel's label
  const plotW = width - left - right;
  const panelH = (height - top - bottom - gap * (series.length - 1)) / series.length;
  const nBins = Math.max(...series.map((s) => s.bins.length));
  const lengthS = (nBins * binMs) / 1000;
  const dataMax = Math.max(1, ...series.flatMap((s) => [...s.bins, s.baseline ?? 0]));
  const yStep = niceStep(dataMax * 1.05, 4);
  const yMax = Math.ceil((dataMax * 1.05) / yStep) * yStep;
  const xStep = niceStep(lengthS, 10);
  const x = (s) => left + (s / lengthS) * plotW;

  const out = [];
  const o = (s) => out.push(s);
  o(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`);
  o(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  o(`<text x="${left}" y="17" font-size="13" font-weight="bold" fill="#111">${esc(title)}</text>`);
  if (subtitle) o(`<text x="${left}" y="32" font-size="10.5" fill="#444">${esc(subtitle)}</text>`);

  // Legend, one row.
  let lx = left;
  const ly = 46;
  const legend = (draw, text) => {
    o(draw(lx, ly));
    o(`<text x="${lx + 22}" y="${ly + 3.5}" font-size="10.5" fill="#222">${esc(text)}</text>`);
    lx += 30 + text.length * 5.9;
  };
  series.forEach((s, i) => legend((a, b) => `<line x1="${a}" y1="${b}" x2="${a + 18}" y2="${b}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`, s.shortLabel ?? s.label.split(':')[0]));
  legend((a, b) => `<line x1="${a + 9}" y1="${b - 6}" x2="${a + 9}" y2="${b + 6}" stroke="${MARK_COLOR}" stroke-width="1" stroke-dasharray="3,2"/>`, 'HUP sent');
  legend((a, b) => `<line x1="${a}" y1="${b}" x2="${a + 18}" y2="${b}" stroke="#555" stroke-width="1.2" stroke-dasharray="5,3"/>`, 'same backend, no HUPs (mean)');

  series.forEach((s, i) => {
    const pTop = top + i * (panelH + gap);
    const pBottom = pTop + panelH;
    const y = (v) => pBottom - (v / yMax) * panelH;
    const color = COLORS[i % COLORS.length];
    o(`<g>`);
    o(`<rect x="${left}" y="${r1(pTop)}" width="${plotW}" height="${r1(panelH)}" fill="#fafafa" stroke="#999" stroke-width="0.8"/>`);
    // y grid and ticks
    for (let v = 0; v <= yMax + 1e-9; v += yStep) {
      const yy = r1(y(v));
      if (v > 0 && v < yMax) o(`<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#e2e2e2" stroke-width="0.8"/>`);
      o(`<line x1="${left - 4}" y1="${yy}" x2="${left}" y2="${yy}" stroke="#666"/>`);
      o(`<text x="${left - 7}" y="${r1(yy + 3.5)}" font-size="10" text-anchor="end" fill="#333">${Number(v.toFixed(6)).toLocaleString('en-US')}</text>`);
    }
    // x ticks (labels on the bottom panel only)
    for (let t = 0; t <= lengthS + 1e-9; t += xStep) {
      const xx = r1(x(t));
      o(`<line x1="${xx}" y1="${r1(pBottom)}" x2="${xx}" y2="${r1(pBottom + 4)}" stroke="#666"/>`);
      if (i === series.length - 1) o(`<text x="${xx}" y="${r1(pBottom + 15)}" font-size="10" text-anchor="middle" fill="#333">${Number(t.toFixed(3))}</text>`);
    }
    for (const ms of s.marks ?? []) {
      const xx = r1(x(ms / 1000));
      o(`<line x1="${xx}" y1="${r1(pTop)}" x2="${xx}" y2="${r1(pBottom)}" stroke="${MARK_COLOR}" stroke-width="1" stroke-dasharray="3,2" opacity="0.85"/>`);
    }
    if (s.baseline !== undefined && Number.isFinite(s.baseline)) {
      o(`<line x1="${left}" y1="${r1(y(s.baseline))}" x2="${left + plotW}" y2="${r1(y(s.baseline))}" stroke="#555" stroke-width="1.2" stroke-dasharray="5,3"/>`);
    }
    // the data: a step line, one flat segment per bin
    const pts = [];
    s.bins.forEach((v, k) => {
      const t0 = (k * binMs) / 1000;
      const t1 = ((k + 1) * binMs) / 1000;
      pts.push(`${r1(x(t0))},${r1(y(v))}`, `${r1(x(t1))},${r1(y(v))}`);
    });
    o(`<polyline fill="none" stroke="${color}" stroke-width="1.6" stroke-linejoin="round" points="${pts.join(' ')}"/>`);
    // panel label, above the panel
    o(`<text x="${left}" y="${r1(pTop - 5)}" font-size="11" font-weight="bold" fill="${color}">${esc(s.label)}</text>`);
    o(`</g>`);
  });

  const plotsMid = (top + height - bottom) / 2;
  o(`<text x="14" y="${r1(plotsMid)}" font-size="10.5" text-anchor="middle" fill="#333" transform="rotate(-90 14 ${r1(plotsMid)})">${esc(yLabel)}</text>`);
  o(`<text x="${r1(left + plotW / 2)}" y="${height - 6}" font-size="10.5" text-anchor="middle" fill="#333">${esc(xLabel)}</text>`);
  o('</svg>');
  return out.join('\n') + '\n';
}

module.exports = { timelineSvg, niceStep };
