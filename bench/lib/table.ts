import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * One line of the benchmark table: what was measured, against which target, beside which floor
 * or baseline measured in the same run. `verdict` is PASS/FAIL when the target is a rule, `info`
 * when the figure is reported for context, `n/a` when it could not be measured.
 */
export interface Row {
  figure: string;
  value: string;
  target: string;
  floor: string;
  ratio: string;
  verdict: 'PASS' | 'FAIL' | 'info' | 'n/a';
}

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export function ms(x: number): string {
  return Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms` : '-';
}

export function pct(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(1)} %` : '-';
}

export function mib(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(1)} MB` : '-';
}

export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return '-';
  return `${(a / b).toFixed(2)}x`;
}

export function verdict(ok: boolean | undefined): Row['verdict'] {
  if (ok === undefined) return 'info';
  return ok ? 'PASS' : 'FAIL';
}

export function formatTable(rows: readonly Row[]): string {
  const head: Row = { figure: 'figure', value: 'measured', target: 'target', floor: 'floor / baseline (same run)', ratio: 'ratio', verdict: 'PASS' };
  const cols: Array<keyof Row> = ['figure', 'value', 'target', 'floor', 'ratio', 'verdict'];
  const all = [head, ...rows];
  const width = cols.map((c) => Math.max(...all.map((r) => (c === 'verdict' && r === head ? 'verdict' : r[c]).length)));
  const line = (r: Row) =>
    `| ${cols.map((c, i) => (c === 'verdict' && r === head ? 'verdict' : r[c]).padEnd(width[i]!)).join(' | ')} |`;
  const rule = `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

/** Writes rows (and any details) as JSON into bench/results/<name>.json. */
export function saveResults(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${name}.json`;
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

export interface BenchOptions {
  quick: boolean;
  /** write a CPU profile of the relay at the largest viewer count into bench/results/ */
  profile?: boolean;
  /** fan-out: only the row with this many viewers per camera (for profiling) */
  viewers?: number;
  /** fan-out: ... and this many cameras (default 1) */
  cameras?: number;
  log?: (line: string) => void;
}

export function parseArgs(argv: readonly string[]): BenchOptions {
  const number = (flag: string): number | undefined => {
    const arg = argv.find((a) => a.startsWith(`${flag}=`));
    return arg === undefined ? undefined : Number(arg.slice(flag.length + 1));
  };
  const viewers = number('--viewers');
  const cameras = number('--cameras');
  return {
    quick: argv.includes('--quick'),
    profile: argv.includes('--cpu-prof'),
    ...(viewers !== undefined ? { viewers } : {}),
    ...(cameras !== undefined ? { cameras, viewers: viewers ?? 1 } : {}),
  };
}
