import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES, Track, type RecordMode, type SpsVideoFormat } from '@picam/protocol';
import type { RecordingConfig } from '../config.ts';
import type { Db } from '../db/client.ts';
import { indexWritten, insertSegment, recordedUntil, type NewFragment, type WrittenFragments } from '../db/recordings.ts';
import type { Logger } from '../logger.ts';
import type { HubFrame } from '../streams/frame.ts';
import type { StreamHub, StreamObserver } from '../streams/hub.ts';
import type { PublisherInfo } from '../streams/stream.ts';
import type { BackfillTarget } from './backfill-target.ts';
import { initSegment, type AudioTrackConfig, type VideoTrackConfig } from './fmp4.ts';
import type { RecordingMetrics } from './recording-metrics.ts';
import { repairRecordings } from './repair.ts';
import { Retention } from './retention.ts';
import { audioSamples, sameVideoConfig, videoConfigOf } from './samples.ts';
import type { IndexWriter } from './index-writer.ts';
import { SegmentWriter, type SegmentSink } from './segment-writer.ts';

/**
 * The recorder: for each camera whose `record` is `continuous`, it observes the camera's stream
 * (StreamHub.observe: after the viewers, no budget, not a viewer) and writes every frame into
 * segment files (segment-writer.ts); frames the agent kept while its link was down come through
 * BackfillTarget into segments of their own. The index (db/recordings.ts) follows the files in one
 * transaction a second for all cameras. Retention (retention.ts) sweeps every minute and before
 * each new segment; repair.ts makes files and index agree at start.
 */

/** A pause in capture times longer than this starts a new segment: a segment has no holes. */
const GAP_US = 2_000_000;
const INDEX_FLUSH_MS = 1000;
/** When the agent did not say (rpicam-vid's own default). */
const DEFAULT_FRAMERATE = 30;
const RETENTION_SWEEP_MS = 60_000;
/** "Before each new segment", but not more often than this. */
const MIN_SWEEP_GAP_MS = 5000;
/** Write errors are logged at most this often per camera (a full disk fails every segment). */
const ERROR_LOG_GAP_MS = 60_000;

type Kind = 'live' | 'backfill';

interface CameraRecording {
  cameraId: string;
  detach: () => void;
  info: PublisherInfo | null;
  live: SegmentWriter | null;
  backfill: SegmentWriter | null;
  /**
   * Where what was recorded ended (exclusive, capture µs) when the current agent connection began:
   * recordedUntilUs answers this during it, and a backfill run writes only what comes after it.
   */
  untilAtConnectUs: number | null;
  /** the backfill run's video format, from its first keyframe when that keyframe was already recorded */
  backfillVideo: VideoTrackConfig | null;
  lastErrorLogAt: number;
}

export interface RecorderDeps {
  db: Db;
  /** commits the index off the event loop; without one (or once it is broken) the recorder commits on `db` */
  indexWriter?: IndexWriter;
  hub: StreamHub;
  config: RecordingConfig;
  log: Logger;
  metrics: RecordingMetrics;
  now?: () => number;
}

export class Recorder implements BackfillTarget {
  private readonly deps: RecorderDeps;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly cameras = new Map<string, CameraRecording>();
  private readonly writers = new Set<SegmentWriter>();
  private readonly closing = new Set<Promise<void>>();
  private readonly pending = new Map<number, WrittenFragments>();
  /** batches with the index writer, until they are in */
  private readonly committing = new Map<Promise<void>, readonly WrittenFragments[]>();
  private readonly retention: Retention;
  private readonly sink: SegmentSink;
  private timers: NodeJS.Timeout[] = [];
  private lastSweepAt = 0;
  private segmentCounter = 0;
  private stopped = false;

  constructor(deps: RecorderDeps) {
    this.deps = deps;
    this.log = deps.log.child({ part: 'recorder' });
    this.now = deps.now ?? Date.now;
    this.retention = new Retention({
      db: deps.db,
      config: deps.config,
      log: this.log,
      metrics: deps.metrics,
      openSegments: () => new Set([...this.writers].map((w) => w.segmentId)),
      now: this.now,
    });
    this.sink = {
      written: (writer, fragment) => this.fragmentWritten(writer, fragment),
      failed: (writer, err) => this.writeFailed(writer, err),
      dropped: () => this.deps.metrics.fragmentsDropped.inc(),
    };
  }

