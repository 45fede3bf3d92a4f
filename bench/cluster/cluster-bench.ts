import WebSocket from 'ws';
import type { TestNats } from '../../test/helpers/nats.ts';
import type { ReceiverReport } from '../fanout/receiver.ts';
import { startHelper, sleep, type Helper } from '../lib/children.ts';
import { FANOUT_CLIP } from '../lib/clips.ts';
import { WindowMeter, type WindowUsage } from '../lib/proc.ts';
import { Histogram } from '../lib/stats.ts';
import { ms, pct, ratio, verdict, type BenchOptions, type Row } from '../lib/table.ts';
import { nodeName, startCluster, viewerUrl, type ClusterNodes } from './nodes.ts';
import { runTwoThousand, type TwoThousandMeasurement, type TwoThousandOptions } from './two-thousand.ts';

/**
 * Cluster benchmark (docs/ARCHITECTURE.md "More than one relay"): relay processes sharing one
 * throwaway Postgres and one nats-server, the camera's agent (the bench publisher, 1080p30) on
 * node A. Viewers on A are the control: the same frames, the same machine, no NATS hop.
 * - 3 nodes, viewers on B and C: remote latency vs local, frames lost, the bytes nats-server
 *   delivers to each node against what A published (one copy per node, however many viewers),
 *   CPU per process; the first picture of a viewer opening on a node with no viewer yet, vs on A.
 * - 2000 viewers of one camera: one relay process, then two (half the viewers on each), with
 *   raw-drain receivers and a parsing sample (two-thousand.ts).
 */

const RECEIVER_VIEWERS = 500;

