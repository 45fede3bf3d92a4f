import { writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';

/**
 * How the fuzz tests run (the `*.fuzz.test.ts` files and relay-server/test/fuzz-relay.test.ts).
 *
 * Bounded, the default inside `npm test`: a fixed seed and each target's own input count, chosen so
 * that all of them together take seconds; the same inputs every run.
 * Long, `npm run fuzz`: PICAM_FUZZ_SECONDS per target (or PICAM_FUZZ_RUNS inputs per target) from a
 * random seed, printed so a failure can be replayed: PICAM_FUZZ_SEED=<seed> with the same command.
 *
 * Every parser call runs under `guarded`: a call slower than SLOW_CALL_MS fails the property (and is
 * shrunk like any failure), and a call that never returns (an infinite loop cannot be interrupted on
 * its own thread) is caught by a watchdog thread that prints the target, the seed and the input, then
 * kills the process so the test fails instead of hanging.
 */

const FIXED_SEED = 0x5eed_1e18;
/** A parser call on inputs of at most a few hundred KiB takes a few ms at most; 2 s (on a loaded machine) is a bug. */
const SLOW_CALL_MS = 2000;
/** A call still running after this long is a hang. */
const HANG_MS = 15_000;

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

const runsOverride = envNumber('PICAM_FUZZ_RUNS');
const secondsBudget = envNumber('PICAM_FUZZ_SECONDS');
const seedOverride = envNumber('PICAM_FUZZ_SEED');

const fuzzMode: 'bounded' | 'long' = runsOverride !== undefined || secondsBudget !== undefined ? 'long' : 'bounded';
const fuzzSeed: number =
  seedOverride !== undefined ? Math.trunc(seedOverride) : fuzzMode === 'bounded' ? FIXED_SEED : (Math.random() * 2 ** 31) >>> 0;

let replayHint = `fuzz ${fuzzMode}: seed ${fuzzSeed}`;

/**
 * The line every fuzz file prints first: the seed and the command that replays the file. Written to
 * stderr synchronously, so it is out even if the watchdog kills the process a moment later.
 */
export function announceSeed(fileUrl: string): string {
  const file = relative(process.cwd(), fileURLToPath(fileUrl));
  const env = [`PICAM_FUZZ_SEED=${fuzzSeed}`];
  if (runsOverride !== undefined) env.push(`PICAM_FUZZ_RUNS=${runsOverride}`);
  if (secondsBudget !== undefined) env.push(`PICAM_FUZZ_SECONDS=${secondsBudget}`);
  const line = `fuzz ${fuzzMode}: seed ${fuzzSeed}; replay: ${env.join(' ')} node --import tsx --test ${file}`;
  writeSync(2, `${line}\n`);
  replayHint = line;
  return line;
}

/** fast-check parameters for a target whose bounded run is `boundedRuns` inputs. */
function fuzzParameters<T>(boundedRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  if (fuzzMode === 'bounded') return { seed: fuzzSeed, numRuns: boundedRuns, ...extra };
  return {
    seed: fuzzSeed,
    numRuns: runsOverride ?? Number.MAX_SAFE_INTEGER,
    ...(secondsBudget !== undefined && runsOverride === undefined
      ? { interruptAfterTimeLimit: secondsBudget * 1000, markInterruptAsFailure: false }
      : {}),
    ...extra,
  };
}

/** node:test timeout for a target: generous in bounded mode, the budget plus shrinking time in long mode. */
export function fuzzTimeoutMs(boundedMs: number): number {
  if (fuzzMode === 'bounded') return boundedMs;
  if (runsOverride !== undefined) return Number.POSITIVE_INFINITY;
  return (secondsBudget ?? 0) * 1000 + 120_000;
}

interface Reporter {
  diagnostic(message: string): void;
}

/**
 * Runs one property (sync or async) with the mode's parameters; throws fast-check's report (seed,
 * counterexample, shrink path) on failure and otherwise reports how many inputs it ran.
 */
export async function checkProperty<Ts extends unknown[]>(
  t: Reporter,
  target: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  boundedRuns: number,
  extra: fc.Parameters<Ts> = {},
): Promise<number> {
  const started = performance.now();
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, fuzzParameters(boundedRuns, extra));
  if (details.failed) throw new Error(failureReport(target, details));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const line = `${target}: ${details.numRuns} inputs in ${seconds} s (${fuzzMode}, seed ${fuzzSeed})`;
  t.diagnostic(line);
  return details.numRuns;
}

/**
 * fast-check's own report prints the whole counterexample, and a mutated clip is tens of KiB: the
 * report here shortens byte arrays and long strings, and writes the full input to a file.
 */
function failureReport<Ts>(target: string, details: fc.RunDetails<Ts>): string {
  const lines = [`${target}: property failed after ${details.numRuns} input(s), shrunk ${details.numShrinks} time(s)`];
  const error = details.errorInstance;
  lines.push(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  if (details.counterexample !== null) {
    lines.push(`counterexample: ${shorten(details.counterexample)}`);
    const file = join(tmpdir(), `picam-fuzz-${target.replace(/[^\w.-]+/g, '_')}-${fuzzSeed}.json`);
    writeFileSync(file, JSON.stringify(details.counterexample, (_k, v: unknown) => (v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v)));
    lines.push(`full counterexample (byte arrays as hex): ${file}`);
  }
  lines.push(`fast-check: { seed: ${details.seed}, path: "${details.counterexamplePath ?? ''}" }`, replayHint);
  return lines.join('\n');
}

function shorten(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Uint8Array) {
      const hex = Buffer.from(v.subarray(0, 48)).toString('hex');
      return `Uint8Array(${v.length}) ${hex}${v.length > 48 ? '…' : ''}`;
    }
    if (typeof v === 'string' && v.length > 300) return `${v.slice(0, 300)}… (${v.length} chars)`;
    return v;
  });
}

