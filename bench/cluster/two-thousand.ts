import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ReceiverReport } from '../fanout/receiver.ts';
import { startHelper, sleep, type Helper } from '../lib/children.ts';
import { FANOUT_CLIP, clipBitrate, loadUnits } from '../lib/clips.ts';
import { WindowMeter, machineCpuSplit, mainThreadSched, type WindowUsage } from '../lib/proc.ts';
import { Histogram } from '../lib/stats.ts';
import { ms, pct, verdict, type BenchOptions, type Row } from '../lib/table.ts';
import type { DrainReport } from './drain-viewers.ts';
import { counterDelta, frameCounters, startCluster, startSingleRelay, viewerUrl, type ClusterNodes, type FrameCounters } from './nodes.ts';

/**
 * 2000 viewers of one camera: two relay processes behind no balancer (1000 viewers each, the
 * camera's agent on the first, the second fed over NATS) against one relay process with all 2000,
 * in the same run with the same receivers.
 *
 * The receivers must leave the cores to the relays: 2000 parsing viewers (60 000 WebSocket messages
 * a second, each timed) took both cores of this machine, and the relays rightly skipped the viewers
 * that fell behind. So most viewers are raw drains (drain-viewers.ts: an upgraded TCP socket whose
 * bytes are read into one static buffer and thrown away), and a sample per relay are the fan-out
 * bench's parsing viewers (receiver.ts) for latency and sequence gaps. Frames lost over all 2000
 * come from each relay's own count (/metrics `picam_frames_dropped_total`, every reason, over the
 * window) plus the sample's sequence gaps (a frame lost before a relay's fan-out, e.g. on the NATS
 * hop, reaches no viewer of that relay and no relay counts it).
 */

/** 1280x720, the bytes of the fan-out bench's 1000-viewer row: the row with the target. */
const SMALL_CLIP = fileURLToPath(new URL('../../test/fixtures/clips/1280x720-main.h264', import.meta.url));

export interface TwoThousandOptions extends BenchOptions {
  /** '2000': these rows alone; only then does `viewers` set their total */
  only?: '2000';
  drainProcesses?: number;
  /** drains read each socket at most once per this many ms (0: as bytes come; default DRAIN_EVERY_MS) */
  drainEveryMs?: number;
  clip?: '720p' | '1080p';
}

interface SampleFigures {
  viewers: number;
  p50: number;
  p99: number;
  frames: number;
  lost: number;
  closed: number;
}

/** One window of one setup (one relay process or two). */
interface DrainedRun {
  relays: number;
  /** per relay: viewers in all, and how many of them parse */
  viewers: number[];
  sampled: number[];
  drainProcesses: number;
  /** 0: drains read as bytes come */
  drainEveryMs: number;
  seconds: number;
  /** 1-minute load average at the window's start and end */
  load: [number, number];
  /** whole machine busy over the window, % of one core (200 % = both cores) */
  machinePercent: number;
  /** main threads of the relays, then of the drain processes: % of the window on a CPU, and runnable but waiting for one */
  eventLoops: Array<{ runPercent: number; waitPercent: number }>;
  /** the same, by kind: user (with nice), system, irq + softirq */
  machine: { user: number; system: number; softirq: number };
  cpu: { relays: number[]; drains: number; samples: number; publisher: number; nats: number | undefined };
  /** per relay, over the window */
  counters: FrameCounters[];
  /** every relay's dropped frames, all reasons */
  dropped: number;
  /** frames the relays sent to viewers (one per viewer) */
  delivered: number;
  /** sequence gaps seen by the parsing viewers */
  gaps: number;
  /** per relay */
  sample: SampleFigures[];
  drains: DrainReport;
  /** frames the camera sent over the window */
  published: number;
  /** nats-server's slow consumers since it started (two processes only) */
  slowConsumers: number | undefined;
  /** how long the window's closing edge took (the relays' /metrics and the camera's count) */
  edgeMs: number;
}

