import { buildAvcDecoderConfigurationRecord, describeAccessUnit, parseSps, type InitMessage } from '@picam/protocol';
import { annexBToLengthPrefixed, sameBytes } from './annexb.ts';
import { PaintMethodChoice } from './paint-method.ts';
import { PaintPace } from './paint-pace.ts';
import type { IncomingFrame, PresentationClock, PresentedFrame, Renderer, RendererEvents, RendererStats } from './renderer.ts';

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
 * - How a picture goes onto the canvas (drawImage, or copyTo + putImageData where drawImage is
 *   slow: Chromium without a GPU) is chosen by its cost on the main thread (paint-method.ts).
 * - A browser that decodes the pictures but cannot paint them at the stream's pace (paint-pace.ts;
 *   WebKitGTK without a GPU) gives this path up: the player moves to MSE, whose <video> it paints.
 * - Lip sync (only while sound plays, see live-audio.ts): with a presentation clock set, each picture
 *   must appear when the clock says its capture time is being heard. The encoded chunk waits (costs
 *   nothing) and goes to the decoder a decode time before that; the decoded VideoFrame waits the
 *   last few ms, the clock asked again at every paint so the picture follows the sound when its
 *   schedule moves. Held pictures go up in capture order, one per animation frame (a page whose
 *   animation frames come late shows each a little late rather than dropping every other one);
 *   only a picture already a frame interval late behind a newer due one is skipped. (Holding
 *   decoded pictures for the whole delay would either stall the decoder, whose VideoFrame pool is
 *   small, or cost a copy per picture, which on a software path is enough CPU to make both tracks
 *   late.) Without a clock (the default, and always when muted) a picture is decoded at once and
 *   goes up on the next animation frame: the live edge.
 */

/** Decoded pictures held for lip sync at most (VideoFrames come from the decoder's limited pool). */
const MAX_DELAYED_FRAMES = 14;
/** The lead (decode time + how late pictures still reached the screen) is capped at this (ms): a
 * decoder slowed by the pictures it has out would otherwise be fed earlier and earlier, holding more
 * and more of them. */
const MAX_DECODE_LEAD_MS = 400;
/** Encoded chunks waiting for lip sync at most, in seconds of video (the sound's delay is capped lower). */
const MAX_GATED_SECONDS = 3;
/** A waiting chunk goes to the decoder this long before its picture is due, beyond the decode time (ms). */
const DECODE_LEAD_MARGIN_MS = 12;
const DECODE_TIME_SMOOTHING = 0.1;
/** A held picture's timer wakes at least this often (ms): the sound's schedule may have moved. */
const MAX_DUE_WAIT_MS = 50;

/** Live frames allowed in the decode queue before skipping to the next keyframe (at least this many). */
const MIN_QUEUE_LIMIT = 3;
/** ... or this many seconds of video at the stream's frame rate. */
const QUEUE_LIMIT_SECONDS = 0.25;
/** Decoder errors within ERROR_WINDOW_MS that make this path give up (the player falls back to MSE). */
const FATAL_ERRORS = 3;
const ERROR_WINDOW_MS = 10_000;
/** Frame metadata kept for decodes in flight; a decoder that loses frames must not grow this. */
const MAX_IN_FLIGHT_META = 300;

/** one animation frame at 60 Hz (ms) */
const FRAME_INTERVAL_MS = 1000 / 60;
/** RGBA pictures kept for reuse (one being converted, one waiting for its animation frame, a spare). */
const IMAGE_POOL = 3;

interface FrameMeta {
  sequence: number;
  captureTimeUs: number;
  catchUp: boolean;
  /** performance.now() when the chunk arrived, and when it went to the decoder */
  arrivedMs: number;
  fedMs: number;
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

