import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics on the relay's own Registry (never prom-client's global one, so tests can start
 * several relays in one process).
 *
 * The per-frame path never calls prom-client: a labelled counter's inc() hashes its labels into a
 * string and returns an object on every call, ~6 calls per frame, which showed in profiles of 50
 * cameras as the biggest piece of the relay's own per-frame cost and a good share of its GC. Per
 * camera it adds to plain numbers (Tally) instead, and each counter copies them in its `collect()`,
 * which prom-client runs only when /metrics is scraped.
 */

/** A per-camera count the hot path bumps; read by the counters at scrape time. */
class Tally {
  value = 0;

  inc(amount = 1): void {
    this.value += amount;
  }
}

type DropReason = 'slow' | 'lag' | 'cache';
export type AgentRejectReason =
  | 'unauthenticated'
  | 'invalid_frame'
  | 'invalid_message'
  | 'oversized'
  | 'out_of_order'
  | 'unknown_camera'
  | 'backfill';

/** Counters for one camera, resolved once when its stream is created. */
export interface CameraMetrics {
  videoFramesIn: Tally;
  videoBytesIn: Tally;
  audioFramesIn: Tally;
  audioBytesIn: Tally;
  /** frames (both tracks) the agent sent flagged backfill, and their bytes (header included) */
  backfillFramesIn: Tally;
  backfillBytesIn: Tally;
  framesOut: Tally;
  bytesOut: Tally;
  dropped: Record<DropReason, Tally>;
  viewers: Gauge.Internal<string>;
  /** not per camera: the stream moves it on online/offline transitions */
  camerasOnline: Gauge;
}

export interface RelayMetrics {
  registry: Registry;
  camerasOnline: Gauge;
  /** WAL checkpoints of the local SQLite, on their worker thread (db/checkpointer.ts) */
  sqliteCheckpointSeconds: Histogram;
  agentRejected(reason: AgentRejectReason): void;
  forCamera(cameraId: string): CameraMetrics;
  /** a deleted camera's series disappear rather than linger at their last value */
  forgetCamera(cameraId: string): void;
}

export function createMetrics(): RelayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const camerasOnline = new Gauge({ name: 'picam_cameras_online', help: 'cameras with a connected agent', registers });
  const viewers = new Gauge({ name: 'picam_viewers', help: 'connected viewers', labelNames: ['camera'], registers });
  const cameras = new Map<string, CameraMetrics>();
  /** A counter whose per-camera series are copied from the cameras' tallies when scraped. */
  const tallied = (name: string, help: string, labelNames: string[], series: (m: CameraMetrics) => Array<[Record<string, string>, Tally]>) =>
    scrapedCounter(registry, { name, help, labelNames }, () =>
      [...cameras].flatMap(([camera, m]) => series(m).map(([labels, tally]): [Record<string, string>, number] => [{ camera, ...labels }, tally.value])),
    );
  tallied('picam_frames_in_total', 'frames received from agents', ['camera', 'track'], (m) => [
    [{ track: 'video' }, m.videoFramesIn],
    [{ track: 'audio' }, m.audioFramesIn],
  ]);
  tallied('picam_bytes_in_total', 'frame bytes (header included) received from agents', ['camera', 'track'], (m) => [
    [{ track: 'video' }, m.videoBytesIn],
    [{ track: 'audio' }, m.audioBytesIn],
  ]);
  tallied('picam_backfill_frames_in_total', 'frames received from agents flagged backfill (kept while the link was down; recorded, never shown live)', ['camera'], (m) => [
    [{}, m.backfillFramesIn],
  ]);
  tallied('picam_backfill_bytes_in_total', 'frame bytes (header included) received from agents flagged backfill', ['camera'], (m) => [[{}, m.backfillBytesIn]]);
  tallied('picam_frames_out_total', 'frames sent to viewers (one per viewer)', ['camera'], (m) => [[{}, m.framesOut]]);
  tallied('picam_bytes_out_total', 'frame bytes sent to viewers', ['camera'], (m) => [[{}, m.bytesOut]]);
  tallied(
    'picam_frames_dropped_total',
    'frames not delivered: slow (viewer over its byte budget), lag (viewer too far behind), cache (GOP cache over its cap)',
    ['camera', 'reason'],
    (m) => [
      [{ reason: 'slow' }, m.dropped.slow],
      [{ reason: 'lag' }, m.dropped.lag],
      [{ reason: 'cache' }, m.dropped.cache],
    ],
  );
  const rejected = new Counter({
    name: 'picam_agent_rejected_total',
    help: 'agent connections refused or closed for misbehaviour',
    labelNames: ['reason'],
    registers,
  });

  return {
    registry,
    camerasOnline,
    sqliteCheckpointSeconds: new Histogram({
      name: 'picam_sqlite_checkpoint_seconds',
      help: 'WAL checkpoints of the local SQLite (the recording index, and the registry without Postgres), on their own thread',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    agentRejected: (reason) => rejected.inc({ reason }),
    forCamera(camera) {
      let m = cameras.get(camera);
      if (!m) {
        m = {
          videoFramesIn: new Tally(),
          videoBytesIn: new Tally(),
          audioFramesIn: new Tally(),
          audioBytesIn: new Tally(),
          backfillFramesIn: new Tally(),
          backfillBytesIn: new Tally(),
          framesOut: new Tally(),
          bytesOut: new Tally(),
          dropped: { slow: new Tally(), lag: new Tally(), cache: new Tally() },
          viewers: viewers.labels({ camera }),
          camerasOnline,
        };
        cameras.set(camera, m);
      }
      return m;
    },
    forgetCamera(camera) {
      // The tallied counters drop its series at the next scrape.
      cameras.delete(camera);
      viewers.remove({ camera });
    },
  };
}

/**
 * A counter whose series are plain numbers the code bumps itself, copied into prom-client only when
 * /metrics is scraped (see above: no prom-client call on the frame path). Zero series are left out.
 */
export function scrapedCounter(
  registry: Registry,
  config: { name: string; help: string; labelNames?: string[] },
  read: () => Array<[Record<string, string>, number]>,
): Counter {
  return new Counter({
    ...config,
    labelNames: config.labelNames ?? [],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) if (value > 0) this.inc(labels, value);
    },
  });
}
