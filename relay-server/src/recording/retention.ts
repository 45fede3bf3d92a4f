import { rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordingConfig } from '../config.ts';
import type { Db } from '../db/client.ts';
import { deleteSegments, oldestSegments, totalRecordedBytes, type SegmentRow } from '../db/recordings.ts';
import type { Logger } from '../logger.ts';
import type { RecordingMetrics } from './recording-metrics.ts';

/**
 * Retention, oldest first: segments past RECORD_RETAIN_DAYS go, and while the recordings are over
 * RECORD_MAX_BYTES, or (without it) the disk has less than 10 % free, the oldest go too, before their
 * age ("early": one log line per sweep and the `space` counter say so). Open segments are never
 * deleted. A sweep runs every minute and before each new segment (at most every few seconds).
 */

/** Disk fraction kept free when RECORD_MAX_BYTES is not set. */
const KEEP_FREE_FRACTION = 0.1;
const SWEEP_BATCH = 64;

export interface RetentionDeps {
  db: Db;
  config: RecordingConfig;
  log: Logger;
  metrics: RecordingMetrics;
  /** segments being written: never deleted */
  openSegments: () => ReadonlySet<number>;
  now: () => number;
}

export class Retention {
  private readonly deps: RetentionDeps;
  private running: Promise<void> | undefined;

  constructor(deps: RetentionDeps) {
    this.deps = deps;
  }

  /** One sweep at a time; a call during a sweep waits for it. Never throws. */
  sweep(): Promise<void> {
    this.running ??= this.run()
      .catch((err: unknown) => this.deps.log.error({ err }, 'recording retention sweep failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    const { db, config, metrics } = this.deps;
    const open = this.deps.openSegments();
    const oldestKeptUs = (this.deps.now() - config.retainMs) * 1000;

    // By age.
    for (;;) {
      const old = oldestSegments(db, SWEEP_BATCH).filter((s) => s.endUs < oldestKeptUs && !open.has(s.id));
      if (old.length === 0) break;
      await this.remove(old, 'age');
    }

    // By space.
    let over = await this.bytesOver(totalRecordedBytes(db));
    if (over <= 0) {
      metrics.recordedBytes.set(totalRecordedBytes(db));
      return;
    }
    let segments = 0;
    let bytes = 0;
    while (over > 0) {
      const batch: SegmentRow[] = [];
      for (const s of oldestSegments(db, SWEEP_BATCH + open.size)) {
        if (open.has(s.id)) continue;
        batch.push(s);
        over -= s.bytes;
        if (over <= 0) break;
      }
      if (batch.length === 0) break;
      await this.remove(batch, 'space');
      segments += batch.length;
      bytes += batch.reduce((n, s) => n + s.bytes, 0);
    }
    metrics.recordedBytes.set(totalRecordedBytes(db));
    if (segments > 0) {
      this.deps.log.warn(
        { segments, bytes, maxBytes: config.maxBytes ?? null, keepFreeFraction: config.maxBytes === undefined ? KEEP_FREE_FRACTION : null },
        'recording: disk limit reached, oldest recordings deleted before RECORD_RETAIN_DAYS',
      );
    }
  }

  /** Bytes to free now: over RECORD_MAX_BYTES, or short of 10 % free on the recordings' disk. */
  private async bytesOver(total: number): Promise<number> {
    const { maxBytes, dir } = this.deps.config;
    if (maxBytes !== undefined) return total - maxBytes;
    try {
      const fs = await statfs(dir);
      return Math.ceil(fs.blocks * fs.bsize * KEEP_FREE_FRACTION - fs.bavail * fs.bsize);
    } catch {
      // No recordings directory yet: nothing written, nothing to free.
      return 0;
    }
  }

  private async remove(segments: readonly SegmentRow[], reason: 'age' | 'space'): Promise<void> {
    const { db, config, metrics } = this.deps;
    // Index first: a crash between the two leaves a file nobody lists, never a listing without its file.
    deleteSegments(
      db,
      segments.map((s) => s.id),
    );
    for (const s of segments) {
      await rm(join(config.dir, s.path), { force: true }).catch((err: unknown) => this.deps.log.warn({ err, path: s.path }, 'recording: could not delete a segment file'));
      metrics.purgedSegments.inc({ reason });
      metrics.purgedBytes.inc({ reason }, s.bytes);
    }
  }
}
