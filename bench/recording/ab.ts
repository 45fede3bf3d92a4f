import { openSync, readFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startHelper, sleep, type Helper } from '../lib/children.ts';
import { startBenchRelay, type BenchRelay } from '../lib/relay.ts';

/**
 * The recorder's cost, side by side: two real relays at once, one with RECORD_DEFAULT=off and one
 * with continuous, each fed 50 cameras by its own bench publisher, measured over the same windows.
 * Whatever else the machine does then weighs on both, which two runs one after the other (run.ts)
 * cannot promise on a shared 2-core box. Prints user and system CPU apart (system: the writes).
 *
 *   node --import tsx bench/recording/ab.ts [--windows 4] [--seconds 10] [--prof DIR] [--hold]
 *     [--node-args "--trace-gc ..."] [--gc-log DIR] [--base DIR] [--stalls]
 *
 * --prof: a V8 CPU profile of the recording relay into DIR; --hold: print the pids and keep running
 * until SIGINT (to attach strace or perf). --node-args: V8/Node flags for every relay; with
 * --trace-gc among them, each window also counts each relay's scavenges and mark-compacts, and
 * --gc-log writes each relay's trace to DIR/<side>.log. --base: a third relay, recording, run from
 * another checkout (e.g. `git worktree add /tmp/wt-base HEAD~1`, node_modules linked): the old
 * and new recorder over the same windows as the off relay. --stalls: each relay's longest event-loop
 * stall per window (its /metrics, nodejs_eventloop_lag_max_seconds, read every 2 s): what every
 * live viewer of that relay waited on top of the network.
 */

const { values } = parseArgs({
  options: {
    windows: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    cameras: { type: 'string', default: '50' },
    prof: { type: 'string' },
    hold: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
    'gc-log': { type: 'string' },
    base: { type: 'string' },
    stalls: { type: 'boolean', default: false },
  },
});
const CLIP = fileURLToPath(new URL('../../test/fixtures/clips/1280x720-main.h264', import.meta.url));
const TICKS = 100;

type Start = typeof startBenchRelay;

interface Side {
  label: string;
  relay: BenchRelay;
  publisher: Helper;
  gc: GcCounter;
  stalls: StallMeter | undefined;
}

const METRICS_TOKEN = 'bench-recording-ab-metrics';
const STALL_POLL_MS = 2000;

/** The relay's longest event-loop stall since reset(), read from its /metrics (prom-client resets it per scrape). */
class StallMeter {
  maxMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(url: string) {
    this.timer = setInterval(() => void this.poll(url), STALL_POLL_MS);
  }

  reset(): void {
    this.maxMs = 0;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async poll(url: string): Promise<void> {
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).catch(() => undefined);
    const text = res?.ok ? await res.text() : '';
    const max = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1];
    if (max !== undefined) this.maxMs = Math.max(this.maxMs, Number(max) * 1000);
  }
}

/** utime and stime of `pid`, seconds */
function times(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / TICKS, sys: Number(f[12]) / TICKS };
}

/** Scavenges and mark-compacts seen in a relay's --trace-gc output (one line per collection). */
class GcCounter {
  scavenges = 0;
  markCompacts = 0;
  /** mark-compact reasons, as V8 prints them after the timing */
  readonly reasons = new Map<string, number>();
  private rest = '';

  constructor(relay: BenchRelay, log?: string) {
    const fd = log ? openSync(log, 'w') : undefined;
    relay.child.stdout!.on('data', (chunk: string) => {
      if (fd !== undefined) writeSync(fd, chunk);
      const lines = (this.rest + chunk).split('\n');
      this.rest = lines.pop()!;
      for (const l of lines) {
        if (/: Scavenge /.test(l)) this.scavenges++;
        else if (/: Mark-Compact /.test(l)) {
          this.markCompacts++;
          // "... (average mu = 0.99, current mu = 0.98) finalize incremental marking via task; GC in old space requested"
          const reason = /current mu = [\d.]+\) (.*)$/.exec(l)?.[1]?.trim() ?? '?';
          this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
        }
      }
    });
  }
}

