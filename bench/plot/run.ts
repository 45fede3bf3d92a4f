import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { RESULTS_DIR } from '../lib/table.ts';
import { writeBenchChart, type BenchResults } from './bench-plots.ts';

/**
 * `node --import tsx bench/plot/run.ts [results.json]`: draws bench/plots/cpu-memory.svg (committed,
 * shown in the README) from a full run's bench/results/all.json, or from the file given.
 * `npm run bench` does this itself after a full run.
 */
const source = process.argv[2] ?? `${RESULTS_DIR}all.json`;
const results = JSON.parse(readFileSync(source, 'utf8')) as BenchResults;
process.stdout.write(`wrote ${writeBenchChart(results, basename(source))}\n`);