  /**
   * Repairs what an unclean stop left, then records every camera whose mode says so (`cameras`:
   * the registry's, read by the caller: the registry may be another database than the index).
   */
  start(cameras: ReadonlyArray<{ id: string; record: RecordMode | null }>): void {
    repairRecordings(this.deps.db, this.deps.config.dir, this.log);
    for (const camera of cameras) this.setMode(camera.id, camera.record ?? this.deps.config.defaultMode);
    const flush = setInterval(() => this.flushIndex(), INDEX_FLUSH_MS);
    const sweep = setInterval(() => void this.sweep(), RETENTION_SWEEP_MS);
    flush.unref();
    sweep.unref();
    this.timers = [flush, sweep];
    void this.sweep();
  }

  /** A camera's effective mode (its own, else RECORD_DEFAULT), at start and whenever it changes. */
  setMode(cameraId: string, mode: RecordMode): void {
    if (this.stopped) return;
    const state = this.cameras.get(cameraId);
    if (mode === 'continuous' && !state) {
      const recording: CameraRecording = { cameraId, detach: () => undefined, info: null, live: null, backfill: null, untilAtConnectUs: null, backfillVideo: null, lastErrorLogAt: 0 };
      this.cameras.set(cameraId, recording);
      recording.detach = this.deps.hub.observe(cameraId, this.observerFor(recording));
      this.log.info({ cameraId }, 'recording on');
    } else if (mode === 'off' && state) {
      this.cameras.delete(cameraId);
      state.detach();
      this.closeWriter(state, 'live');
      this.closeWriter(state, 'backfill');
      this.log.info({ cameraId }, 'recording off');
    }
  }

  isRecording(cameraId: string): boolean {
    return this.cameras.has(cameraId);
  }

  /** The camera is gone (its index rows went with it): stop, and delete its files. */
  cameraDeleted(cameraId: string): void {
    this.setMode(cameraId, 'off');
    for (const [id, w] of this.pending) if (w.cameraId === cameraId) this.pending.delete(id);
    void Promise.all(this.closing).then(() =>
      rm(join(this.deps.config.dir, cameraId), { recursive: true, force: true }).catch((err: unknown) =>
        this.log.warn({ err, cameraId }, 'recording: could not delete a deleted camera\'s files'),
      ),
    );
  }

  // ---- BackfillTarget --------------------------------------------------------------------------

  recordedUntilUs(cameraId: string): number | null {
    const state = this.cameras.get(cameraId);
    if (!state) return null;
    return state.untilAtConnectUs ?? this.recordedUntilNow(state);
  }

  writeBackfill(cameraId: string, frame: HubFrame, _sps?: SpsVideoFormat): void {
    const state = this.cameras.get(cameraId);
    if (state) this.take(state, 'backfill', frame);
  }

  endBackfill(cameraId: string): void {
    const state = this.cameras.get(cameraId);
    if (!state) return;
    this.closeWriter(state, 'backfill');
    state.backfillVideo = null;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Writes what is pending, closes every file and indexes it; for a clean stop. */
  async close(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const state of this.cameras.values()) {
      state.detach();
      this.closeWriter(state, 'live');
      this.closeWriter(state, 'backfill');
    }
    this.cameras.clear();
    await Promise.all(this.closing);
    this.flushIndex();
    await Promise.all(this.committing.keys());
  }

  /** Retention now (tests and tools; the recorder runs it on its own every minute). */
  sweep(): Promise<void> {
    this.lastSweepAt = this.now();
    return this.retention.sweep();
  }

