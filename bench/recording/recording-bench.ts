import { fileURLToPath } from 'node:url';
import { startHelper, sleep, type Helper } from '../lib/children.ts';
import { clipBitrate, loadUnits } from '../lib/clips.ts';
import { WindowMeter, type WindowUsage } from '../lib/proc.ts';
import { startBenchRelay, type BenchRelay } from '../lib/relay.ts';
import { mib, ms, pct, ratio, verdict, type BenchOptions, type Row } from '../lib/table.ts';

/**
 * Recording benchmark: 50 cameras (the bench publisher, 720p30 ~2.1 Mbit/s each, real time) into
 * two real relays side by side, one with RECORD_DEFAULT=off and one with continuous: relay CPU and
 * RSS over the same 30 s window, once the recorder is in its steady state, the bytes the recorder
 * wrote against the bytes it got (its /metrics counters), and how long clip.mp4 takes from the
 * request to its first byte.
 * bench/recording/ab.ts repeats the CPU comparison window by window (user and system apart, a CPU
 * profile, or time to attach strace/perf).
 */

const CAMERAS = 50;
const CLIP = fileURLToPath(new URL('../../test/fixtures/clips/1280x720-main.h264', import.meta.url));
const METRICS_TOKEN = 'bench-recording-metrics-token';
const CLIP_REQUESTS = 10;

export interface RecordingMeasurement {
  mode: 'off' | 'continuous';
  usage: WindowUsage;
  /** bytes the agents sent (frame messages, headers included) and the recorder wrote, over the window */
  bytesIn: number;
  bytesWritten: number;
  /** request -> first byte of a 6 s clip.mp4, ms, sorted */
  clipFirstByteMs: number[];
}

async function metricSum(relay: BenchRelay, name: string): Promise<number> {
  const res = await fetch(`${relay.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  let sum = 0;
  for (const line of (await res.text()).split('\n')) {
    const match = /^(\w+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (match && match[1] === name) sum += Number(match[2]);
  }
  return sum;
}

async function firstByteMs(relay: BenchRelay, cameraId: string, from: number, to: number): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${relay.url}/api/cameras/${cameraId}/recordings/clip.mp4?from=${from}&to=${to}`, { headers: { authorization: `Bearer ${relay.token}` } });
  if (res.status !== 200) throw new Error(`clip.mp4: ${res.status} ${await res.text()}`);
  const reader = res.body!.getReader();
  await reader.read();
  const elapsed = performance.now() - started;
  await reader.cancel();
  return elapsed;
}

interface Side {
  mode: RecordingMeasurement['mode'];
  relay: BenchRelay;
  cameras: Array<{ id: string; credential: string }>;
}

/**
 * Both relays at once, each fed by its own publisher, measured over the same window: whatever else
 * the machine does meanwhile weighs on both. Measured one after the other, the ratio moved with the
 * load of a shared 2-core box by as much as the recorder costs.
 */