// ---- the watchdog -------------------------------------------------------------------------------

const INPUT_BYTES = 64 * 1024;
const LABEL_BYTES = 256;
// Layout: [0] Int32 state (0 idle, 1 busy), [4] Int32 input length, [8] Float64 call start (Date.now),
// [16] label, then the input bytes.
const shared = new SharedArrayBuffer(16 + LABEL_BYTES + INPUT_BYTES);
const state = new Int32Array(shared, 0, 2);
const startedAt = new Float64Array(shared, 8, 1);
const label = new Uint8Array(shared, 16, LABEL_BYTES);
const inputArea = new Uint8Array(shared, 16 + LABEL_BYTES, INPUT_BYTES);
const encoder = new TextEncoder();
let watchdog: Worker | undefined;

// Plain JavaScript run with `eval`: it only polls the shared memory and must work while the main
// thread is stuck, so it writes with fs.writeSync (console output goes through the main thread).
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { shared, hangMs, labelBytes, inputBytes, hint } = workerData;
const state = new Int32Array(shared, 0, 2);
const startedAt = new Float64Array(shared, 8, 1);
const label = new Uint8Array(shared, 16, labelBytes);
const input = new Uint8Array(shared, 16 + labelBytes, inputBytes);
setInterval(() => {
  if (Atomics.load(state, 0) !== 1 || Date.now() - startedAt[0] < hangMs) return;
  const name = Buffer.from(label).toString('utf8').replace(/\\0+$/, '');
  const bytes = Buffer.from(input.subarray(0, Math.min(Atomics.load(state, 1), input.length)));
  writeSync(2, '\\nFUZZ HANG: ' + name + ' has not returned after ' + hangMs + ' ms\\n' + hint +
    '\\ninput (' + Atomics.load(state, 1) + ' bytes, hex): ' + bytes.toString('hex') + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 250);
`;

function ensureWatchdog(): void {
  if (watchdog) return;
  watchdog = new Worker(WATCHDOG_SOURCE, {
    eval: true,
    workerData: { shared, hangMs: HANG_MS, labelBytes: LABEL_BYTES, inputBytes: INPUT_BYTES, hint: replayHint },
  });
  watchdog.unref();
}

/**
 * Runs one parser call under the step/time guard: returns its value, rethrows what it throws, and
 * throws if it took longer than SLOW_CALL_MS. `input` is what the watchdog prints if it hangs.
 */
export function guarded<T>(target: string, input: Uint8Array | string, call: () => T): T {
  const bytes = arm(target, input);
  const start = performance.now();
  try {
    return call();
  } finally {
    Atomics.store(state, 0, 0);
    const elapsed = performance.now() - start;
    if (elapsed > SLOW_CALL_MS) {
      // eslint-disable-next-line no-unsafe-finally -- a slow call is the failure we report, whatever it returned
      throw new Error(`${target}: one call took ${elapsed.toFixed(0)} ms on ${bytes} bytes (limit ${SLOW_CALL_MS} ms)`);
    }
  }
}

/**
 * `guarded` for an asynchronous call (a request through the app): a promise still pending after
 * `limitMs` fails the property; a handler stuck in a loop blocks the event loop, and the watchdog
 * reports it.
 */
export async function guardedAsync<T>(target: string, input: Uint8Array | string, call: () => Promise<T>, limitMs = 5 * SLOW_CALL_MS): Promise<T> {
  arm(target, input);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      call(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${target}: no answer after ${limitMs} ms`)), limitMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    Atomics.store(state, 0, 0);
  }
}

/** Tells the watchdog a call starts: what it is and its input. Returns the input's size. */
function arm(target: string, input: Uint8Array | string): number {
  ensureWatchdog();
  label.fill(0);
  encoder.encodeInto(target.slice(0, LABEL_BYTES / 4), label);
  const bytes = typeof input === 'string' ? encoder.encode(input.slice(0, INPUT_BYTES)) : input;
  inputArea.set(bytes.length > INPUT_BYTES ? bytes.subarray(0, INPUT_BYTES) : bytes);
  Atomics.store(state, 1, bytes.length);
  startedAt[0] = Date.now();
  Atomics.store(state, 0, 1);
  return bytes.length;
}

/**
 * The property every parser must keep: return a value, or throw an error `isTyped` accepts (the
 * project's own error class). Anything else (TypeError, RangeError from reading out of bounds, a
 * stack overflow) is rethrown with the target's name so fast-check reports and shrinks it.
 */
export function parsesOrRefuses<T>(
  target: string,
  input: Uint8Array | string,
  call: () => T,
  isTyped: (err: unknown) => boolean,
): { ok: true; value: T } | { ok: false; error: unknown } {
  let value: T;
  try {
    value = guarded(target, input, call);
  } catch (err) {
    if (isTyped(err)) return { ok: false, error: err };
    throw new Error(`${target} threw an untyped error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, {
      cause: err,
    });
  }
  return { ok: true, value };
}