  /** Indexes what was written since the last call, in one transaction (on the index writer's thread when there is one). */
  flushIndex(): void {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    const writer = this.deps.indexWriter;
    if (!writer || writer.broken) {
      this.commitHere(batch);
      return;
    }
    const committed: Promise<void> = writer
      .commit(batch)
      .catch((err: unknown) => {
        if (writer.broken) this.commitHere(batch);
        else this.log.error({ err }, 'recording: index update failed');
      })
      .finally(() => this.committing.delete(committed));
    this.committing.set(committed, batch);
  }

  private commitHere(batch: readonly WrittenFragments[]): void {
    try {
      indexWritten(this.deps.db, batch);
    } catch (err) {
      // A busy or full disk: the files hold the fragments, repair indexes them at the next start.
      this.log.error({ err }, 'recording: index update failed');
    }
  }

  // ---- frames ----------------------------------------------------------------------------------

  private observerFor(state: CameraRecording): StreamObserver {
    return {
      publisherInfo: (info) => {
        const audioChanged = !sameAudio(state.info?.audio ?? null, info.audio);
        state.info = info;
        state.untilAtConnectUs ??= this.recordedUntilNow(state);
        if (audioChanged) this.closeWriter(state, 'live');
      },
      frame: (frame) => this.take(state, 'live', frame),
      publisherEnded: () => {
        this.closeWriter(state, 'live');
        state.untilAtConnectUs = null;
      },
    };
  }

  private take(state: CameraRecording, kind: Kind, frame: HubFrame): void {
    if (kind === 'backfill' && !this.takeBackfill(state, frame)) return;
    let writer = state[kind];
    if (frame.track === Track.Video) {
      if (frame.keyframe) {
        const video = videoConfigOf(frame);
        if (video && this.needsNewSegment(state, writer, video, frame.captureTimeUs)) {
          // A segment that goes on where the last one ended keeps the decode times running.
          const next =
            writer && !writer.isBroken && frame.captureTimeUs - writer.lastVideoUs <= GAP_US
              ? { captureUs: frame.captureTimeUs, dts: writer.decodeTime(frame.captureTimeUs) }
              : undefined;
          this.closeWriter(state, kind, next);
          writer = this.openWriter(state, kind, frame.captureTimeUs, video, next?.dts);
        }
      }
      if (!writer && kind === 'backfill' && state.backfillVideo) writer = this.openWriter(state, kind, frame.captureTimeUs, state.backfillVideo);
      if (!writer || writer.isBroken) return;
      writer.addVideo(frame.captureTimeUs, frame.keyframe, frame.message, FRAME_HEADER_BYTES);
    } else if (writer?.audio && !writer.isBroken) {
      writer.addAudio(audioSamples(frame, writer.audio));
    }
  }

  /**
   * A backfill run starts on the keyframe at or before where the recording ended (the agent cannot
   * cut a GOP), so its first frames are already recorded: they are left out here, by their exact
   * capture times, and the run's segment starts with the first frame the recording lacks (its
   * format from the keyframe left out; a clip decodes it after the recorded frames before it, which
   * are the same bytes). Comparing later, in the clip, would compare decode times on the frame
   * grid, which can put a frame on either side of the seam.
   */
  private takeBackfill(state: CameraRecording, frame: HubFrame): boolean {
    const floor = state.untilAtConnectUs;
    if (floor === null || frame.captureTimeUs >= floor) return true;
    if (frame.track === Track.Video && frame.keyframe) state.backfillVideo = videoConfigOf(frame) ?? state.backfillVideo;
    return false;
  }

  private needsNewSegment(state: CameraRecording, writer: SegmentWriter | null, video: VideoTrackConfig, timeUs: number): boolean {
    if (!writer || writer.isBroken) return true;
    if (!sameVideoConfig(writer.video, video) || !sameAudio(writer.audio, audioConfig(state))) return true;
    if (writer.durationUs(timeUs) >= this.deps.config.segmentUs) return true;
    return timeUs - writer.lastVideoUs > GAP_US;
  }