async function measureBoth(options: BenchOptions): Promise<[RecordingMeasurement, RecordingMeasurement]> {
  // Past the kernel's first writeback of the recorded pages (vm.dirty_expire_centisecs, 30 s by
  // default): from then on the recorder's writes cost more system time, and a window that ends
  // before it measures a recorder that has not yet reached its steady state.
  const warmupMs = options.quick ? 3000 : 35_000;
  const windowMs = options.quick ? 5000 : 30_000;
  const sides: Side[] = [];
  const helpers: Helper[] = [];
  try {
    for (const mode of ['off', 'continuous'] as const) {
      const relay = await startBenchRelay({ env: { RECORD_DEFAULT: mode, METRICS_TOKEN } });
      sides.push({ mode, relay, cameras: await relay.createCameras(CAMERAS) });
    }
    for (const side of sides) {
      const publisher = startHelper('../fanout/publisher.ts');
      helpers.push(publisher);
      const targets = side.cameras.map((c) => ({ url: `${side.relay.wsUrl}/api/agent`, headers: { authorization: `Bearer ${c.credential}` } }));
      await publisher.request({ type: 'connect', cameras: targets, clip: CLIP, fps: 30 }, 'connected');
    }
    for (const publisher of helpers) await publisher.request({ type: 'start' }, 'started');
    await sleep(warmupMs);
    const meters = sides.map((side) => new WindowMeter(side.relay.pid));
    const inBefore = await Promise.all(sides.map((side) => metricSum(side.relay, 'picam_bytes_in_total')));
    const writtenBefore = await Promise.all(sides.map((side) => metricSum(side.relay, 'picam_recording_bytes_written_total')));
    for (const meter of meters) meter.start();
    await sleep(windowMs);
    const usages = meters.map((meter) => meter.stop());
    const results: RecordingMeasurement[] = [];
    for (const [i, side] of sides.entries()) {
      const usage = usages[i]!;
      const bytesIn = (await metricSum(side.relay, 'picam_bytes_in_total')) - inBefore[i]!;
      const bytesWritten = (await metricSum(side.relay, 'picam_recording_bytes_written_total')) - writtenBefore[i]!;
      const clipFirstByteMs: number[] = [];
      if (side.mode === 'continuous') {
        const now = Date.now();
        for (let n = 0; n < CLIP_REQUESTS; n++) clipFirstByteMs.push(await firstByteMs(side.relay, side.cameras[n % CAMERAS]!.id, now - 8000, now - 2000));
        clipFirstByteMs.sort((a, b) => a - b);
      }
      options.log?.(
        `recording ${side.mode}: relay CPU ${usage.cpuPercent.toFixed(1)} %, RSS ${usage.peakRssMiB.toFixed(0)} MB, in ${(bytesIn / 1e6).toFixed(1)} MB, written ${(bytesWritten / 1e6).toFixed(1)} MB (machine ${usage.machinePercent.toFixed(0)} % of a core)`,
      );
      results.push({ mode: side.mode, usage, bytesIn, bytesWritten, clipFirstByteMs });
    }
    return [results[0]!, results[1]!];
  } finally {
    for (const h of helpers) await h.stop();
    for (const side of sides) await side.relay.stop();
  }
}

export async function runRecordingBench(options: BenchOptions): Promise<{ rows: Row[]; measurements: RecordingMeasurement[]; clipMbps: number }> {
  const [off, on] = await measureBoth(options);
  const cpuRatio = on.usage.cpuPercent / off.usage.cpuPercent;
  const diskRatio = on.bytesWritten / on.bytesIn;
  const p50 = on.clipFirstByteMs[Math.floor(on.clipFirstByteMs.length / 2)] ?? Number.NaN;
  const max = on.clipFirstByteMs.at(-1) ?? Number.NaN;
  const rows: Row[] = [
    {
      figure: `relay CPU, ${CAMERAS} cameras recording (vs not, same run)`,
      value: pct(on.usage.cpuPercent),
      target: '<= 1.3x not recording',
      floor: pct(off.usage.cpuPercent),
      ratio: ratio(on.usage.cpuPercent, off.usage.cpuPercent),
      verdict: options.quick ? 'info' : verdict(cpuRatio <= 1.3),
    },
    {
      figure: `relay peak RSS, ${CAMERAS} cameras recording (vs not)`,
      value: mib(on.usage.peakRssMiB),
      target: '-',
      floor: mib(off.usage.peakRssMiB),
      ratio: ratio(on.usage.peakRssMiB, off.usage.peakRssMiB),
      verdict: 'info',
    },
    {
      figure: 'recording: disk bytes written / bytes received',
      value: `${(on.bytesWritten / 1e6).toFixed(1)} MB / ${(on.bytesIn / 1e6).toFixed(1)} MB`,
      target: '<= 1.10',
      floor: '-',
      ratio: `${diskRatio.toFixed(3)}`,
      verdict: options.quick ? 'info' : verdict(diskRatio <= 1.1),
    },
    {
      figure: `clip.mp4 start (request -> first byte), 6 s clip, p50 / max of ${CLIP_REQUESTS}, while recording`,
      value: `${ms(p50)} / ${ms(max)}`,
      target: '-',
      floor: '-',
      ratio: '-',
      verdict: 'info',
    },
  ];
  return { rows, measurements: [off, on], clipMbps: clipBitrate(loadUnits(CLIP)) / 1e6 };
}