export interface TwoThousandMeasurement {
  clipMbps: number;
  one: DrainedRun;
  two: DrainedRun;
}

/**
 * A drain reads each socket at most every 100 ms: three frames a read instead of one, a third of
 * the reads for the same bytes (at 2000 viewers of 2.2 Mbit/s, 38 % of a core instead of 61 %).
 * 100 ms of video waits in the kernel's socket buffers meanwhile, far under what makes a relay
 * queue bytes of its own (its budget is about a second), so the relay's side is the same.
 */
const DRAIN_EVERY_MS = 100;

const usageOf = (u: WindowUsage | undefined) => u?.cpuPercent ?? Number.NaN;

async function measureDrained(cluster: ClusterNodes, viewers: number[], sampled: number[], clip: string, options: TwoThousandOptions): Promise<DrainedRun> {
  const drainProcesses = options.drainProcesses ?? 1;
  const warmupMs = options.quick ? 1500 : 5000;
  const windowMs = options.quick ? 2000 : 10_000;
  const helpers: Helper[] = [];
  try {
    const publisher = startHelper('../fanout/publisher.ts');
    helpers.push(publisher);
    const target = { url: `${cluster.nodes[0]!.wsUrl}/api/agent`, headers: { authorization: `Bearer ${cluster.credential}` } };
    await publisher.request({ type: 'connect', cameras: [target], clip, fps: 30 }, 'connected');

    // Each drain process holds its share of every relay's drains.
    const drainTargets: string[][] = Array.from({ length: drainProcesses }, () => []);
    let k = 0;
    viewers.forEach((count, node) => {
      const url = viewerUrl(cluster.nodes[node]!, cluster.cameraId);
      for (let i = sampled[node]!; i < count; i++) drainTargets[k++ % drainProcesses]!.push(url);
    });
    const drains = drainTargets.map(() => startHelper('../cluster/drain-viewers.ts'));
    const samples = sampled.map(() => startHelper('../fanout/receiver.ts'));
    helpers.push(...drains, ...samples);
    const drainsConnected = await Promise.all(
      drains.map((d, i) => d.request<{ failed: number; errors: string[] }>({ type: 'connect', targets: drainTargets[i], everyMs: options.drainEveryMs ?? DRAIN_EVERY_MS }, 'connected', 180_000)),
    );
    const drainFailed = drainsConnected.reduce((a, c) => a + c.failed, 0);
    if (drainFailed > 0) throw new Error(`${drainFailed} drain viewers could not connect: ${drainsConnected.flatMap((c) => c.errors).join('; ')}`);
    const samplesConnected = await Promise.all(
      samples.map((r, node) =>
        r.request<{ failed: number }>({ type: 'connect', targets: Array.from({ length: sampled[node]! }, () => ({ url: viewerUrl(cluster.nodes[node]!, cluster.cameraId) })) }, 'connected', 60_000),
      ),
    );
    const sampleFailed = samplesConnected.reduce((a, c) => a + c.failed, 0);
    if (sampleFailed > 0) throw new Error(`${sampleFailed} sampled viewers could not connect`);
    await publisher.request({ type: 'start' }, 'started');
    await sleep(warmupMs);

    const relayMeters = cluster.nodes.map((n) => new WindowMeter(n.pid));
    const natsMeter = cluster.nats?.pid === undefined ? undefined : new WindowMeter(cluster.nats.pid);
    const drainMeters = drains.map((d) => new WindowMeter(d.child.pid!));
    const sampleMeters = samples.map((s) => new WindowMeter(s.child.pid!));
    const publisherMeter = new WindowMeter(publisher.child.pid!);
    const meters = [...relayMeters, ...drainMeters, ...sampleMeters, publisherMeter, ...(natsMeter ? [natsMeter] : [])];
    // The window's edges: the relays' counters, the camera's count, every meter and every receiver
    // at once (a relay answers /metrics from the same busy event loop).
    const stats = async () => (await publisher.request<{ sent: number[] }>({ type: 'stats' }, 'stats')).sent[0] ?? 0;
    const loadStart = loadavg()[0]!;
    const splitStart = machineCpuSplit();
    const schedPids = [...cluster.nodes.map((n) => n.pid), ...drains.map((d) => d.child.pid!)];
    const schedStart = schedPids.map(mainThreadSched);
    for (const m of meters) m.start();
    for (const h of [...drains, ...samples]) h.child.send({ type: 'window-start' });
    const [before, sentBefore] = await Promise.all([Promise.all(cluster.nodes.map(frameCounters)), stats()]);
    await sleep(windowMs);
    const edgeStart = performance.now();
    const sampleReportsP = Promise.all(samples.map((r) => r.request<ReceiverReport>({ type: 'window-end' }, 'report')));
    const drainReportsP = Promise.all(drains.map((d) => d.request<DrainReport>({ type: 'window-end' }, 'report')));
    const [after, sentAfter] = await Promise.all([Promise.all(cluster.nodes.map(frameCounters)), stats()]);
    const usage = new Map(meters.map((m) => [m, m.stop()]));
    const edgeMs = performance.now() - edgeStart;
    const splitEnd = machineCpuSplit();
    const schedEnd = schedPids.map(mainThreadSched);
    const loadEnd = loadavg()[0]!;
    const [sampleReports, drainReports] = await Promise.all([sampleReportsP, drainReportsP]);
    const published = sentAfter - sentBefore;
    // nats-server drops a connection's messages when it reads too slowly (a slow consumer).
    const slowConsumers = cluster.nats
      ? (((await (await fetch(`${cluster.nats.monitorUrl}/varz`)).json()) as { slow_consumers?: number }).slow_consumers ?? Number.NaN)
      : undefined;

    const counters = after.map((a, i) => counterDelta(a, before[i]!));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const sample = sampleReports.map((r, node): SampleFigures => {
      const h = new Histogram();
      h.merge(r.histogram);
      return { viewers: sampled[node]!, p50: h.quantile(0.5), p99: h.quantile(0.99), frames: r.frames, lost: r.lost, closed: r.closed.length };
    });
    const relayUsage = usage.get(relayMeters[0]!)!;
    return {
      relays: cluster.nodes.length,
      viewers,
      sampled,
      drainProcesses,
      drainEveryMs: options.drainEveryMs ?? DRAIN_EVERY_MS,
      seconds: relayUsage.seconds,
      load: [loadStart, loadEnd],
      machinePercent: relayUsage.machinePercent,
      eventLoops: schedPids.map((_, i) => ({
        runPercent: (schedEnd[i]!.runNs - schedStart[i]!.runNs) / 1e7 / relayUsage.seconds,
        waitPercent: (schedEnd[i]!.waitNs - schedStart[i]!.waitNs) / 1e7 / relayUsage.seconds,
      })),
      machine: {
        user: (100 * (splitEnd.user - splitStart.user)) / relayUsage.seconds,
        system: (100 * (splitEnd.system - splitStart.system)) / relayUsage.seconds,
        softirq: (100 * (splitEnd.softirq - splitStart.softirq)) / relayUsage.seconds,
      },
      cpu: {
        relays: relayMeters.map((m) => usageOf(usage.get(m))),
        drains: sum(drainMeters.map((m) => usageOf(usage.get(m)))),
        samples: sum(sampleMeters.map((m) => usageOf(usage.get(m)))),
        publisher: usageOf(usage.get(publisherMeter)),
        nats: natsMeter ? usageOf(usage.get(natsMeter)) : undefined,
      },
      counters,
      dropped: sum(counters.map((c) => c.dropped.slow + c.dropped.lag + c.dropped.cache)),
      delivered: sum(counters.map((c) => c.out)),
      gaps: sum(sample.map((s) => s.lost)),
      sample,
      drains: {
        connections: sum(drainReports.map((r) => r.connections)),
        bytes: sum(drainReports.map((r) => r.bytes)),
        minBytes: Math.min(...drainReports.map((r) => r.minBytes)),
        maxBytes: Math.max(...drainReports.map((r) => r.maxBytes)),
        closed: sum(drainReports.map((r) => r.closed)),
        reads: sum(drainReports.map((r) => r.reads)),
      },
      published,
      edgeMs,
      slowConsumers,
    };
  } finally {
    await Promise.all(helpers.map((h) => h.stop()));
  }
}

