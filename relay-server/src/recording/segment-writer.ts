import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NewFragment } from '../db/recordings.ts';
import {
  AUDIO_TRACK_ID,
  NON_SYNC_SAMPLE_FLAGS,
  SYNC_SAMPLE_FLAGS,
  VIDEO_TIMESCALE,
  VIDEO_TRACK_ID,
  mediaFragment,
  type AudioTrackConfig,
  type Sample,
  type TrackRun,
  type VideoTrackConfig,
} from './fmp4.ts';
import type { AudioSample, VideoSample } from './samples.ts';

/**
 * One segment file being written: the init segment, then a fragment (moof + mdat) at each
 * keyframe and at least every FRAGMENT_MAX_US, so a crash loses at most about a second. Writes go
 * through one promise chain per file (async, in order, one write per fragment); the index hears of
 * a fragment only once its bytes are in the file, so the index never points past the data.
 */

/** Longest fragment: a power cut loses at most this much (plus the write in flight). */
export const FRAGMENT_MAX_US = 1_000_000;
/** Bytes waiting to be written per file before fragments are dropped (a disk far slower than the camera). */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** Last frame's duration when nothing follows it: the previous frame's, else this. */
const DEFAULT_FRAME_US = 33_333;

export interface SegmentSink {
  /** a fragment is in the file: index it (the recorder batches these) */
  written(writer: SegmentWriter, fragment: NewFragment): void;
  /** a write failed (full disk, I/O error): the writer takes no more fragments */
  failed(writer: SegmentWriter, err: Error): void;
  /** a fragment was dropped because the disk did not keep up */
  dropped(writer: SegmentWriter, bytes: number): void;
}

export interface SegmentWriterOptions {
  segmentId: number;
  cameraId: string;
  /** absolute path of the new file */
  file: string;
  startUs: number;
  backfill: boolean;
  video: VideoTrackConfig;
  audio: AudioTrackConfig | null;
  /** init segment, as written at the start of the file */
  init: Uint8Array;
  sink: SegmentSink;
}

const videoUnits = (us: number) => Math.round((us * VIDEO_TIMESCALE) / 1_000_000);

export class SegmentWriter {
  readonly segmentId: number;
  readonly cameraId: string;
  readonly startUs: number;
  readonly backfill: boolean;
  readonly video: VideoTrackConfig;
  readonly audio: AudioTrackConfig | null;
  /** capture time of the newest video sample taken, µs */
  lastVideoUs = -1;
  /** end of the newest fragment in the file, µs (what the index has, or will have in a second) */
  writtenUntilUs: number;
  private readonly sink: SegmentSink;
  private pendingVideo: VideoSample[] = [];
  private pendingAudio: AudioSample[] = [];
  private lastAudioUs = -1;
  private lastFrameUs = DEFAULT_FRAME_US;
  private sequence = 1;
  private fileBytes: number;
  private queuedBytes = 0;
  private failed = false;
  private closed = false;
  private file: Promise<FileHandle | undefined>;
  private chain: Promise<unknown>;

  constructor(options: SegmentWriterOptions) {
    this.segmentId = options.segmentId;
    this.cameraId = options.cameraId;
    this.startUs = options.startUs;
    this.writtenUntilUs = options.startUs;
    this.backfill = options.backfill;
    this.video = options.video;
    this.audio = options.audio;
    this.sink = options.sink;
    this.fileBytes = options.init.byteLength;
    const init = options.init;
    this.file = mkdir(dirname(options.file), { recursive: true })
      .then(() => open(options.file, 'wx', 0o600))
      .then(async (fh) => {
        await fh.write(init, 0, init.byteLength, 0);
        return fh;
      })
      .catch((err: Error) => {
        this.fail(err);
        return undefined;
      });
    this.chain = this.file;
  }

  get isBroken(): boolean {
    return this.failed;
  }

  /** Capture time span of what was taken so far (µs). */
  durationUs(nowUs: number): number {
    return nowUs - this.startUs;
  }