async function start(label: string, startRelay: Start, mode: 'off' | 'continuous', cameras: number, prof?: string): Promise<Side> {
  const saved = process.env.PICAM_BENCH_RELAY_NODE_ARGS;
  process.env.PICAM_BENCH_RELAY_NODE_ARGS = values['node-args'];
  const relay = await startRelay({ env: { RECORD_DEFAULT: mode, ...(values.stalls ? { METRICS_TOKEN } : {}) }, ...(mode === 'continuous' && prof ? { cpuProfDir: prof } : {}) });
  process.env.PICAM_BENCH_RELAY_NODE_ARGS = saved;
  const gc = new GcCounter(relay, values['gc-log'] ? resolve(values['gc-log'], `${label}.log`) : undefined);
  const made = await relay.createCameras(cameras);
  const publisher = startHelper('../fanout/publisher.ts');
  const targets = made.map((c) => ({ url: `${relay.wsUrl}/api/agent`, headers: { authorization: `Bearer ${c.credential}` } }));
  await publisher.request({ type: 'connect', cameras: targets, clip: CLIP, fps: 30 }, 'connected');
  return { label, relay, publisher, gc, stalls: values.stalls ? new StallMeter(relay.url) : undefined };
}

const cameras = Number(values.cameras);
const sides = [await start('off', startBenchRelay, 'off', cameras), await start('on', startBenchRelay, 'continuous', cameras, values.prof)];
if (values.base) {
  const base = (await import(pathToFileURL(resolve(values.base, 'bench/lib/relay.ts')).href)) as { startBenchRelay: Start };
  sides.push(await start('base', base.startBenchRelay, 'continuous', cameras));
}
const tracing = /--trace-gc\b/.test(values['node-args']);
try {
  for (const s of sides) await s.publisher.request({ type: 'start' }, 'started');
  await sleep(5000);
  if (values.hold) {
    process.stdout.write(`${sides.map((s) => `${s.label} pid ${s.relay.pid}`).join(', ')}; Ctrl-C to stop\n`);
    await new Promise((resolve) => process.once('SIGINT', resolve));
  }
  const sums = sides.map(() => ({ user: 0, sys: 0, scavenges: 0, markCompacts: 0, stallMs: 0 }));
  let wall = 0;
  for (let w = 0; w < Number(values.windows); w++) {
    const before = sides.map((s) => ({ ...times(s.relay.pid), scavenges: s.gc.scavenges, markCompacts: s.gc.markCompacts }));
    for (const s of sides) s.stalls?.reset();
    const t0 = performance.now();
    await sleep(Number(values.seconds) * 1000);
    const secs = (performance.now() - t0) / 1000;
    wall += secs;
    const pct = sides.map((s, i) => {
      const now = times(s.relay.pid);
      const d = { user: now.user - before[i]!.user, sys: now.sys - before[i]!.sys, scavenges: s.gc.scavenges - before[i]!.scavenges, markCompacts: s.gc.markCompacts - before[i]!.markCompacts };
      const sum = sums[i]!;
      sum.user += d.user;
      sum.sys += d.sys;
      sum.scavenges += d.scavenges;
      sum.markCompacts += d.markCompacts;
      const stallMs = s.stalls?.maxMs ?? 0;
      sum.stallMs = Math.max(sum.stallMs, stallMs);
      return { user: (100 * d.user) / secs, sys: (100 * d.sys) / secs, scavenges: d.scavenges, markCompacts: d.markCompacts, stallMs };
    });
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    process.stdout.write(`${line(`window ${w + 1}`, pct)}  load ${load}\n`);
  }
  process.stdout.write(`${line('all', sums.map((s) => ({ ...s, user: (100 * s.user) / wall, sys: (100 * s.sys) / wall })))}\n`);
  if (tracing) {
    for (const s of sides) process.stdout.write(`${s.label}: mark-compact reasons over the whole run ${JSON.stringify(Object.fromEntries(s.gc.reasons))}\n`);
  }
} finally {
  for (const s of sides) {
    s.stalls?.stop();
    await s.publisher.stop();
    await s.relay.stop();
  }
}

function line(label: string, pct: Array<{ user: number; sys: number; scavenges: number; markCompacts: number; stallMs: number }>): string {
  const f = (x: number) => x.toFixed(1).padStart(5);
  const off = pct[0]!;
  const a = off.user + off.sys;
  const parts = pct.map((p, i) => {
    const b = p.user + p.sys;
    const gc = tracing ? ` gc ${p.scavenges}s/${p.markCompacts}mc` : '';
    const stall = values.stalls ? ` stall ${p.stallMs.toFixed(0).padStart(3)} ms` : '';
    const vs = i === 0 ? '' : `  +${f(b - a)} % ${(b / a).toFixed(2)}x`;
    return `${sides[i]!.label} ${f(b)} % (usr ${f(p.user)} sys ${f(p.sys)})${gc}${stall}${vs}`;
  });
  return `${label.padEnd(9)} ${parts.join(' | ')}`;
}
