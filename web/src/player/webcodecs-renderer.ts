import { buildAvcDecoderConfigurationRecord, describeAccessUnit, parseSps, type InitMessage } from '@picam/protocol';
import { annexBToLengthPrefixed, sameBytes } from './annexb.ts';
import type { IncomingFrame, PresentedFrame, Renderer, RendererEvents, RendererStats } from './renderer.ts';

/**
 * The low-latency path: every access unit goes to a WebCodecs VideoDecoder the moment it arrives,
 * and only the newest decoded picture is drawn to a <canvas> on the next animation frame (every
 * other VideoFrame is closed at once, so the decoder never runs out of frames).
 *
 * - Configured as `avc1.PPCCLL` with an avcC description built from the keyframe's SPS/PPS (Safari
 *   rejects avc3 / in-band parameter sets), `optimizeForLatency`. A changed SPS or PPS reconfigures.
 * - Decoding starts at a keyframe, and restarts at one after a decoder error or a reset.
 * - Catch-up frames (the GOP replayed to a joiner) are decoded but only the newest one is shown.
 * - After (re)configuration the decoder gets the keyframe alone, and what came after it once the
 *   keyframe's picture is out: with a joiner's whole catch-up queued behind it, Chromium's software
 *   decoder put out that first picture 35-50 ms after configure instead of 20-23 ms (1080p), and a
 *   page open's first picture waits on exactly that (bench/README.md, "First picture").
 * - A slow device: when live frames pile up in the decode queue, delta frames are dropped up to the
 *   next keyframe instead of showing an ever older picture.
 * - Lip sync (only while sound plays, see live-audio.ts): `setDelay(ms)` holds each decoded picture
 *   until decode time + ms (smoothed), so it appears when its sound is heard. 0 (the default, and
 *   always when muted) is the live edge.
 */

/** Pictures held for lip sync at most (VideoFrames come from the decoder's limited pool). */
const MAX_DELAYED_FRAMES = 30;
const DECODE_LATENCY_SMOOTHING = 0.05;

/** Live frames allowed in the decode queue before skipping to the next keyframe (at least this many). */
const MIN_QUEUE_LIMIT = 3;
/** ... or this many seconds of video at the stream's frame rate. */
const QUEUE_LIMIT_SECONDS = 0.25;
/** Decoder errors within ERROR_WINDOW_MS that make this path give up (the player falls back to MSE). */
const FATAL_ERRORS = 3;
const ERROR_WINDOW_MS = 10_000;
/** Frame metadata kept for decodes in flight; a decoder that loses frames must not grow this. */
const MAX_IN_FLIGHT_META = 300;

/** a decoded picture: straight from the decoder, or copied out of it while held for lip sync */
type Picture = VideoFrame | ImageBitmap;

interface FrameMeta {
  sequence: number;
  captureTimeUs: number;
  catchUp: boolean;
}

export class WebCodecsRenderer implements Renderer {
  readonly path = 'webcodecs' as const;
  readonly element: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly events: RendererEvents;

  private decoder: VideoDecoder | null = null;
  private sps: Uint8Array | null = null;
  private pps: Uint8Array[] = [];
  private waitingForKeyframe = true;
  private framerate = 30;

  private readonly meta = new Map<number, FrameMeta>();
  private baseUs = -1;
  private lastTimestamp = -1;
  /** timestamp of the newest catch-up chunk: older catch-up pictures are never shown */
  private newestCatchUp = -1;
  private catchUpInFlight = 0;
  /** the next chunk decoded is the first since configure: hold back what follows it */
  private holdAfterNext = false;
  /** chunks held back until the first picture since configure is out; null when not holding */
  private held: EncodedVideoChunk[] | null = null;

  private pending: Picture | null = null;
  private pendingMeta: FrameMeta | undefined;
  /** lip-sync delay (ms) and the pictures waiting for their time */
  private delayMs = 0;
  private delayed: { frame: Picture; meta: FrameMeta; dueMs: number }[] = [];
  /** bumped when held pictures are dropped, so conversions still in flight are discarded */
  private delayEpoch = 0;
  /** smoothed performance.now() at decode - capture time (ms) */
  private decodeLatencyMs: number | null = null;
  private rafId = 0;