/** ms from the socket's open to its first video frame (a catch-up keyframe when the stream is live). */
function firstPictureMs(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let opened = 0;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no picture in 10 s from ${url.replace(/token=.*/, 'token=…')}`));
    }, 10_000);
    ws.once('open', () => (opened = performance.now()));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length < 16 || data[1] !== 1) return;
      clearTimeout(timer);
      const took = performance.now() - opened;
      ws.once('close', () => resolve(took));
      ws.close();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function medianOpens(url: string, opens: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < opens; i++) {
    times.push(await firstPictureMs(url));
    // The node forgets the camera once its last viewer has gone: every open is a cold one.
    await sleep(500);
  }
  return times.sort((a, b) => a - b);
}

interface NatsConnection {
  name?: string;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

async function natsConnections(nats: TestNats): Promise<Map<string, NatsConnection>> {
  const res = await fetch(`${nats.monitorUrl}/connz?limit=1024`);
  const body = (await res.json()) as { connections?: NatsConnection[] };
  return new Map((body.connections ?? []).filter((c) => c.name).map((c) => [c.name!, c]));
}

interface ClusterMeasurement {
  viewers: Record<string, number>;
  usage: Record<string, WindowUsage>;
  local: { p50: number; p99: number; frames: number; lost: number };
  remote: { p50: number; p99: number; frames: number; expected: number; lost: number; closed: number };
  /** per node: bytes nats-server delivered to it over the window / bytes node A published */
  copies: Record<string, number>;
  bytesPerFrame: number;
}

/**
 * The publisher on `nodes[0]`, `viewers[i]` viewers on `nodes[i]`, one receiver process per node;
 * CPU of every node (and nats-server) over the same window.
 */
async function measureSpread(cluster: ClusterNodes, viewers: number[], options: BenchOptions, clip = FANOUT_CLIP): Promise<ClusterMeasurement> {
  const warmupMs = options.quick ? 1000 : 3000;
  const windowMs = options.quick ? 2000 : 10_000;
  const helpers: Helper[] = [];
  const names = cluster.nodes.map((_, i) => nodeName(i));
  try {
    const publisher = startHelper('../fanout/publisher.ts');
    helpers.push(publisher);
    const target = { url: `${cluster.nodes[0]!.wsUrl}/api/agent`, headers: { authorization: `Bearer ${cluster.credential}` } };
    await publisher.request({ type: 'connect', cameras: [target], clip, fps: 30 }, 'connected');
    // A receiver process holds at most 500 viewers: more, and it measures its own event loop.
    const groups = viewers.flatMap((count, node) =>
      Array.from({ length: Math.ceil(count / RECEIVER_VIEWERS) }, (_, k) => ({ node, count: Math.min(RECEIVER_VIEWERS, count - k * RECEIVER_VIEWERS) })),
    );
    const receivers = groups.map(() => startHelper('../fanout/receiver.ts'));
    helpers.push(...receivers);
    const connected = await Promise.all(
      receivers.map((r, i) =>
        r.request<{ failed: number }>({ type: 'connect', targets: Array.from({ length: groups[i]!.count }, () => ({ url: viewerUrl(cluster.nodes[groups[i]!.node]!, cluster.cameraId) })) }, 'connected', 180_000),
      ),
    );
    const failed = connected.reduce((a, c) => a + c.failed, 0);
    if (failed > 0) throw new Error(`${failed} viewers could not connect`);
    await publisher.request({ type: 'start' }, 'started');
    await sleep(warmupMs);

    const meters = cluster.nodes.map((n) => new WindowMeter(n.pid));
    const natsMeter = cluster.nats?.pid === undefined ? undefined : new WindowMeter(cluster.nats.pid);
    const sentBefore = (await publisher.request<{ sent: number[] }>({ type: 'stats' }, 'stats')).sent[0] ?? 0;
    const natsBefore = cluster.nats ? await natsConnections(cluster.nats) : new Map<string, NatsConnection>();
    for (const m of meters) m.start();
    natsMeter?.start();
    for (const r of receivers) r.child.send({ type: 'window-start' });
    await sleep(windowMs);
    const reports = await Promise.all(receivers.map((r) => r.request<ReceiverReport>({ type: 'window-end' }, 'report')));
    const usage: Record<string, WindowUsage> = {};
    meters.forEach((m, i) => (usage[names[i]!] = m.stop()));
    if (natsMeter) usage['nats-server'] = natsMeter.stop();
    const natsAfter = cluster.nats ? await natsConnections(cluster.nats) : new Map<string, NatsConnection>();
    const sent = ((await publisher.request<{ sent: number[] }>({ type: 'stats' }, 'stats')).sent[0] ?? 0) - sentBefore;

    const delta = (name: string, key: keyof NatsConnection) => Number(natsAfter.get(name)?.[key] ?? Number.NaN) - Number(natsBefore.get(name)?.[key] ?? Number.NaN);
    const published = delta(names[0]!, 'in_bytes');
    const copies: Record<string, number> = {};
    for (const name of names.slice(1)) copies[name] = delta(name, 'out_bytes') / published;

    const localReports = reports.filter((_, i) => groups[i]!.node === 0);
    const remoteReports = reports.filter((_, i) => groups[i]!.node !== 0);
    const merged = (rs: ReceiverReport[]) => {
      const h = new Histogram();
      for (const r of rs) h.merge(r.histogram);
      return h;
    };
    const localHist = merged(localReports);
    const remoteHist = merged(remoteReports);
    const localFrames = localReports.reduce((a, r) => a + r.frames, 0);
    const remoteViewers = viewers.slice(1).reduce((a, b) => a + b, 0);
    return {
      viewers: Object.fromEntries(names.map((n, i) => [n, viewers[i]!])),
      usage,
      local: {
        p50: localHist.quantile(0.5),
        p99: localHist.quantile(0.99),
        frames: localFrames,
        lost: localReports.reduce((a, r) => a + r.lost, 0),
      },
      remote: {
        p50: remoteHist.quantile(0.5),
        p99: remoteHist.quantile(0.99),
        frames: remoteReports.reduce((a, r) => a + r.frames, 0),
        expected: sent * remoteViewers,
        lost: remoteReports.reduce((a, r) => a + r.lost, 0),
        closed: reports.reduce((a, r) => a + r.closed.length, 0),
      },
      copies,
      bytesPerFrame: published / Math.max(1, sent),
    };
  } finally {
    await Promise.all(helpers.map((h) => h.stop()));
  }
}

export interface ClusterBenchResult {
  rows: Row[];
  measurements: {
    spread?: ClusterMeasurement;
    firstPicture?: { remote: number[]; local: number[] };
    twoThousand?: TwoThousandMeasurement[];
  };
}

/** `only: '2000'`: the 2000-viewer rows alone (one relay process against two). */
export type ClusterBenchOptions = TwoThousandOptions;

/** `--only 2000`, `--drain-procs=N`, `--drain-every=MS`, `--clip=720p|1080p`, besides the shared flags (`--quick`; `--viewers=N` with `--only 2000`). */
export function parseClusterArgs(argv: readonly string[]): Omit<ClusterBenchOptions, keyof BenchOptions> {
  const value = (flag: string): string | undefined => {
    const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    if (i < 0) return undefined;
    return argv[i]!.includes('=') ? argv[i]!.slice(flag.length + 1) : argv[i + 1];
  };
  const only = value('--only');
  if (only !== undefined && only !== '2000') throw new Error(`--only: 2000 is the one row that runs alone, not ${only}`);
  const procs = value('--drain-procs');
  const every = value('--drain-every');
  const clip = value('--clip');
  if (clip !== undefined && clip !== '720p' && clip !== '1080p') throw new Error(`--clip: 720p or 1080p, not ${clip}`);
  return {
    ...(only ? { only } : {}),
    ...(procs !== undefined ? { drainProcesses: Number(procs) } : {}),
    ...(every !== undefined ? { drainEveryMs: Number(every) } : {}),
    ...(clip ? { clip } : {}),
  };
}

const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;

export async function runClusterBench(options: ClusterBenchOptions): Promise<ClusterBenchResult> {
  const rows: Row[] = [];
  const measurements: ClusterBenchResult['measurements'] = {};
  if (options.only !== '2000') await runThreeNodes(options, rows, measurements);
  const two = await runTwoThousand(options);
  measurements.twoThousand = two.measurements;
  rows.push(...two.rows);
  return { rows, measurements };
}

/** First pictures, then viewers spread over A, B and C. */
async function runThreeNodes(options: BenchOptions, rows: Row[], measurements: ClusterBenchResult['measurements']): Promise<void> {
  const log = options.log ?? (() => {});
  const opens = options.quick ? 3 : 7;
  const remoteViewers = options.quick ? 20 : 300;

  log('cluster: 3 nodes (Postgres + nats-server), camera on A...');
  const cluster = await startCluster(3);
  try {
    // First pictures while nothing else runs: a viewer alone on B (cold: B holds nothing of the camera) vs on A.
    const publisher = startHelper('../fanout/publisher.ts');
    try {
      const target = { url: `${cluster.nodes[0]!.wsUrl}/api/agent`, headers: { authorization: `Bearer ${cluster.credential}` } };
      await publisher.request({ type: 'connect', cameras: [target], clip: FANOUT_CLIP, fps: 30 }, 'connected');
      await publisher.request({ type: 'start' }, 'started');
      await sleep(2500);
      const local = await medianOpens(viewerUrl(cluster.nodes[0]!, cluster.cameraId), opens);
      const remote = await medianOpens(viewerUrl(cluster.nodes[1]!, cluster.cameraId), opens);
      measurements.firstPicture = { remote, local };
      rows.push({
        figure: `cluster: first picture, viewer on a node without the camera (median of ${opens})`,
        value: ms(median(remote)),
        target: '<= 300 ms',
        floor: `on the owner node: ${ms(median(local))}`,
        ratio: ratio(median(remote), median(local)),
        verdict: verdict(median(remote) <= 300),
      });
    } finally {
      await publisher.stop();
    }

    // The owner node's viewers are as many as each other node's: the difference is the NATS hop,
    // not one node fanning out to fewer sockets.
    const perNode = remoteViewers / 2;
    log(`cluster: ${perNode} viewers on each of A, B and C...`);
    const spread = await measureSpread(cluster, [perNode, perNode, perNode], options);
    measurements.spread = spread;
    const name = `cluster 3 nodes, ${remoteViewers} viewers on B+C`;
    rows.push({
      figure: `${name}: latency p50 / p99`,
      value: `${ms(spread.remote.p50)} / ${ms(spread.remote.p99)}`,
      target: 'p50 <= owner-node viewers + 5 ms',
      floor: `${perNode} on A: ${ms(spread.local.p50)} / ${ms(spread.local.p99)}`,
      ratio: ratio(spread.remote.p50, spread.local.p50),
      verdict: verdict(spread.remote.p50 <= spread.local.p50 + 5),
    });
    // Frames keep the owner's sequence numbers on every node, so a gap is a frame lost anywhere on the way.
    const remoteLost = spread.remote.lost;
    rows.push({
      figure: `${name}: frames lost`,
      value: `${remoteLost} of ${spread.remote.frames + remoteLost}${spread.remote.closed ? ` (${spread.remote.closed} closed)` : ''}`,
      target: '0',
      floor: `on A: ${spread.local.lost}`,
      ratio: '-',
      verdict: verdict(remoteLost === 0 && spread.remote.closed === 0),
    });
    const copies = Object.entries(spread.copies);
    rows.push({
      figure: `${name}: NATS bytes delivered per node / published`,
      value: copies.map(([n, c]) => `${n.replace('bench-', '')} ${c.toFixed(2)}x`).join(', '),
      target: '1 copy per node (<= 1.05x)',
      floor: `${(spread.bytesPerFrame / 1024).toFixed(1)} KiB/frame published`,
      ratio: '-',
      verdict: verdict(copies.length > 0 && copies.every(([, c]) => c > 0.95 && c <= 1.05)),
    });
    rows.push({
      figure: `${name}: CPU per process (% of one core)`,
      value: Object.entries(spread.usage)
        .map(([n, u]) => `${n.replace('bench-', '')} ${pct(u.cpuPercent)}`)
        .join(', '),
      target: '-',
      floor: '-',
      ratio: '-',
      verdict: 'info',
    });
  } finally {
    await cluster.stop();
  }
}
