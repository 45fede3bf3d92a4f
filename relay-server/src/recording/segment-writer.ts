import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NewFragment } from '../db/recordings.ts';
import {
  AUDIO_TRACK_ID,
  NON_SYNC_SAMPLE_FLAGS,
  SYNC_SAMPLE_FLAGS,
  VIDEO_TIMESCALE,
  VIDEO_TRACK_ID,
  fragmentHeader,
  type AudioTrackConfig,
  type RunColumns,
  type VideoTrackConfig,
} from './fmp4.ts';
import { maxMp4SampleBytes, writeMp4Sample, type AudioSample } from './samples.ts';

/**
 * One segment file being written: the init segment, then a fragment (moof + mdat) at each
 * keyframe and at least every FRAGMENT_MAX_US, so a crash loses at most about a second. Writes go
 * through one promise chain per file (async, in order, one write per fragment); the index hears of
 * a fragment only once its bytes are in the file, so the index never points past the data.
 */

/** Longest fragment: a power cut loses at most this much (plus the write in flight). */
const FRAGMENT_MAX_US = 1_000_000;
/** Bytes waiting to be written per file before fragments are dropped (a disk far slower than the camera). */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** Last frame's duration when nothing follows it: the previous frame's, else this. */
const DEFAULT_FRAME_US = 33_333;
/** Decode times run at most this far behind capture times (see decodeTime). */
const MAX_DTS_LAG_UNITS = VIDEO_TIMESCALE;

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
  /** the camera's nominal frame rate: decode times are at least one frame apart */
  framerate: number;
  /** decode time of the first sample, when it continues the previous segment (SegmentWriter.decodeTime) */
  firstDts?: number;
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
  /** the pending video samples' times, sizes and flags; their bytes are in videoData */
  private readonly pendingVideo = new PendingVideo();
  private lastDts = -1;
  /** the decode time grid: the nominal frame interval (video timescale) */
  private interval: number;
  private readonly firstDts: number | undefined;
  private pendingAudio: PendingAudio[] = [];
  /**
   * The pending samples' bytes, copied as they come: a frame kept by reference until its
   * fragment is written would outlive the young generation and cost old-generation GC.
   */
  private readonly videoData = new ByteBuilder(256 * 1024);
  private readonly audioData = new ByteBuilder(16 * 1024);
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
    this.interval = Math.max(1, Math.round(VIDEO_TIMESCALE / Math.max(1, options.framerate)));
    this.firstDts = options.firstDts;
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

  /**
   * An access unit: `annexB` from byte `from` on (the frame's message after its header), copied
   * into the fragment's buffer as an MP4 sample at once (samples.ts). False when it is out of
   * order (not after the last one) and was left out.
   */
  addVideo(captureTimeUs: number, keyframe: boolean, annexB: Buffer, from = 0): boolean {
    if (this.closed || captureTimeUs <= this.lastVideoUs) return false;
    const dts = this.decodeTime(captureTimeUs);
    const pending = this.pendingVideo;
    if (pending.count > 0 && (keyframe || captureTimeUs - pending.captureUs[0]! >= FRAGMENT_MAX_US)) {
      this.flush(captureTimeUs, dts);
    }
    if (this.lastVideoUs >= 0) this.lastFrameUs = Math.min(1_000_000, Math.max(1, captureTimeUs - this.lastVideoUs));
    this.lastVideoUs = captureTimeUs;
    this.lastDts = dts;
    pending.add(captureTimeUs, dts, keyframe, this.videoData.appendMp4Sample(annexB, from));
    return true;
  }

  /**
   * The sample's decode time: its capture time on the grid of the camera's nominal frame interval,
   * and at least one interval after the previous one. An agent that stalls reads several frames
   * at once and stamps them microseconds apart; players (and ffmpeg, which counts in frame
   * intervals) want distinct, even steps. The lag this adds is taken back as soon as frames come
   * late again; should it pass MAX_DTS_LAG_UNITS (a camera faster than it said), the grid halves.
   */
  decodeTime(captureUs: number): number {
    const own = Math.round(videoUnits(captureUs) / this.interval) * this.interval;
    if (this.lastDts < 0) return this.firstDts ?? own;
    const paced = Math.max(own, this.lastDts + this.interval);
    if (paced - own > MAX_DTS_LAG_UNITS && this.interval > 1) this.interval = Math.max(1, Math.floor(this.interval / 2));
    return paced;
  }

  addAudio(samples: readonly AudioSample[]): void {
    if (this.closed || !this.audio) return;
    for (const s of samples) {
      // Sound from before the segment's first picture, or out of order, has no place in it.
      if (s.captureTimeUs < this.startUs || s.captureTimeUs <= this.lastAudioUs) continue;
      this.lastAudioUs = s.captureTimeUs;
      for (const p of s.parts) this.audioData.append(p);
      this.pendingAudio.push({ captureTimeUs: s.captureTimeUs, size: s.size, duration: s.duration });
    }
  }

  /**
   * Writes what is pending and closes the file; resolves once it is closed. `next`: the frame that
   * follows in the next segment (capture and decode time), where the last one here ends. Without
   * one, the index says the segment ends just after its last frame's capture time, not a frame
   * interval later: that end is where a backfill after a dropped link takes over, and a guess past
   * the next frame the camera really wrote would hide that frame from the clip.
   */
  close(next?: { captureUs: number; dts: number }): Promise<void> {
    if (this.closed) return this.chain.then(() => undefined);
    if (this.pendingVideo.count > 0) {
      if (next && next.captureUs > this.lastVideoUs && next.dts > this.lastDts) this.flush(next.captureUs, next.dts, true);
      else this.flush(this.lastVideoUs + 1, this.lastDts + this.interval * Math.max(1, Math.round(videoUnits(this.lastFrameUs) / this.interval)), true);
    }
    this.closed = true;
    this.pendingAudio = [];
    this.audioData.take();
    this.chain = this.chain.then(async () => {
      const fh = await this.file;
      await fh?.close().catch(() => undefined);
    });
    return this.chain.then(() => undefined);
  }

  /** `endUs`/`endDts`: capture and decode time of the sample after the last pending one. */
  private flush(endUs: number, endDts: number, final = false): void {
    const video = this.pendingVideo;
    const { count, dts, duration } = video;
    for (let i = 0; i < count; i++) duration[i] = Math.max(1, (i + 1 < count ? dts[i + 1]! : endDts) - dts[i]!);
    const runs: RunColumns[] = [{ trackId: VIDEO_TRACK_ID, baseDecodeTime: dts[0]!, count, durations: duration, sizes: video.size, flags: video.flags }];
    const firstUs = video.captureUs[0]!;
    const firstKeyframe = video.flags[0] === SYNC_SAMPLE_FLAGS;
    const videoBytes = this.videoData.take();
    let audioBytes: Buffer | undefined;
    if (this.audio && this.pendingAudio.length > 0) {
      const cut = final ? this.pendingAudio.length : this.pendingAudio.findIndex((s) => s.captureTimeUs >= endUs);
      const audio = cut < 0 ? this.pendingAudio : this.pendingAudio.slice(0, cut);
      this.pendingAudio = cut < 0 ? [] : this.pendingAudio.slice(cut);
      if (audio.length > 0) {
        const rate = this.audio.sampleRate;
        runs.push({
          trackId: AUDIO_TRACK_ID,
          baseDecodeTime: Math.round((audio[0]!.captureTimeUs * rate) / 1_000_000),
          count: audio.length,
          durations: audio.map((s) => s.duration),
          sizes: audio.map((s) => s.size),
          flags: audio.map(() => SYNC_SAMPLE_FLAGS),
        });
        audioBytes = this.audioData.take(audio.reduce((n, s) => n + s.size, 0));
      }
    }
    // The header is written now, while the pending columns still hold this fragment's samples.
    const header = this.failed ? undefined : fragmentHeader(this.sequence++, runs);
    video.clear();
    if (!header) return;

    const parts = audioBytes ? [header, videoBytes, audioBytes] : [header, videoBytes];
    const length = parts.reduce((n, p) => n + p.byteLength, 0);
    if (this.queuedBytes + length > MAX_QUEUED_BYTES) {
      this.sink.dropped(this, length);
      return;
    }
    const fragment: NewFragment = {
      startUs: firstUs,
      endUs,
      offset: this.fileBytes,
      length,
      keyframe: firstKeyframe,
    };
    this.fileBytes += length;
    this.queuedBytes += length;
    this.chain = this.chain.then(async () => {
      const fh = await this.file;
      if (!fh || this.failed) return;
      try {
        const { bytesWritten } = await fh.writev(parts, fragment.offset);
        if (bytesWritten !== length) throw new Error(`short write: ${bytesWritten} of ${length} bytes`);
        this.writtenUntilUs = fragment.endUs;
        this.sink.written(this, fragment);
      } catch (err) {
        this.fail(err as Error);
      } finally {
        this.queuedBytes -= length;
        this.videoData.release(videoBytes);
        if (audioBytes) this.audioData.release(audioBytes);
      }
    });
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.sink.failed(this, err);
  }
}