  private framesDecoded = 0;
  private framesShown = 0;
  private framesDropped = 0;
  private decoderResets = 0;
  private lastError: string | null = null;
  private errorTimes: number[] = [];
  private destroyed = false;

  constructor(events: RendererEvents) {
    this.events = events;
    this.element = document.createElement('canvas');
    this.element.className = 'player-media';
    this.element.dataset.testid = 'player-canvas';
    this.element.width = 16;
    this.element.height = 9;
    const ctx = this.element.getContext('2d', { alpha: false, desynchronized: true });
    if (!ctx) throw new Error('no 2D canvas context');
    this.ctx = ctx;
  }

  init(init: InitMessage): void {
    this.framerate = init.video.framerate > 0 ? init.video.framerate : 30;
    // The picture size follows the decoded frames; the SPS in the next keyframe drives configuration.
  }

  pushVideo(frame: IncomingFrame): void {
    if (this.destroyed) return;
    const { header, payload } = frame;
    if (this.waitingForKeyframe && !header.keyframe) {
      this.framesDropped++;
      return;
    }
    if (header.keyframe) {
      const info = describeAccessUnit(payload);
      if (info.sps && info.pps.length > 0) {
        const changed = !sameBytes(info.sps, this.sps) || info.pps.length !== this.pps.length || info.pps.some((p, i) => !sameBytes(p, this.pps[i]));
        if (changed || !this.decoder || this.decoder.state !== 'configured') {
          if (!this.configure(info.sps, info.pps)) {
            this.framesDropped++;
            return;
          }
        }
      }
    }
    const decoder = this.decoder;
    if (!decoder || decoder.state !== 'configured') {
      this.framesDropped++;
      this.waitingForKeyframe = true;
      return;
    }
    const queued = decoder.decodeQueueSize + (this.held?.length ?? 0);
    if (!header.keyframe && !header.catchUp && queued - this.catchUpInFlight > this.queueLimit()) {
      // The device decodes slower than the camera sends: skip to the next keyframe.
      this.waitingForKeyframe = true;
      this.framesDropped++;
      return;
    }

    if (this.baseUs < 0) this.baseUs = header.captureTimeUs;
    let timestamp = header.captureTimeUs - this.baseUs;
    if (timestamp <= this.lastTimestamp) timestamp = this.lastTimestamp + 1; // unique, increasing keys
    this.lastTimestamp = timestamp;
    if (this.meta.size >= MAX_IN_FLIGHT_META) this.meta.clear();
    this.meta.set(timestamp, { sequence: header.sequence, captureTimeUs: header.captureTimeUs, catchUp: header.catchUp });
    if (header.catchUp) {
      this.newestCatchUp = timestamp;
      this.catchUpInFlight++;
    }
    try {
      const chunk = new EncodedVideoChunk({ type: header.keyframe ? 'key' : 'delta', timestamp, data: annexBToLengthPrefixed(payload) });
      if (this.held) {
        this.held.push(chunk);
      } else {
        decoder.decode(chunk);
        if (this.holdAfterNext) {
          this.holdAfterNext = false;
          this.held = [];
        }
      }
      this.waitingForKeyframe = false;
    } catch (err) {
      this.meta.delete(timestamp);
      this.failed(err);
    }
  }

  pushAudio(): void {
    // Audio on the WebCodecs path comes with the audio work (Player's onAudioFrame hook).
  }

  reset(): void {
    this.closeDecoder();
    this.decodeLatencyMs = null;
    this.waitingForKeyframe = true;
  }

  jumpToLive(): void {
    // Nothing is buffered on this path: the next decoded frame is the live one.
  }

  setMuted(): void {}

