import { cpus } from 'node:os';
import { runAgentBench } from './agent/agent-bench.ts';
import { runBrowserLatency } from './browser-latency/browser-latency.ts';
import { runClusterBench } from './cluster/cluster-bench.ts';
import { runEngineLatency } from './browser-latency/engines.ts';
import { runFanout } from './fanout/fanout.ts';
import { runGridBench } from './grid/grid-bench.ts';
import { runGridSoak, soakOptions } from './grid/soak.ts';
import { runRecordingBench } from './recording/recording-bench.ts';
import { explainMisses } from './lib/misses.ts';
import { writeBenchChart } from './plot/bench-plots.ts';
import { formatTable, parseArgs, saveResults, type Row } from './lib/table.ts';

/**
 * `npm run bench` (-- --quick for the smoke version): every benchmark, one table. Each row's
 * floor or baseline is measured in the same run, on the same machine, just before or after it.
 */

const options = { ...parseArgs(process.argv.slice(2)), log: (line: string) => process.stderr.write(`${line}\n`) };
const started = Date.now();
const rows: Row[] = [];
const fanout = await runFanout(options);
rows.push(...fanout.rows);
let agent: Awaited<ReturnType<typeof runAgentBench>> | undefined;
try {
  agent = await runAgentBench(options);
  rows.push(...agent.rows);
} catch (err) {
  rows.push({ figure: 'agent bench', value: `failed: ${(err as Error).message}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
}
let recording: Awaited<ReturnType<typeof runRecordingBench>> | undefined;
try {
  recording = await runRecordingBench(options);
  rows.push(...recording.rows);
} catch (err) {
  rows.push({ figure: 'recording bench', value: `failed: ${(err as Error).message}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
}
let cluster: Awaited<ReturnType<typeof runClusterBench>> | undefined;
try {
  cluster = await runClusterBench(options);
  rows.push(...cluster.rows);
} catch (err) {
  rows.push({ figure: 'cluster bench', value: `failed: ${(err as Error).message}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
}
let browser: Awaited<ReturnType<typeof runBrowserLatency>> | undefined;
try {
  browser = await runBrowserLatency(options);
  rows.push(...browser.rows);
} catch (err) {
  rows.push({ figure: 'browser latency bench', value: `failed: ${(err as Error).message}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
}
let engines: Awaited<ReturnType<typeof runEngineLatency>> | undefined;
try {
  engines = await runEngineLatency(options);
  rows.push(...engines.rows);
} catch (err) {
  rows.push({ figure: 'browser engines bench', value: `failed: ${(err as Error).message}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
}
let grid: Awaited<ReturnType<typeof runGridBench>> | undefined;
try {
  grid = await runGridBench(options);
  rows.push(...grid.rows);
} catch (err) {
  rows.push({ figure: 'grid bench', value: `failed: ${(err as Error).message}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
}
// The grid soak is ten minutes of events: full runs only (its own --quick is bench/grid/smoke.test.ts's).
let soak: Awaited<ReturnType<typeof runGridSoak>> | undefined;
if (!options.quick) {
  try {
    soak = await runGridSoak({ ...soakOptions(false), log: options.log });
    rows.push(...soak.rows);
  } catch (err) {
    rows.push({ figure: 'grid soak', value: `failed: ${(err as Error).message}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
  }
}
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, fan-out clip ${fanout.clipMbps.toFixed(1)} Mbit/s`;
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const results = { date: new Date().toISOString().slice(0, 10), machine, minutes, rows, fanout: fanout.measurements, baseline: fanout.baseline, agent, recording: recording?.measurements, cluster: cluster?.measurements, browser: browser?.measurements, engines: engines?.measurements, grid: grid?.measurements, gridSoak: soak && { samples: soak.samples, baseline: soak.baseline, events: soak.events } };
saveResults(options.quick ? 'all-quick' : 'all', results);
// The committed chart follows full runs only: a quick run's 2 s windows would redraw it from noise.
if (!options.quick) process.stderr.write(`chart: ${writeBenchChart(results, 'all.json')}\n`);
process.stdout.write(`\n${machine}; ${options.quick ? 'quick' : 'full'} run in ${minutes} min\n\n${formatTable(rows)}\n`);
// A quick run's timings mean nothing (3 s rows); its misses are not explained as if they did.
if (!options.quick) process.stdout.write(`\n${explainMisses(rows) || 'Every target met.\n'}`);
