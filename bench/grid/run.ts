import { cpus, loadavg } from 'node:os';
import { formatTable, parseArgs, saveResults } from '../lib/table.ts';
import { runGridBench } from './grid-bench.ts';

/** `node --import tsx bench/grid/run.ts [--quick]`: the camera grid beside one camera in full view, in Chromium. */
const options = { ...parseArgs(process.argv.slice(2)), log: (line: string) => process.stderr.write(`${line}\n`) };
const started = Date.now();
const load = loadavg()[0]!.toFixed(1);
const result = await runGridBench(options);
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${load} at start, ${loadavg()[0]!.toFixed(1)} at the end`;
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
saveResults(options.quick ? 'grid-quick' : 'grid', { machine, minutes, rows: result.rows, measurements: result.measurements });
process.stdout.write(`\n${machine}; ${options.quick ? 'quick' : 'full'} run in ${minutes} min\n\n${formatTable(result.rows)}\n`);
