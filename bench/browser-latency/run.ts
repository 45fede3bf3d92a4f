import { cpus } from 'node:os';
import { formatTable, parseArgs, saveResults } from '../lib/table.ts';
import { parseBrowserLatencyArgs, runBrowserLatency } from './browser-latency.ts';
import { runEngineLatency } from './engines.ts';

/**
 * node --import tsx bench/browser-latency/run.ts [--quick] [--soak 600] [--engines]
 *   [--only=share,webcodecs,mse,old] [--seconds=30] [--opens=1] [--res=720p] [--rounds=3] [--cpu-prof [--trace-window]]
 * Camera write -> frame presented in headless Chromium, read from the displayed pixels.
 * --engines: only the per-engine rows (Chromium, Firefox, WebKitGTK; both player paths on each).
 * --only ... --rounds: some rows, watched longer, several times over in one run (the latency tail:
 * each row logs the writes never shown and what the page did at each late picture, stalls.ts).
 * A run with any of them saves to results/browser-latency-partial.json.
 */

const argv = process.argv.slice(2);
const soakAt = argv.indexOf('--soak');
const soak = soakAt >= 0 ? Number(argv[soakAt + 1] ?? 600) : undefined;
const partial = parseBrowserLatencyArgs(argv);
const options = { ...parseArgs(argv), ...partial, ...(soak ? { soak } : {}), log: (line: string) => process.stderr.write(`${line}\n`) };
const started = Date.now();
if (argv.includes('--engines')) {
  const engines = await runEngineLatency(options);
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`;
  saveResults(options.quick ? 'browser-engines-quick' : 'browser-engines', { machine, minutes, rows: engines.rows, measurements: engines.measurements });
  process.stdout.write(`\n${machine}; ${options.quick ? 'quick' : 'full'} run in ${minutes} min\n\n${formatTable(engines.rows)}\n`);
  process.exit(0);
}
const result = await runBrowserLatency(options);
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, Chromium ${result.chromium}`;
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const partialRun = Object.keys(partial).length > 0;
saveResults(partialRun ? 'browser-latency-partial' : options.quick ? 'browser-latency-quick' : soak ? 'browser-latency-soak' : 'browser-latency', { machine, minutes, rows: result.rows, measurements: result.measurements });
process.stdout.write(`\n${machine}; ${options.quick ? 'quick' : 'full'} run in ${minutes} min\n\n${formatTable(result.rows)}\n`);