/** An audio sample of the fragment being filled; its bytes are in audioData. */
interface PendingAudio {
  captureTimeUs: number;
  size: number;
  /** in 1/sampleRate units */
  duration: number;
}

/**
 * The video samples of the fragment being filled, in typed arrays used again for every fragment:
 * an object per frame would live until its fragment is written (up to a second), long enough to
 * be promoted out of the young generation, at 30 frames a second per camera.
 */
class PendingVideo {
  count = 0;
  captureUs = new Float64Array(64);
  /** decode times, video timescale */
  dts = new Float64Array(64);
  size = new Uint32Array(64);
  /** trun sample flags: SYNC_SAMPLE_FLAGS on keyframes */
  flags = new Uint32Array(64);
  /** trun sample durations, filled in when the fragment is written */
  duration = new Uint32Array(64);

  add(captureUs: number, dts: number, keyframe: boolean, size: number): void {
    if (this.count === this.size.length) this.grow();
    const i = this.count++;
    this.captureUs[i] = captureUs;
    this.dts[i] = dts;
    this.size[i] = size;
    this.flags[i] = keyframe ? SYNC_SAMPLE_FLAGS : NON_SYNC_SAMPLE_FLAGS;
  }

  clear(): void {
    this.count = 0;
  }

  private grow(): void {
    const n = this.size.length * 2;
    this.captureUs = grown(new Float64Array(n), this.captureUs);
    this.dts = grown(new Float64Array(n), this.dts);
    this.size = grown(new Uint32Array(n), this.size);
    this.flags = grown(new Uint32Array(n), this.flags);
    this.duration = new Uint32Array(n);
  }
}