const lost = (r: DrainedRun) => r.dropped + r.gaps;
const closed = (r: DrainedRun) => r.drains.closed + r.sample.reduce((a, s) => a + s.closed, 0);
/**
 * The most frames a relay took in fewer than the camera sent over the window. A relay that cannot
 * keep up falls behind on its agent's socket and drops nothing it counts: its viewers get the
 * picture later and later (until its heartbeat closes the agent, whose pong waits behind the frames).
 * Two frames of slack: the window's edges are not read at one instant.
 */
const behind = (r: DrainedRun) => Math.max(0, ...r.counters.map((c) => r.published - c.videoIn - 2));
const relayCpu = (r: DrainedRun) =>
  `${r.cpu.relays.map(pct).join(' + ')} (waiting for a CPU ${r.eventLoops
    .slice(0, r.relays)
    .map((e) => pct(e.waitPercent))
    .join(' + ')})`;
const load = (r: DrainedRun) => `load ${r.load[0].toFixed(1)}-${r.load[1].toFixed(1)}`;
const lostText = (r: DrainedRun) =>
  `${lost(r)} (relays dropped ${r.dropped} of ${r.delivered + r.dropped}; ${r.gaps} gaps in ${r.sample.reduce((a, s) => a + s.frames, 0)} sampled)${closed(r) ? `, ${closed(r)} closed` : ''}${behind(r) ? `, a relay ${behind(r)} frames behind the camera` : ''}`;
