import { startNats, type TestNats } from '../../test/helpers/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres.ts';
import { startBenchRelay, type BenchRelay } from '../lib/relay.ts';

/**
 * The cluster bench's relays: one in its default mode (SQLite, no NATS), or N sharing one
 * throwaway Postgres and one nats-server, started at once as a deployment's are; one camera
 * enrolled on the first. Every relay opens /metrics to METRICS_TOKEN, which the 2000-viewer rows
 * read for the frames each relay dropped.
 */

export interface ClusterNodes {
  nodes: BenchRelay[];
  /** undefined for a single relay in its default mode (SQLite, no NATS) */
  nats: TestNats | undefined;
  cameraId: string;
  credential: string;
  stop(): Promise<void>;
}

const METRICS_TOKEN = 'bench-cluster-metrics-token';

export const nodeName = (i: number) => `bench-${'abcdefgh'[i]}`;

export const viewerUrl = (node: BenchRelay, cameraId: string) => `${node.wsUrl}/api/cameras/${cameraId}/live?token=${node.token}`;

/** One relay as `npm run relay` runs it: the baseline of the two-process row. */
export async function startSingleRelay(): Promise<ClusterNodes> {
  const relay = await startBenchRelay({ env: { METRICS_TOKEN } });
  const [camera] = await relay.createCameras(1);
  return { nodes: [relay], nats: undefined, cameraId: camera!.id, credential: camera!.credential, stop: () => relay.stop() };
}

export async function startCluster(count: number): Promise<ClusterNodes> {
  const pg: TestPostgres = await startPostgres();
  const nats = await startNats();
  const nodes: BenchRelay[] = [];
  try {
    const databaseUrl = await pg.createDatabase('bench');
    const env = (name: string) => ({ DATABASE_URL: databaseUrl, NATS_URL: nats.url, NODE_ID: name, METRICS_TOKEN });
    // All nodes start at once, as a deployment's do: one migrates, the others wait on its lock.
    nodes.push(...(await Promise.all(Array.from({ length: count }, (_, i) => startBenchRelay({ env: env(nodeName(i)) })))));
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

/** A relay's frame counters from its /metrics, summed over cameras (and reasons, for dropped). */
export interface FrameCounters {
  videoIn: number;
  out: number;
  dropped: { slow: number; lag: number; cache: number };
}

export async function frameCounters(node: BenchRelay): Promise<FrameCounters> {
  const res = await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  if (!res.ok) throw new Error(`/metrics: ${res.status}`);
  const counters: FrameCounters = { videoIn: 0, out: 0, dropped: { slow: 0, lag: 0, cache: 0 } };
  for (const line of (await res.text()).split('\n')) {
    const m = /^(picam_frames_\w+_total)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (m[1] === 'picam_frames_in_total' && m[2]!.includes('track="video"')) counters.videoIn += value;
    else if (m[1] === 'picam_frames_out_total') counters.out += value;
    else if (m[1] === 'picam_frames_dropped_total') {
      const reason = /reason="(\w+)"/.exec(m[2]!)?.[1] as keyof FrameCounters['dropped'] | undefined;
      if (reason && reason in counters.dropped) counters.dropped[reason] += value;
    }
  }
  return counters;
}

export function counterDelta(after: FrameCounters, before: FrameCounters): FrameCounters {
  return {
    videoIn: after.videoIn - before.videoIn,
    out: after.out - before.out,
    dropped: {
      slow: after.dropped.slow - before.dropped.slow,
      lag: after.dropped.lag - before.dropped.lag,
      cache: after.dropped.cache - before.dropped.cache,
    },
  };
}
