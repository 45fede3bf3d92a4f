import { readFileSync } from 'node:fs';

/**
 * `node --import tsx bench/summarize-profile.ts <file.cpuprofile> [top] [--last=SECONDS]`
 *
 * Prints where a V8 CPU profile (from `--cpu-prof`) spent its samples: self time per function
 * (with its file and line) and per source (the package or file the function lives in), so a
 * profile can be read in a terminal and quoted in bench/README.md without DevTools.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const lastArg = args.find((a) => a.startsWith('--last='));
/** only the samples of the profile's last N seconds (the measured window, without start-up) */
const lastUs = lastArg === undefined ? Infinity : Number(lastArg.slice('--last='.length)) * 1e6;
const [file, topArg] = args.filter((a) => !a.startsWith('--'));
if (file === undefined) {
  process.stderr.write('usage: summarize-profile.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

const selfUs = new Map<number, number>();
const totalUs = profile.timeDeltas.reduce((sum, d) => sum + d, 0);
let elapsedUs = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  elapsedUs += profile.timeDeltas[i] ?? 0;
  if (totalUs - elapsedUs > lastUs) continue;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

function source(url: string): string {
  if (url === '') return '(native / V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length).split('/').slice(0, 2).join('/').replace(/\/[^@].*$/, '');
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\/.*?\/(protocol|edge-agent|relay-server|web|bench|test)\//, '$1/');
}

const perFunction = new Map<string, number>();
const perSource = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const name = `${functionName || '(anonymous)'}  ${source(url)}${url ? `:${lineNumber + 1}` : ''}`;
  perFunction.set(name, (perFunction.get(name) ?? 0) + us);
  perSource.set(source(url), (perSource.get(source(url)) ?? 0) + us);
  total += us;
}

const idle = [...selfUs].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((s, [, us]) => s + us, 0);
const busy = total - idle;
const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
process.stdout.write(
  `${file}\nwall ${(total / 1e6).toFixed(1)} s, busy (not idle) ${(busy / 1e6).toFixed(2)} s; shares below are of busy time\n\n`,
);
process.stdout.write('self time by function\n');
for (const [name, us] of [...perFunction].filter(([n]) => !n.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}\n`);
}
process.stdout.write('\nself time by source\n');
for (const [name, us] of [...perSource].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  if (name === '(native / V8)') process.stdout.write(`${pct(us - idle)}  ${((us - idle) / 1000).toFixed(0).padStart(6)} ms  ${name} (idle excluded)\n`);
  else process.stdout.write(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}\n`);
}
