import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
 *
 * --prof: a V8 CPU profile of the recording relay into DIR; --hold: print the pids and keep running
 * until SIGINT (to attach strace or perf).
 */

const { values } = parseArgs({
  options: {
    windows: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    cameras: { type: 'string', default: '50' },
    prof: { type: 'string' },
    hold: { type: 'boolean', default: false },
  },
});
const CLIP = fileURLToPath(new URL('../../test/fixtures/clips/1280x720-main.h264', import.meta.url));
const TICKS = 100;

interface Side {
  mode: 'off' | 'continuous';
  relay: BenchRelay;
  publisher: Helper;
}

/** utime and stime of `pid`, seconds */
function times(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / TICKS, sys: Number(f[12]) / TICKS };
}

async function start(mode: Side['mode'], cameras: number, prof?: string): Promise<Side> {
  const relay = await startBenchRelay({ env: { RECORD_DEFAULT: mode }, ...(mode === 'continuous' && prof ? { cpuProfDir: prof } : {}) });
  const made = await relay.createCameras(cameras);
  const publisher = startHelper('../fanout/publisher.ts');
  const targets = made.map((c) => ({ url: `${relay.wsUrl}/api/agent`, headers: { authorization: `Bearer ${c.credential}` } }));
  await publisher.request({ type: 'connect', cameras: targets, clip: CLIP, fps: 30 }, 'connected');
  return { mode, relay, publisher };
}

const cameras = Number(values.cameras);
const sides = [await start('off', cameras), await start('continuous', cameras, values.prof)];
try {
  for (const s of sides) await s.publisher.request({ type: 'start' }, 'started');
  await sleep(5000);
  if (values.hold) {
    process.stdout.write(`relay off pid ${sides[0]!.relay.pid}, recording pid ${sides[1]!.relay.pid}; Ctrl-C to stop\n`);
    await new Promise((resolve) => process.once('SIGINT', resolve));
  }
  const sums = sides.map(() => ({ user: 0, sys: 0 }));
  let wall = 0;
  for (let w = 0; w < Number(values.windows); w++) {
    const before = sides.map((s) => times(s.relay.pid));
    const t0 = performance.now();
    await sleep(Number(values.seconds) * 1000);
    const secs = (performance.now() - t0) / 1000;
    wall += secs;
    const pct = sides.map((s, i) => {
      const now = times(s.relay.pid);
      const d = { user: now.user - before[i]!.user, sys: now.sys - before[i]!.sys };
      sums[i]!.user += d.user;
      sums[i]!.sys += d.sys;
      return { user: (100 * d.user) / secs, sys: (100 * d.sys) / secs };
    });
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    process.stdout.write(`${line(`window ${w + 1}`, pct[0]!, pct[1]!)}  load ${load}\n`);
  }
  const total = sums.map((s) => ({ user: (100 * s.user) / wall, sys: (100 * s.sys) / wall }));
  process.stdout.write(`${line('all', total[0]!, total[1]!)}\n`);
} finally {
  for (const s of sides) {
    await s.publisher.stop();
    await s.relay.stop();
  }
}

function line(label: string, off: { user: number; sys: number }, on: { user: number; sys: number }): string {
  const a = off.user + off.sys;
  const b = on.user + on.sys;
  const f = (x: number) => x.toFixed(1).padStart(5);
  return `${label.padEnd(9)} off ${f(a)} % (usr ${f(off.user)} sys ${f(off.sys)})  on ${f(b)} % (usr ${f(on.user)} sys ${f(on.sys)})  +${f(b - a)} %  ${(b / a).toFixed(2)}x`;
}
