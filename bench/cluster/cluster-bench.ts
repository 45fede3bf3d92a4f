import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startNats, type TestNats } from '../../test/helpers/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres.ts';
import type { ReceiverReport } from '../fanout/receiver.ts';
import { startHelper, sleep, type Helper } from '../lib/children.ts';
import { FANOUT_CLIP, clipBitrate, loadUnits } from '../lib/clips.ts';
import { WindowMeter, type WindowUsage } from '../lib/proc.ts';
import { startBenchRelay, type BenchRelay } from '../lib/relay.ts';
import { Histogram } from '../lib/stats.ts';
import { ms, pct, ratio, verdict, type BenchOptions, type Row } from '../lib/table.ts';

/**
 * Cluster benchmark (docs/ARCHITECTURE.md "More than one relay"): relay processes sharing one
 * throwaway Postgres and one nats-server, the camera's agent (the bench publisher, 1080p30) on
 * node A. Viewers on A are the control: the same frames, the same machine, no NATS hop.
 * - 3 nodes, viewers on B and C: remote latency vs local, frames lost, the bytes nats-server
 *   delivers to each node against what A published (one copy per node, however many viewers),
 *   CPU per process; the first picture of a viewer opening on a node with no viewer yet, vs on A.
 * - 2000 viewers of one camera: one relay process, then two (half the viewers on each).
 */

interface ClusterNodes {
  nodes: BenchRelay[];
  /** undefined for a single relay in its default mode (SQLite, no NATS) */
  nats: TestNats | undefined;
  cameraId: string;
  credential: string;
  stop(): Promise<void>;
}

/** One relay as `npm run relay` runs it: the baseline of the two-process row. */
async function startSingleRelay(): Promise<ClusterNodes> {
  const relay = await startBenchRelay();
  const [camera] = await relay.createCameras(1);
  return { nodes: [relay], nats: undefined, cameraId: camera!.id, credential: camera!.credential, stop: () => relay.stop() };
}

async function startCluster(count: number): Promise<ClusterNodes> {
  const pg: TestPostgres = await startPostgres();
  const nats = await startNats();
  const nodes: BenchRelay[] = [];
  try {
    const databaseUrl = await pg.createDatabase('bench');
    const env = (name: string) => ({ DATABASE_URL: databaseUrl, NATS_URL: nats.url, NODE_ID: name });
    // All nodes start at once, as a deployment's do: one migrates, the others wait on its lock.
    nodes.push(...(await Promise.all(Array.from({ length: count }, (_, i) => startBenchRelay({ env: env(`bench-${'abcdefgh'[i]}`) })))));
    const [camera] = await nodes[0]!.createCameras(1);
    return {
      nodes,
      nats,
      cameraId: camera!.id,
      credential: camera!.credential,
      async stop() {
        await Promise.all(nodes.map((n) => n.stop()));
        await nats.close();
        await pg.close();
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    await nats.close();
    await pg.close();
    throw err;
  }
}

const RECEIVER_VIEWERS = 500;

const viewerUrl = (node: BenchRelay, cameraId: string) => `${node.wsUrl}/api/cameras/${cameraId}/live?token=${node.token}`;

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
  const names = cluster.nodes.map((_, i) => `bench-${'abcdefgh'[i]}`);
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
    twoThousand?: Array<{ clipMbps: number; one: ClusterMeasurement; two: ClusterMeasurement }>;
  };
}

/**
 * 2000 viewers of the 1080p clip are 8.6 Gbit/s through loopback: on 2 cores the viewers' own
 * receiver processes cannot take it (a single relay process loses as much), so the row with the
 * target uses the 720p camera, the bytes of the 1000-viewer fan-out row.
 */
const SMALL_CLIP = fileURLToPath(new URL('../../test/fixtures/clips/1280x720-main.h264', import.meta.url));

function twoThousandRows(one: ClusterMeasurement, two: ClusterMeasurement, mbps: string, rule: boolean): Row[] {
  const lostTwo = two.local.lost + two.remote.lost;
  const cpu = (m: ClusterMeasurement) =>
    Object.entries(m.usage)
      .filter(([n]) => n !== 'nats-server')
      .map(([, u]) => pct(u.cpuPercent))
      .join(' + ');
  return [
    {
      figure: `2000 viewers of 1 camera (${mbps} Mbit/s), 2 relay processes: frames lost / CPU`,
      value: `${lostTwo} of ${two.local.frames + two.remote.frames + lostTwo}; ${cpu(two)}`,
      target: rule ? '0 lost' : '-',
      floor: `1 process: ${one.local.lost} lost; ${cpu(one)}`,
      ratio: '-',
      verdict: rule ? verdict(lostTwo === 0 && two.remote.closed === 0) : 'info',
    },
    {
      figure: `2000 viewers of 1 camera (${mbps} Mbit/s), 2 relay processes: latency p50 / p99`,
      value: `A ${ms(two.local.p50)} / ${ms(two.local.p99)}, B ${ms(two.remote.p50)} / ${ms(two.remote.p99)}`,
      target: '-',
      floor: `1 process: ${ms(one.local.p50)} / ${ms(one.local.p99)}`,
      ratio: ratio(Math.max(two.local.p99, two.remote.p99), one.local.p99),
      verdict: 'info',
    },
  ];
}

const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;

export async function runClusterBench(options: BenchOptions): Promise<ClusterBenchResult> {
  const log = options.log ?? (() => {});
  const rows: Row[] = [];
  const measurements: ClusterBenchResult['measurements'] = {};
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

  if (!options.quick) {
    measurements.twoThousand = [];
    for (const clip of [SMALL_CLIP, FANOUT_CLIP]) {
      const mbps = (clipBitrate(loadUnits(clip)) / 1e6).toFixed(1);
      log(`cluster: 2000 viewers of one camera (${mbps} Mbit/s), one relay process...`);
      const one = await startSingleRelay();
      let oneResult: ClusterMeasurement;
      try {
        oneResult = await measureSpread(one, [2000], options, clip);
      } finally {
        await one.stop();
      }
      log(`cluster: 2000 viewers of one camera (${mbps} Mbit/s), two relay processes...`);
      const two = await startCluster(2);
      let twoResult: ClusterMeasurement;
      try {
        twoResult = await measureSpread(two, [1000, 1000], options, clip);
      } finally {
        await two.stop();
      }
      measurements.twoThousand.push({ clipMbps: Number(mbps), one: oneResult, two: twoResult });
      rows.push(...twoThousandRows(oneResult, twoResult, mbps, clip === SMALL_CLIP));
    }
  }
  return { rows, measurements };
}