  private pending: VideoFrame | null = null;
  /** the newest picture on its way up: the frame pending, or one being converted or converted */
  private pendingMeta: FrameMeta | undefined;
  private readonly paintMethod = new PaintMethodChoice(typeof ImageData !== 'undefined' && typeof VideoFrame !== 'undefined' && 'copyTo' in VideoFrame.prototype);
  /** the 'copy' method: the newest converted picture, waiting for its animation frame */
  private pendingImage: { image: ImageData; meta: FrameMeta | undefined; copyMs: number; generation: number } | null = null;
  /** bumped by each conversion started (and by a reset): an older conversion's result is dropped */
  private copyGeneration = 0;
  private imagePool: ImageData[] = [];
  /** lip sync: when each picture is due (null: at once) */
  private presentationClock: PresentationClock | null = null;
  /** encoded chunks waiting to be decoded just in time for their picture, in order */
  private gated: { chunk: EncodedVideoChunk; meta: FrameMeta }[] = [];
  private gateTimer = 0;
  private skipGatedToKey = false;
  /** decoded pictures waiting for their time (a few ms, a few pictures) */
  private delayed: { frame: VideoFrame; meta: FrameMeta }[] = [];
  /** smoothed time from decode() to the picture, and how late held pictures were painted (ms) */
  private decodeTimeMs = 15;
  private paintLateMs = 0;
  private rafId = 0;
  /** wakes paint() when the earliest held picture comes due */
  private dueTimer = 0;
  /** gives up on this path where decoded pictures do not reach the screen (paint-pace.ts) */
  private readonly pace = new PaintPace();

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
    // (While pictures wait for lip sync the chunks reach the decoder in bursts: checked as they go to it.)
    if (!header.keyframe && !header.catchUp && !this.presentationClock && queued - this.catchUpInFlight > this.queueLimit()) {
      // The device decodes slower than the camera sends: skip to the next keyframe.
      this.waitingForKeyframe = true;
      this.framesDropped++;
      return;
    }