  /** Lip sync: show pictures this many ms after they decode (0: at once, the live edge). */
  setDelay(delayMs: number): void {
    this.delayMs = Math.max(0, delayMs);
    if (this.delayMs === 0) {
      // Back to the live edge: the newest held picture goes up now, the rest are dropped.
      const newest = this.delayed.pop();
      for (const d of this.delayed) d.frame.close();
      this.delayed = [];
      this.delayEpoch++;
      if (newest) this.showNext(newest.frame, newest.meta);
    }
  }

  snapshot(): Promise<Blob | null> {
    return new Promise((resolve) => this.element.toBlob((blob) => resolve(blob), 'image/png'));
  }

  stats(): RendererStats {
    return {
      framesDecoded: this.framesDecoded,
      framesShown: this.framesShown,
      framesDropped: this.framesDropped,
      decoderResets: this.decoderResets,
      queue: this.decoder?.decodeQueueSize ?? 0,
      width: this.element.width > 16 ? this.element.width : 0,
      height: this.element.height > 9 ? this.element.height : 0,
      lastError: this.lastError,
    };
  }

  destroy(): void {
    this.destroyed = true;
    this.closeDecoder();
    if (this.rafId) cancelAnimationFrame(this.rafId);
    this.rafId = 0;
  }

  private queueLimit(): number {
    return Math.max(MIN_QUEUE_LIMIT, Math.round(this.framerate * QUEUE_LIMIT_SECONDS));
  }

  private configure(sps: Uint8Array, pps: Uint8Array[]): boolean {
    let config: VideoDecoderConfig;
    try {
      const info = parseSps(sps);
      config = {
        codec: info.codecString,
        description: buildAvcDecoderConfigurationRecord(sps, pps),
        optimizeForLatency: true,
        codedWidth: info.codedWidth,
        codedHeight: info.codedHeight,
      };
    } catch (err) {
      this.lastError = `unusable SPS/PPS: ${err instanceof Error ? err.message : String(err)}`;
      return false;
    }
    if (!this.decoder || this.decoder.state === 'closed') this.decoder = this.createDecoder();
    try {
      // Decodes already queued finish with the old configuration first (WebCodecs control queue).
      this.decoder.configure(config);
    } catch (err) {
      this.failed(err);
      return false;
    }
    this.sps = sps.slice();
    this.pps = pps.map((p) => p.slice());
    this.holdAfterNext = true;
    return true;
  }

  /** The first picture since configure is out: the decoder gets what was held back, in order. */
  private releaseHeld(): void {
    const chunks = this.held;
    this.held = null;
    if (!chunks || !this.decoder) return;
    try {
      for (const chunk of chunks) this.decoder.decode(chunk);
    } catch (err) {
      this.failed(err);
    }
  }

  private createDecoder(): VideoDecoder {
    const decoder: VideoDecoder = new VideoDecoder({
      output: (frame) => this.onOutput(frame),
      error: (err) => {
        // Only the current decoder's errors count; a closed one reports AbortError on close().
        if (this.decoder === decoder) this.failed(err);
      },
    });
    return decoder;
  }