const receiversText = (r: DrainedRun) =>
  `drains ${pct(r.cpu.drains)} (${r.drainProcesses} proc${r.drainEveryMs > 0 ? `, a read per ${r.drainEveryMs} ms` : ''}), parsing ${pct(r.cpu.samples)}, publisher ${pct(r.cpu.publisher)}` +
  `${r.cpu.nats === undefined ? '' : `, nats ${pct(r.cpu.nats)}`}; box ${pct(r.machinePercent)}; ${load(r)}`;

function rows(m: TwoThousandMeasurement, rule: boolean): Row[] {
  const { one, two } = m;
  const total = two.viewers.reduce((a, b) => a + b, 0);
  const sampledTotal = two.sampled.reduce((a, b) => a + b, 0);
  const name = `${total} viewers of 1 camera (${m.clipMbps.toFixed(1)} Mbit/s; ${total - sampledTotal} raw drains + ${sampledTotal} parsing), 2 relay processes`;
  return [
    {
      figure: `${name}: frames lost; relay CPU`,
      value: `${lostText(two)}; ${relayCpu(two)}; ${load(two)}`,
      target: rule ? '0 lost' : '-',
      floor: `1 process: ${lostText(one)}; ${relayCpu(one)}; ${load(one)}`,
      ratio: '-',
      verdict: rule ? verdict(lost(two) === 0 && closed(two) === 0 && behind(two) === 0) : 'info',
    },
    {
      figure: `${name}: parsing viewers' latency p50 / p99`,
      value: two.sample.map((s, i) => `${'AB'[i]} ${ms(s.p50)} / ${ms(s.p99)}`).join(', '),
      target: '-',
      floor: `1 process: ${ms(one.sample[0]!.p50)} / ${ms(one.sample[0]!.p99)}`,
      ratio: '-',
      verdict: 'info',
    },
    {
      figure: `${name}: receivers' CPU (% of one core); box`,
      value: receiversText(two),
      target: '-',
      floor: `1 process: ${receiversText(one)}`,
      ratio: '-',
      verdict: 'info',
    },
  ];
}