function grown<T extends Float64Array | Uint32Array>(bigger: T, old: T): T {
  bigger.set(old);
  return bigger;
}

/**
 * Bytes appended into one buffer; take() hands them over and goes on in another. Handed-over
 * buffers come back with release() once written and are used again: a fresh large buffer per
 * fragment costs page faults and GC of external memory.
 */
class ByteBuilder {
  private buf: Buffer;
  private length = 0;
  private readonly minCapacity: number;
  private readonly spare: Buffer[] = [];

  constructor(minCapacity: number) {
    this.minCapacity = minCapacity;
    this.buf = Buffer.allocUnsafe(minCapacity);
  }

  append(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.buf.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  /** An H.264 access unit from Annex B (`annexB` from `from` on) as an MP4 sample; returns its size. */
  appendMp4Sample(annexB: Buffer, from: number): number {
    this.reserve(maxMp4SampleBytes(annexB.byteLength));
    const size = writeMp4Sample(annexB, from, this.buf, this.length);
    this.length += size;
    return size;
  }

  /** The first `n` bytes (default all) as a buffer of their own; the rest stays for later. */
  take(n = this.length): Buffer {
    const out = this.buf.subarray(0, n);
    const rest = this.length - n;
    // Sized like this fragment: the next one is about as big.
    const next = this.obtain(Math.max(this.minCapacity, Math.ceil(this.length * 1.25), rest));
    if (rest > 0) this.buf.copy(next, 0, n, this.length);
    this.buf = next;
    this.length = rest;
    return out;
  }

  /** A buffer from take(), written: its memory serves again. */
  release(taken: Buffer): void {
    // Only a buffer with an ArrayBuffer of its own (allocUnsafe slices small ones from a shared pool).
    if (this.spare.length < 2 && taken.buffer.byteLength >= this.minCapacity) this.spare.push(Buffer.from(taken.buffer, 0, taken.buffer.byteLength));
  }

  private obtain(size: number): Buffer {
    const i = this.spare.findIndex((b) => b.byteLength >= size);
    return i >= 0 ? this.spare.splice(i, 1)[0]! : Buffer.allocUnsafe(size);
  }

  private reserve(more: number): void {
    if (this.length + more <= this.buf.byteLength) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.byteLength * 2, this.length + more));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
}
