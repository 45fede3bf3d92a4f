import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { RESULTS_DIR } from '../lib/table.ts';
import { writeBenchChart, type BenchResults } from './bench-plots.ts';

/**
 * `node --import tsx bench/plot/run.ts [file.json ...]`: draws bench/plots/cpu-memory.svg (committed,
 * shown in the README) from a full run's bench/results/all.json, or from the files given: an
 * all.json, or the single benches' fanout.json and grid.json (bench/fanout/run.ts, bench/grid/run.ts).
 * `npm run bench` does this itself after a full run.
 */
const files = process.argv.length > 2 ? process.argv.slice(2) : [`${RESULTS_DIR}all.json`];
const merged: BenchResults = {};
for (const file of files) {
  const data = JSON.parse(readFileSync(file, 'utf8')) as BenchResults & { measurements?: unknown };
  const name = basename(file);
  if (name.startsWith('fanout')) merged.fanout = data.measurements as BenchResults['fanout'];
  else if (name.startsWith('grid')) merged.grid = data.measurements as BenchResults['grid'];
  else Object.assign(merged, data);
}
// The single benches' files carry no date: the newest file's is the run's.
merged.date ??= new Date(Math.max(...files.map((f) => statSync(f).mtimeMs))).toISOString().slice(0, 10);
process.stdout.write(`wrote ${writeBenchChart(merged, files.map((f) => basename(f)).join(' + '))}\n`);