  private openWriter(state: CameraRecording, kind: Kind, startUs: number, video: VideoTrackConfig, firstDts?: number): SegmentWriter | null {
    if (this.now() - this.lastSweepAt >= MIN_SWEEP_GAP_MS) void this.sweep();
    const audio = audioConfig(state);
    const init = initSegment(video, audio);
    const path = `${state.cameraId}/${Math.floor(startUs / 1000)}-${kind}-${(this.segmentCounter++).toString(36)}${process.pid.toString(36)}.mp4`;
    let segmentId: number;
    try {
      segmentId = insertSegment(this.deps.db, { cameraId: state.cameraId, path, startUs, endUs: startUs, bytes: init.byteLength, initBytes: init.byteLength, backfill: kind === 'backfill' });
    } catch (err) {
      this.logError(state, err, 'recording: could not index a new segment');
      return null;
    }
    const writer = new SegmentWriter({
      segmentId,
      cameraId: state.cameraId,
      file: join(this.deps.config.dir, path),
      startUs,
      backfill: kind === 'backfill',
      video,
      audio,
      framerate: state.info?.framerate ?? DEFAULT_FRAMERATE,
      firstDts,
      init,
      sink: this.sink,
    });
    this.writers.add(writer);
    state[kind] = writer;
    return writer;
  }

  private closeWriter(state: CameraRecording, kind: Kind, next?: { captureUs: number; dts: number }): void {
    const writer = state[kind];
    if (!writer) return;
    state[kind] = null;
    const closed = writer.close(next).finally(() => {
      this.writers.delete(writer);
      this.closing.delete(closed);
    });
    this.closing.add(closed);
  }

  private fragmentWritten(writer: SegmentWriter, fragment: NewFragment): void {
    this.deps.metrics.bytesWritten.inc(fragment.length);
    let entry = this.pending.get(writer.segmentId);
    if (!entry) {
      entry = { segmentId: writer.segmentId, cameraId: writer.cameraId, fragments: [], endUs: fragment.endUs, bytes: 0 };
      this.pending.set(writer.segmentId, entry);
    }
    entry.fragments.push(fragment);
    entry.endUs = Math.max(entry.endUs, fragment.endUs);
    entry.bytes = fragment.offset + fragment.length;
  }

  private writeFailed(writer: SegmentWriter, err: Error): void {
    this.deps.metrics.writeErrors.inc();
    const state = this.cameras.get(writer.cameraId);
    if (state) this.logError(state, err, 'recording: segment write failed; a new segment starts at the next keyframe');
    // Free space for the next segment now rather than within the minute.
    void this.sweep();
  }

  private logError(state: CameraRecording, err: unknown, message: string): void {
    const now = this.now();
    if (now - state.lastErrorLogAt < ERROR_LOG_GAP_MS) return;
    state.lastErrorLogAt = now;
    this.log.error({ err, cameraId: state.cameraId }, message);
  }

  private recordedUntilNow(state: CameraRecording): number | null {
    // Exclusive ends, as the index holds them: just after the last frame written.
    const inMemory = Math.max(-1, ...[...this.writers].filter((w) => w.cameraId === state.cameraId && w.lastVideoUs >= 0).map((w) => w.lastVideoUs + 1));
    // Written, not yet in the index: waiting for the next commit, or in one on the index writer's thread.
    let unindexed = -1;
    for (const batch of [[...this.pending.values()], ...this.committing.values()]) {
      for (const w of batch) if (w.cameraId === state.cameraId) unindexed = Math.max(unindexed, w.endUs);
    }
    let indexed: number | null = null;
    try {
      indexed = recordedUntil(this.deps.db, state.cameraId);
    } catch (err) {
      this.log.warn({ err }, 'recording: could not read the index');
    }
    const until = Math.max(inMemory, unindexed, indexed ?? -1);
    return until < 0 ? null : until;
  }
}

function audioConfig(state: CameraRecording): AudioTrackConfig | null {
  const audio = state.info?.audio;
  return audio ? { sampleRate: audio.sampleRate, channels: audio.channels } : null;
}

function sameAudio(a: AudioTrackConfig | null, b: AudioTrackConfig | null): boolean {
  return a === b || (a !== null && b !== null && a.sampleRate === b.sampleRate && a.channels === b.channels);
}