  private onOutput(frame: VideoFrame): void {
    this.framesDecoded++;
    if (this.held) this.releaseHeld();
    const meta = this.meta.get(frame.timestamp);
    this.meta.delete(frame.timestamp);
    if (meta?.catchUp) this.catchUpInFlight = Math.max(0, this.catchUpInFlight - 1);
    // Older catch-up pictures are not shown at their pace; but until anything is on screen, each one
    // is a picture sooner than the live one after the whole GOP has decoded (first picture time).
    const stale = meta?.catchUp === true && frame.timestamp !== this.newestCatchUp && this.framesShown > 0;
    if (this.destroyed || stale) {
      frame.close();
      return;
    }
    if (meta && !meta.catchUp) {
      const latency = performance.now() - meta.captureTimeUs / 1000;
      this.decodeLatencyMs = this.decodeLatencyMs === null ? latency : this.decodeLatencyMs + (latency - this.decodeLatencyMs) * DECODE_LATENCY_SMOOTHING;
      this.events.onDecoded?.(meta.captureTimeUs, performance.now());
    }
    if (this.delayMs > 0 && meta && !meta.catchUp && this.decodeLatencyMs !== null) {
      // Due at capture + smoothed decode latency + delay: the same instant live-audio.ts plays its sound.
      const dueMs = meta.captureTimeUs / 1000 + this.decodeLatencyMs + this.delayMs;
      // Held pictures are copied out of the decoder's VideoFrame pool at once: a held VideoFrame
      // would stall the decoder (its pool is small), which raises decode latency, which raises dueMs.
      const epoch = this.delayEpoch;
      createImageBitmap(frame)
        .then((bitmap) => {
          if (this.destroyed || epoch !== this.delayEpoch || this.delayMs === 0) {
            bitmap.close();
            return;
          }
          this.delayed.push({ frame: bitmap, meta, dueMs });
          while (this.delayed.length > MAX_DELAYED_FRAMES) {
            const oldest = this.delayed.shift()!;
            this.showNext(oldest.frame, oldest.meta);
          }
          if (!this.rafId) this.rafId = requestAnimationFrame(() => this.paint());
        })
        .catch(() => {})
        .finally(() => frame.close());
      return;
    }
    this.showNext(frame, meta);
  }

  /** Newest wins: a picture not yet painted is replaced, never queued. */
  private showNext(frame: Picture, meta: FrameMeta | undefined): void {
    this.pending?.close();
    this.pending = frame;
    this.pendingMeta = meta;
    if (!this.rafId) this.rafId = requestAnimationFrame(() => this.paint());
  }

  private paint(): void {
    this.rafId = 0;
    if (this.delayed.length > 0) {
      const now = performance.now();
      while (this.delayed.length > 0 && this.delayed[0]!.dueMs <= now) {
        const due = this.delayed.shift()!;
        this.pending?.close();
        this.pending = due.frame;
        this.pendingMeta = due.meta;
      }
      if (this.delayed.length > 0) this.rafId = requestAnimationFrame(() => this.paint());
    }
    const frame = this.pending;
    const meta = this.pendingMeta;
    this.pending = null;
    this.pendingMeta = undefined;
    if (!frame) return;
    try {
      const width = 'displayWidth' in frame ? frame.displayWidth : frame.width;
      const height = 'displayHeight' in frame ? frame.displayHeight : frame.height;
      if (this.element.width !== width || this.element.height !== height) {
        this.element.width = width;
        this.element.height = height;
      }
      this.ctx.drawImage(frame, 0, 0, width, height);
      this.framesShown++;
      if (meta) {
        const presented: PresentedFrame = { sequence: meta.sequence, captureTimeUs: meta.captureTimeUs, shownEpochMs: Date.now() };
        this.events.onPresent(presented);
      }
    } finally {
      frame.close();
    }
  }

  private failed(err: unknown): void {
    this.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.decoderResets++;
    this.closeDecoder();
    this.waitingForKeyframe = true;
    const now = Date.now();
    this.errorTimes = [...this.errorTimes.filter((t) => now - t < ERROR_WINDOW_MS), now];
    if (this.errorTimes.length >= FATAL_ERRORS) this.events.onFatal(`WebCodecs decoder failed ${this.errorTimes.length} times: ${this.lastError}`);
  }

  private closeDecoder(): void {
    const decoder = this.decoder;
    this.decoder = null;
    this.sps = null;
    this.pps = [];
    this.meta.clear();
    this.catchUpInFlight = 0;
    this.newestCatchUp = -1;
    this.holdAfterNext = false;
    this.held = null;
    this.pending?.close();
    this.pending = null;
    for (const d of this.delayed) d.frame.close();
    this.delayed = [];
    this.delayEpoch++;
    if (decoder && decoder.state !== 'closed') {
      try {
        decoder.close();
      } catch {
        // already closed by an error
      }
    }
  }
}