    if (this.baseUs < 0) this.baseUs = header.captureTimeUs;
    let timestamp = header.captureTimeUs - this.baseUs;
    if (timestamp <= this.lastTimestamp) timestamp = this.lastTimestamp + 1; // unique, increasing keys
    this.lastTimestamp = timestamp;
    const meta: FrameMeta = { sequence: header.sequence, captureTimeUs: header.captureTimeUs, catchUp: header.catchUp, arrivedMs: performance.now(), fedMs: 0 };
    if (header.catchUp) {
      this.newestCatchUp = timestamp;
      this.catchUpInFlight++;
    }
    let chunk: EncodedVideoChunk;
    try {
      chunk = new EncodedVideoChunk({ type: header.keyframe ? 'key' : 'delta', timestamp, data: annexBToLengthPrefixed(payload) });
    } catch (err) {
      this.failed(err);
      return;
    }
    this.waitingForKeyframe = false;
    if (this.presentationClock && !header.catchUp) {
      this.gated.push({ chunk, meta });
      if (this.gated.length > MAX_GATED_SECONDS * this.framerate) this.feed(this.gated.shift()!);
      this.releaseGated();
    } else {
      this.feed({ chunk, meta });
    }
  }

  /** To the decoder (or behind the first picture since configure). */
  private feed({ chunk, meta }: { chunk: EncodedVideoChunk; meta: FrameMeta }): void {
    const decoder = this.decoder;
    if (!decoder || decoder.state !== 'configured') return;
    if (this.meta.size >= MAX_IN_FLIGHT_META) this.meta.clear();
    meta.fedMs = performance.now();
    this.meta.set(chunk.timestamp, meta);
    try {
      if (this.held) {
        this.held.push(chunk);
      } else {
        decoder.decode(chunk);
        if (this.holdAfterNext) {
          this.holdAfterNext = false;
          this.held = [];
        }
      }
    } catch (err) {
      this.meta.delete(chunk.timestamp);
      this.failed(err);
    }
  }

  /** Feeds the waiting chunks whose picture is due within a decode time; wakes up for the next one. */
  private releaseGated(): void {
    if (this.gateTimer) clearTimeout(this.gateTimer);
    this.gateTimer = 0;
    const leadMs = Math.min(this.decodeTimeMs + this.paintLateMs, MAX_DECODE_LEAD_MS) + DECODE_LEAD_MARGIN_MS;
    while (this.gated.length > 0) {
      const next = this.gated[0]!;
      const due = this.dueMs(next.meta.captureTimeUs);
      const waitMs = due === null ? 0 : due - leadMs - performance.now();
      if (waitMs > 1) {
        this.gateTimer = window.setTimeout(() => this.releaseGated(), waitMs);
        return;
      }
      const chunk = this.gated.shift()!;
      if (chunk.chunk.type === 'key') this.skipGatedToKey = false;
      else if (this.skipGatedToKey || (this.decoder?.decodeQueueSize ?? 0) > 2 * this.queueLimit()) {
        // The device decodes slower than the camera sends: skip to the next keyframe.
        this.skipGatedToKey = true;
        this.framesDropped++;
        continue;
      }
      this.feed(chunk);
    }
  }

  pushAudio(): void {
    // Sound on the WebCodecs path is LiveAudio's (the player hands it the audio frames).
  }

  reset(): void {
    this.closeDecoder();
    this.waitingForKeyframe = true;
  }

  jumpToLive(): void {
    // Nothing is buffered on this path: the next decoded frame is the live one.
  }

  setMuted(): void {}

  /** Lip sync: each picture appears when `clock` says it is due (null: at once, the live edge). */
  setPresentationClock(clock: PresentationClock | null): void {
    this.presentationClock = clock;
    if (!clock) {
      // Back to the live edge: what waits is decoded now, the newest held picture goes up now.
      this.releaseGated();
      const newest = this.delayed.pop();
      for (const d of this.delayed) d.frame.close();
      this.delayed = [];
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
    clearTimeout(this.dueTimer);
  }

  private queueLimit(): number {
    return Math.max(MIN_QUEUE_LIMIT, Math.round(this.framerate * QUEUE_LIMIT_SECONDS));
  }

  private configure(sps: Uint8Array, pps: Uint8Array[]): boolean {
    // Chunks waiting for lip sync belong to the old configuration: they go to the decoder first.
    for (const waiting of this.gated) this.feed(waiting);
    this.gated = [];
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
    const paintsBehind = meta && !meta.catchUp ? this.pace.decodedOne(performance.now()) : null;
    if (paintsBehind) {
      frame.close();
      this.events.onFatal(paintsBehind);
      return;
    }
    const now = performance.now();
    if (meta && !meta.catchUp) {
      const decodeMs = now - meta.fedMs;
      this.decodeTimeMs += (decodeMs - this.decodeTimeMs) * DECODE_TIME_SMOOTHING;
      // When it would have been ready had it gone to the decoder on arrival (the sound's schedule
      // learns from that, not from the lip-sync wait).
      this.events.onDecoded?.(meta.captureTimeUs, meta.arrivedMs + decodeMs);
    }
    const dueMs = meta && !meta.catchUp ? this.dueMs(meta.captureTimeUs) : null;
    if (meta && dueMs != null && meta.fedMs > meta.arrivedMs) {
      // A picture that waited for lip sync: out of the decoder after its time means feed earlier.
      this.paintLateMs += (Math.max(0, now - dueMs) - this.paintLateMs) * DECODE_TIME_SMOOTHING;
    }
    if (meta && dueMs != null) {
      // In capture order, late or not: a late picture that went up at once, ahead of an older one
      // still held for an animation frame, made that older one a step back, dropped.
      this.delayed.push({ frame, meta });
      while (this.delayed.length > MAX_DELAYED_FRAMES) {
        const oldest = this.delayed.shift()!;
        this.showNext(oldest.frame, oldest.meta);
      }
      this.schedulePaint();
      return;
    }
    this.showNext(frame, meta);
  }

  /**
   * When a held picture goes up: half a frame interval before its sound, so that the picture, which
   * stands for the frame interval starting at its capture time, is on screen around the middle of it
   * (and the paint on the next animation frame after this is not late on average).
   */
  private dueMs(captureTimeUs: number): number | null {
    const due = this.presentationClock?.(captureTimeUs);
    return due == null ? null : due - 500 / this.framerate;
  }

  /** Newest wins: a picture not yet painted is replaced, never queued. */
  private showNext(frame: VideoFrame, meta: FrameMeta | undefined): void {
    if (meta && this.pendingMeta && meta.captureTimeUs < this.pendingMeta.captureTimeUs) {
      // A held picture coming due after a newer one went up at once: never step back.
      frame.close();
      return;
    }
    this.pending?.close();
    this.pending = null;
    this.pendingMeta = meta;
    if (this.paintMethod.current === 'copy') {
      this.convert(frame, meta);
      return;
    }
    this.pending = frame;
    if (!this.rafId) this.rafId = requestAnimationFrame(() => this.paint());
  }

  /**
   * The 'copy' method (paint-method.ts): the picture is converted to RGBA now, off the animation
   * frame, and the frame goes back to the decoder; paint() puts the newest conversion up.
   */
  private convert(frame: VideoFrame, meta: FrameMeta | undefined): void {
    const generation = ++this.copyGeneration;
    const rect = frame.visibleRect;
    const width = rect?.width ?? frame.displayWidth;
    const height = rect?.height ?? frame.displayHeight;
    const image = this.takeImage(width, height);
    const started = performance.now();
    let copyMs = 0;
    frame.copyTo(image.data, { format: 'RGBA' }).then(
      (layout) => {
        // A browser that does not know the `format` option copies the decoder's own planes.
        const rgba = layout.length === 1 && layout[0]!.stride === width * 4;
        if (!rgba) {
          this.giveImage(image);
          this.copyFailed(frame, meta, generation);
          return;
        }
        frame.close();
        if (this.destroyed || generation !== this.copyGeneration) {
          this.giveImage(image);
          return;
        }
        if (this.pendingImage) this.giveImage(this.pendingImage.image);
        this.pendingImage = { image, meta, copyMs, generation };
        if (!this.rafId) this.rafId = requestAnimationFrame(() => this.paint());
      },
      () => {
        this.giveImage(image);
        this.copyFailed(frame, meta, generation);
      },
    );
    copyMs = performance.now() - started;
  }

  /** This browser's copyTo does not convert to RGBA: draw, this picture too if it is still the newest. */
  private copyFailed(frame: VideoFrame, meta: FrameMeta | undefined, generation: number): void {
    this.paintMethod.copyFailed();
    if (this.destroyed || generation !== this.copyGeneration) frame.close();
    else this.showNext(frame, meta);
  }

  private takeImage(width: number, height: number): ImageData {
    const i = this.imagePool.findIndex((image) => image.width === width && image.height === height);
    if (i >= 0) return this.imagePool.splice(i, 1)[0]!;
    return new ImageData(width, height);
  }

  private giveImage(image: ImageData): void {
    if (this.imagePool.length < IMAGE_POOL) this.imagePool.push(image);
  }

  /**
   * The next paint of held pictures: the next animation frame when one is due (or a picture waits
   * to go up), else a timer for when the earliest comes due. Animation frames do not run while
   * pictures only wait: where there is no GPU (WebKitGTK) each one is a rendering update of the page.
   */
  private schedulePaint(): void {
    if (this.rafId || this.destroyed) return;
    clearTimeout(this.dueTimer);
    this.dueTimer = 0;
    const first = this.delayed[0];
    const waitMs = first ? (this.dueMs(first.meta.captureTimeUs) ?? 0) - this.paintAheadMs() - performance.now() : 0;
    if (this.pending || this.pendingImage || (first && waitMs <= 0)) this.rafId = requestAnimationFrame(() => this.paint());
    else if (first) this.dueTimer = window.setTimeout(() => this.schedulePaint(), Math.min(waitMs, MAX_DUE_WAIT_MS));
  }

  /** A picture converted for the 'copy' method goes up on the next animation frame, not this one. */
  private paintAheadMs(): number {
    return this.paintMethod.current === 'copy' ? FRAME_INTERVAL_MS : 0;
  }

  private paint(): void {
    this.rafId = 0;
    this.takeDue();
    this.drawPending();
    if (this.delayed.length > 0) this.schedulePaint();
  }

  /** The held pictures now due go up: the earliest, or the newest when the page is behind. */
  private takeDue(): void {
    const now = performance.now();
    const aheadMs = this.paintAheadMs();
    // Asked now, not at decode: when the sound's schedule moves, the picture moves with it. Each
    // picture's due time is asked once (it is a read of the sound's clock).
    const firstDue = () => this.dueMs(this.delayed[0]!.meta.captureTimeUs) ?? 0;
    let dueMs = this.delayed.length > 0 ? firstDue() : Infinity;
    while (dueMs <= now + aheadMs) {
      const due = this.delayed.shift()!;
      this.showNext(due.frame, due.meta);
      if (this.delayed.length === 0) break;
      // Two pictures due at one animation frame (it came late, or the frames' times jitter): the
      // newer goes up on the next one rather than the older being dropped, unless the newer is
      // already a frame interval late (this page paints slower than the camera: skip to it).
      dueMs = firstDue();
      if (now - dueMs < 1000 / this.framerate) break;
    }
  }

  /** The newest picture waiting to go up is drawn onto the canvas. */
  private drawPending(): void {
    const converted = this.pendingImage;
    if (converted) {
      this.pendingImage = null;
      if (converted.generation === this.copyGeneration) this.pendingMeta = undefined;
      const started = performance.now();
      this.fitCanvas(converted.image.width, converted.image.height);
      this.ctx.putImageData(converted.image, 0, 0);
      this.paintMethod.sample(converted.copyMs + performance.now() - started);
      this.giveImage(converted.image);
      this.presented(converted.meta);
    }
    const frame = this.pending;
    if (!frame) return;
    const meta = this.pendingMeta;
    this.pending = null;
    this.pendingMeta = undefined;
    try {
      const started = performance.now();
      this.fitCanvas(frame.displayWidth, frame.displayHeight);
      this.ctx.drawImage(frame, 0, 0, frame.displayWidth, frame.displayHeight);
      this.paintMethod.sample(performance.now() - started);
      this.presented(meta);
    } finally {
      frame.close();
    }
  }

  private fitCanvas(width: number, height: number): void {
    if (this.element.width !== width || this.element.height !== height) {
      this.element.width = width;
      this.element.height = height;
    }
  }

  private presented(meta: FrameMeta | undefined): void {
    this.framesShown++;
    this.pace.shownOne();
    if (meta) {
      const presented: PresentedFrame = { sequence: meta.sequence, captureTimeUs: meta.captureTimeUs, shownEpochMs: Date.now() };
      this.events.onPresent(presented);
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
    this.pace.reset();
    this.newestCatchUp = -1;
    this.holdAfterNext = false;
    this.held = null;
    this.pending?.close();
    this.pending = null;
    this.pendingMeta = undefined;
    this.copyGeneration++;
    if (this.pendingImage) this.giveImage(this.pendingImage.image);
    this.pendingImage = null;
    for (const d of this.delayed) d.frame.close();
    this.delayed = [];
    this.gated = [];
    if (this.gateTimer) clearTimeout(this.gateTimer);
    this.gateTimer = 0;
    this.paintLateMs = 0;
    if (decoder && decoder.state !== 'closed') {
      try {
        decoder.close();
      } catch {
        // already closed by an error
      }
    }
  }
}
