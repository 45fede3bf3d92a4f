import { cpus, loadavg } from 'node:os';
import { formatTable, saveResults } from '../lib/table.ts';
import { runGridSoak, soakOptions } from './soak.ts';

/**
 * `node --import tsx bench/grid/soak-run.ts [--quick] [--minutes N] [--fps N]`: the memory of a
 * 16-camera grid open for what stands for hours of a user (soak.ts). Default ~10 minutes, --quick ~90 s.
 */
const argv = process.argv.slice(2);
const flag = (name: string): number | undefined => {
  const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  const value = Number(argv[i]!.includes('=') ? argv[i]!.slice(name.length + 1) : argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
  return value;
};
const quick = argv.includes('--quick');
const options = { ...soakOptions(quick, flag('--minutes'), flag('--fps')), log: (line: string) => process.stderr.write(`${line}\n`) };
const load = loadavg()[0]!.toFixed(1);
const result = await runGridSoak(options);
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${load} at start, ${loadavg()[0]!.toFixed(1)} at the end`;
const minutes = ((result.samples.at(-1)?.atSeconds ?? 0) / 60).toFixed(1);
saveResults(quick ? 'grid-soak-quick' : 'grid-soak', { machine, minutes, fps: options.fps, ...result });
for (const w of result.warnings.slice(0, 10)) process.stderr.write(`  page: ${w}\n`);
process.stdout.write(`\n${machine}; ${quick ? 'quick' : 'full'} soak, ${minutes} min of events, cameras at ${options.fps} fps\n\n${formatTable(result.rows)}\n`);
