/**
 * A small, dependency-free SVG line chart: the bench's figures are a handful of points per series,
 * and a committed SVG must come out byte-identical from the same JSON (no fonts measured, no
 * randomness), so a plotting library's weight and its renderer buy nothing here.
 */

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [x: number, y: number]>;
  /** a dashed line: the same-run floor or baseline the solid line is read against */
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  /** log10 x axis (viewer counts span 1 to 1000) */
  xLog?: boolean;
  series: Series[];
}

const PANEL_W = 420;
const PANEL_H = 280;
/** `top` is below the title and the legend (one line per series, above the plot, clear of the curves) */
const MARGIN = { left: 56, right: 16, bottom: 44 };
const LEGEND_LINE = 14;
const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#8250df', '#bf8700', '#57606a'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1).replace(/\.0$/, '') : n.toFixed(2).replace(/\.?0+$/, ''));

/** Round tick values covering [0, max]: 1, 2 or 5 times a power of ten apart. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(v);
  if (ticks[ticks.length - 1]! < max) ticks.push(ticks[ticks.length - 1]! + step);
  return ticks;
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); 10 ** e <= max * 1.0001; e++) ticks.push(10 ** e);
  return ticks;
}

function panelSvg(panel: Panel, ox: number, oy: number): string {
  const all = panel.series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const yTicks = linearTicks(Math.max(...all.map(([, y]) => y), 0));
  const yMax = yTicks[yTicks.length - 1]!;
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const xTicks = panel.xLog ? logTicks(xMin, xMax) : linearTicks(xMax);
  const [x0, x1] = panel.xLog ? [Math.log10(xTicks[0]!), Math.log10(Math.max(xMax, xTicks[xTicks.length - 1]!))] : [0, xTicks[xTicks.length - 1]!];
  const top = 30 + LEGEND_LINE * panel.series.length;
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - top - MARGIN.bottom;
  const sx = (x: number) => ox + MARGIN.left + (((panel.xLog ? Math.log10(x) : x) - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (y: number) => oy + top + plotH - (y / (yMax || 1)) * plotH;
  const out: string[] = [];
  out.push(`<text x="${ox + PANEL_W / 2}" y="${oy + 18}" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${ox + MARGIN.left}" x2="${ox + MARGIN.left + plotW}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#d0d7de"/>`);
    out.push(`<text x="${ox + MARGIN.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<text x="${sx(t).toFixed(1)}" y="${oy + top + plotH + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<text x="${ox + MARGIN.left + plotW / 2}" y="${oy + PANEL_H - 8}" text-anchor="middle">${esc(panel.xLabel)}</text>`);
  out.push(`<text transform="translate(${ox + 14} ${oy + top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(panel.yLabel)}</text>`);
  panel.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...series.points].sort((a, b) => a[0] - b[0]).map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="5 4"' : ''} points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
    }
    const ly = oy + 30 + i * LEGEND_LINE;
    out.push(`<line x1="${ox + MARGIN.left + 8}" x2="${ox + MARGIN.left + 26}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    out.push(`<text x="${ox + MARGIN.left + 30}" y="${ly + 4}">${esc(series.name)}</text>`);
  });
  return out.join('\n');
}

/** Panels in rows of `columns`, a caption line under them. Panels without points are left out. */
export function renderChart(panels: readonly Panel[], caption: string, columns = 2): string {
  const shown = panels.filter((p) => p.series.some((s) => s.points.length > 0)).map((p) => ({ ...p, series: p.series.filter((s) => s.points.length > 0) }));
  const rows = Math.max(1, Math.ceil(shown.length / columns));
  const width = PANEL_W * columns;
  const height = PANEL_H * rows + 28;
  const body = shown.map((p, i) => panelSvg(p, (i % columns) * PANEL_W, Math.floor(i / columns) * PANEL_H));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    `<text x="8" y="${height - 10}" fill="#57606a">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
