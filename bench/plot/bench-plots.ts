import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement } from '../fanout/fanout.ts';
import type { GridMeasurement } from '../grid/grid-bench.ts';
import { renderChart, type Panel, type Series } from './svg-chart.ts';

/**
 * The figures of a `npm run bench` run (bench/results/all.json) as curves: the relay's CPU and
 * memory against viewers (one camera) and against cameras (ten viewers each), each beside the
 * same run's floor, a bare WebSocket fan-out server (bench/fanout/bare-ws-server.ts); and the
 * browser's side of a camera grid (bench/grid/), beside one camera in full view.
 */

export interface BenchResults {
  machine?: string;
  date?: string;
  fanout?: Measurement[];
  grid?: GridMeasurement[];
}

const VIEWERS_PER_CAMERA_AXIS = 10;

function series(list: readonly Measurement[], kind: Measurement['kind'], pick: (m: Measurement) => [number, number] | null, name: string): Series {
  const points = list.filter((m) => m.kind === kind).flatMap((m) => {
    const p = pick(m);
    return p ? [p] : [];
  });
  return { name, points, dashed: kind === 'floor' };
}

function pair(list: readonly Measurement[], pick: (m: Measurement) => [number, number] | null): Series[] {
  return [series(list, 'relay', pick, 'picam relay'), series(list, 'floor', pick, 'floor: bare ws fan-out')];
}

/** The run the table shows where a row ran twice (bench/fanout/fanout.ts keeps the lower p99). */
function tableRuns(list: readonly Measurement[]): Measurement[] {
  const kept = new Map<string, Measurement>();
  for (const m of list) {
    const key = `${m.kind} ${m.cameras} ${m.viewers}`;
    const seen = kept.get(key);
    if (!seen || m.p99 < seen.p99) kept.set(key, m);
  }
  return [...kept.values()];
}

function fanoutPanels(list: readonly Measurement[]): Panel[] {
  const oneCamera = (value: (m: Measurement) => number) => (m: Measurement): [number, number] | null => (m.cameras === 1 ? [m.viewers, value(m)] : null);
  const tenEach = (value: (m: Measurement) => number) => (m: Measurement): [number, number] | null =>
    m.viewers === m.cameras * VIEWERS_PER_CAMERA_AXIS ? [m.cameras, value(m)] : null;
  const cpu = (m: Measurement) => m.usage.cpuPercent;
  const rss = (m: Measurement) => m.usage.peakRssMiB;
  return [
    { title: 'CPU, one camera', xLabel: 'viewers', yLabel: '% of one core', xLog: true, series: pair(list, oneCamera(cpu)) },
    { title: 'Memory, one camera', xLabel: 'viewers', yLabel: 'peak RSS (MB)', xLog: true, series: pair(list, oneCamera(rss)) },
    { title: `CPU, ${VIEWERS_PER_CAMERA_AXIS} viewers per camera`, xLabel: 'cameras', yLabel: '% of one core', series: pair(list, tenEach(cpu)) },
    { title: `Memory, ${VIEWERS_PER_CAMERA_AXIS} viewers per camera`, xLabel: 'cameras', yLabel: 'peak RSS (MB)', series: pair(list, tenEach(rss)) },
  ];
}

const FULL_VIEW = 'one camera in full view';

/** The grid's cost in Chromium against its camera count, one camera in full view drawn flat across. */
function gridPanels(list: readonly GridMeasurement[]): Panel[] {
  const grids = list.filter((m) => m.label.startsWith('grid of') && !m.label.includes('clicked'));
  const full = list.find((m) => m.label === FULL_VIEW);
  const xs = grids.map((m) => m.cameras);
  const flat = (value: number): Series => ({ name: FULL_VIEW, points: full && xs.length ? [[Math.min(...xs), value], [Math.max(...xs), value]] : [], dashed: true });
  const panel = (title: string, yLabel: string, value: (m: GridMeasurement) => number): Panel => ({
    title,
    xLabel: 'cameras in the grid (tiles at keyframes only)',
    yLabel,
    series: [{ name: 'grid', points: grids.map((m) => [m.cameras, value(m)]) }, flat(full ? value(full) : 0)],
  });
  return [
    panel('Chromium page CPU (renderer + GPU)', '% of one core', (m) => m.pageCpuPercent),
    panel('Bytes into the page', 'kbit/s', (m) => (m.bytesPerSecond * 8) / 1000),
  ];
}

function benchChart(results: BenchResults, source: string): string {
  const list = results.fanout ?? [];
  if (list.length === 0) throw new Error(`${source} holds no fan-out measurements: run \`npm run bench\` (or bench/fanout/run.ts) first`);
  const caption = [`from ${source}`, results.date, results.machine].filter(Boolean).join('; ');
  return renderChart([...fanoutPanels(tableRuns(list)), ...gridPanels(results.grid ?? [])], caption);
}

/** Where the chart lives, committed and shown in the README (bench/results/ is not committed). */
const PLOT_PATH = fileURLToPath(new URL('../plots/cpu-memory.svg', import.meta.url));

export function writeBenchChart(results: BenchResults, source: string): string {
  mkdirSync(dirname(PLOT_PATH), { recursive: true });
  writeFileSync(PLOT_PATH, benchChart(results, source));
  return PLOT_PATH;
}