function summary(r: DrainedRun): string {
  const mean = r.drains.bytes / Math.max(1, r.drains.connections);
  // CPU per frame offered to a viewer (sent or dropped) and per drain read: figures the shared
  // machine's load moves less than percentages of a core do.
  const usPerOffer = r.counters.map((c, i) => ((r.cpu.relays[i]! * r.seconds * 1e4) / Math.max(1, c.out + c.dropped.slow + c.dropped.lag)).toFixed(1));
  return (
    `${r.slowConsumers === undefined ? '' : `nats slow consumers ${r.slowConsumers}; `}relay CPU per frame offered to a viewer ${usPerOffer.join(' / ')} µs; drain CPU per read ${((r.cpu.drains * r.seconds * 1e4) / Math.max(1, r.drains.reads)).toFixed(1)} µs; ` +
    `event loops run/wait: ${r.eventLoops.map((e, i) => `${i < r.relays ? `relay ${'AB'[i]}` : 'drains'} ${e.runPercent.toFixed(0)}/${e.waitPercent.toFixed(0)} %`).join(', ')}; ` +
    `box user ${pct(r.machine.user)} system ${pct(r.machine.system)} softirq ${pct(r.machine.softirq)}\n  ` +
    `${r.relays} relay(s): lost ${lost(r)} (dropped ${r.dropped}: ${r.counters.map((c) => `slow ${c.dropped.slow} lag ${c.dropped.lag} cache ${c.dropped.cache}`).join(' | ')}; gaps ${r.gaps}); ` +
    `relay CPU ${relayCpu(r)}; ${receiversText(r)}; video in ${r.counters.map((c) => c.videoIn).join('/')} of ${r.published} published; ` +
    `drain bytes min/mean/max ${(r.drains.minBytes / mean).toFixed(2)}/1/${(r.drains.maxBytes / mean).toFixed(2)} of ${(mean / 1e6).toFixed(1)} MB, ${(r.drains.reads / r.seconds).toFixed(0)} reads/s of ${(r.drains.bytes / Math.max(1, r.drains.reads) / 1024).toFixed(1)} KiB; window ${r.seconds.toFixed(1)} s (its end took ${r.edgeMs.toFixed(0)} ms)`
  );
}

/** The rows, for each clip: one relay process with every viewer, then two with half each. */
export async function runTwoThousand(options: TwoThousandOptions): Promise<{ rows: Row[]; measurements: TwoThousandMeasurement[] }> {
  const log = options.log ?? (() => {});
  // `--only 2000 --viewers=N`: another total, to find where the machine's limit is.
  const total = (options.only === '2000' ? options.viewers : undefined) ?? (options.quick ? 200 : 2000);
  const sampledTotal = Math.min(options.quick ? 10 : 40, total);
  const clips = options.clip === '720p' || options.quick ? [SMALL_CLIP] : options.clip === '1080p' ? [FANOUT_CLIP] : [SMALL_CLIP, FANOUT_CLIP];
  const out: Row[] = [];
  const measurements: TwoThousandMeasurement[] = [];
  for (const clip of clips) {
    const clipMbps = clipBitrate(loadUnits(clip)) / 1e6;
    log(`cluster: ${total} viewers of one camera (${clipMbps.toFixed(1)} Mbit/s), one relay process...`);
    const single = await startSingleRelay();
    let one: DrainedRun;
    try {
      one = await measureDrained(single, [total], [sampledTotal], clip, options);
    } finally {
      await single.stop();
    }
    log(`  ${summary(one)}`);
    log(`cluster: ${total} viewers of one camera (${clipMbps.toFixed(1)} Mbit/s), two relay processes...`);
    const pair = await startCluster(2);
    let two: DrainedRun;
    try {
      two = await measureDrained(pair, [total / 2, total / 2], [sampledTotal / 2, sampledTotal / 2], clip, options);
    } finally {
      await pair.stop();
    }
    log(`  ${summary(two)}`);
    const m = { clipMbps, one, two };
    measurements.push(m);
    out.push(...rows(m, clip === SMALL_CLIP));
  }
  return { rows: out, measurements };
}