  /** False when the sample is out of order (not after the last one) and was left out. */
  addVideo(sample: VideoSample): boolean {
    if (this.closed || sample.captureTimeUs <= this.lastVideoUs) return false;
    const first = this.pendingVideo[0];
    if (first && (sample.keyframe || sample.captureTimeUs - first.captureTimeUs >= FRAGMENT_MAX_US)) {
      this.flush(sample.captureTimeUs);
    }
    if (this.lastVideoUs >= 0) this.lastFrameUs = Math.min(1_000_000, Math.max(1, sample.captureTimeUs - this.lastVideoUs));
    this.lastVideoUs = sample.captureTimeUs;
    this.pendingVideo.push(sample);
    return true;
  }

  addAudio(samples: readonly AudioSample[]): void {
    if (this.closed || !this.audio) return;
    for (const s of samples) {
      // Sound from before the segment's first picture, or out of order, has no place in it.
      if (s.captureTimeUs < this.startUs || s.captureTimeUs <= this.lastAudioUs) continue;
      this.lastAudioUs = s.captureTimeUs;
      this.pendingAudio.push(s);
    }
  }

  /** Writes what is pending and closes the file; resolves once it is closed. */
  close(): Promise<void> {
    if (this.closed) return this.chain.then(() => undefined);
    if (this.pendingVideo.length > 0) this.flush(this.lastVideoUs + this.lastFrameUs, true);
    this.closed = true;
    this.pendingAudio = [];
    this.chain = this.chain.then(async () => {
      const fh = await this.file;
      await fh?.close().catch(() => undefined);
    });
    return this.chain.then(() => undefined);
  }

  private flush(endUs: number, final = false): void {
    const video = this.pendingVideo;
    this.pendingVideo = [];
    const first = video[0]!;
    const videoRun: TrackRun = { trackId: VIDEO_TRACK_ID, baseDecodeTime: videoUnits(first.captureTimeUs), samples: video.map((s, i) => toVideoSample(s, video[i + 1]?.captureTimeUs ?? endUs)) };
    const runs = [videoRun];
    if (this.audio && this.pendingAudio.length > 0) {
      const cut = final ? this.pendingAudio.length : this.pendingAudio.findIndex((s) => s.captureTimeUs >= endUs);
      const audio = cut < 0 ? this.pendingAudio : this.pendingAudio.slice(0, cut);
      this.pendingAudio = cut < 0 ? [] : this.pendingAudio.slice(cut);
      if (audio.length > 0) {
        const rate = this.audio.sampleRate;
        runs.push({
          trackId: AUDIO_TRACK_ID,
          baseDecodeTime: Math.round((audio[0]!.captureTimeUs * rate) / 1_000_000),
          samples: audio.map((s) => ({ duration: s.duration, size: s.size, flags: SYNC_SAMPLE_FLAGS, parts: s.parts })),
        });
      }
    }
    if (this.failed) return;
    const bytes = mediaFragment(this.sequence++, runs);
    if (this.queuedBytes + bytes.byteLength > MAX_QUEUED_BYTES) {
      this.sink.dropped(this, bytes.byteLength);
      return;
    }
    const fragment: NewFragment = {
      startUs: first.captureTimeUs,
      endUs,
      offset: this.fileBytes,
      length: bytes.byteLength,
      keyframe: first.keyframe,
    };
    this.fileBytes += bytes.byteLength;
    this.queuedBytes += bytes.byteLength;
    this.chain = this.chain.then(async () => {
      const fh = await this.file;
      if (!fh || this.failed) return;
      try {
        await fh.write(bytes, 0, bytes.byteLength, fragment.offset);
        this.writtenUntilUs = fragment.endUs;
        this.sink.written(this, fragment);
      } catch (err) {
        this.fail(err as Error);
      } finally {
        this.queuedBytes -= bytes.byteLength;
      }
    });
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.sink.failed(this, err);
  }
}

function toVideoSample(s: VideoSample, nextUs: number): Sample {
  return {
    duration: Math.max(1, videoUnits(nextUs) - videoUnits(s.captureTimeUs)),
    size: s.size,
    flags: s.keyframe ? SYNC_SAMPLE_FLAGS : NON_SYNC_SAMPLE_FLAGS,
    parts: s.parts,
  };
}
