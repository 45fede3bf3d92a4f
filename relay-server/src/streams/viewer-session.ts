import { CloseCode } from '@picam/protocol';
import { catchUpMessage, type HubFrame } from './frame.ts';

/**
 * One viewer's side of the fan-out: what it has been sent and whether it keeps up.
 *
 * A viewer that falls behind is never queued for without bound and never holds up the others: it
 * skips whole frames up to the next keyframe (dropping single frames would corrupt its picture
 * until then; docs/ARCHITECTURE.md "Threads, memory and backpressure"). Two limits trigger a skip:
 *  - bytes: `bufferedAmount` over the stream's budget (about a second of video);
 *  - lag: kernel socket buffers hold seconds of video that bufferedAmount never sees, so the
 *    viewer's `ack`s say how far it really is: past LAG_LIMIT_US of capture time between the newest
 *    frame sent and the newest acknowledged one, it skips. A viewer that never acks is paced by
 *    bytes alone.
 * Over budget continuously for OVER_BUDGET_CLOSE_MS, it is closed (4010).
 *
 * A viewer may ask for keyframes only (`quality`, a grid tile that is not the focus): it then gets
 * a keyframe at most every `minIntervalMs` of capture time and no audio; the same limits apply to
 * what it is sent. Back to full rate, it gets the rest of the current GOP at once (catch-up), so its
 * decoder continues from the keyframe it has and the picture is live without waiting for the next
 * keyframe (docs/ARCHITECTURE.md "Viewer quality").
 */

/** Where a viewer's frames go; the WebSocket in production, anything in unit tests. */
export interface ViewerSink {
  readonly bufferedAmount: number;
  /** `wire`, when given, is `message` already encoded for this sink's transport (FrameEncoder). */
  sendBinary(message: Buffer, wire?: Buffer): void;
  sendText(text: string): void;
  close(code: number, reason: string): void;
}

/** What the stream tells a viewer about itself when a frame is offered. */
export interface StreamContext {
  /** identifies the current format; '' before the first keyframe */
  readonly formatKey: string;
  /** the `init` message for formatKey, built once per format */
  readonly initText: string;
  /** byte budget for bufferedAmount, from the measured bitrate */
  readonly budgetBytes: number;
}

/** Result of offering a frame. A const object, not an enum (erasableSyntaxOnly). */
export const Offer = { Sent: 0, Waiting: 1, Slow: 2, Lag: 3, Closed: 4, NotWanted: 5 } as const;
export type Offer = (typeof Offer)[keyof typeof Offer];

export const LAG_LIMIT_US = 500_000;
export const OVER_BUDGET_CLOSE_MS = 20_000;
/** Sent video frames remembered for ack lookups: several seconds at any sane frame rate. */
const RING = 256;

/**
 * Keyframes whose capture times are this share of `minIntervalMs` apart still pass: a camera's
 * keyframes come a GOP apart give or take a frame's jitter, and a strict comparison would halve the
 * rate of a tile whose interval equals the GOP.
 */
const INTERVAL_SLACK = 0.9;

/** What a viewer asked for with `quality`. */
export interface ViewerQuality {
  keyframesOnly: boolean;
  /** with keyframesOnly: the least capture time between two keyframes sent */
  minIntervalMs: number;
}

export interface ViewerLimits {
  lagLimitUs?: number;
  overBudgetCloseMs?: number;
}

export class ViewerSession {
  readonly sink: ViewerSink;
  /** the format of the last `init` this viewer got */
  private formatKey = '';
  /** fed from a keyframe since it joined or the stream restarted; before that only a keyframe starts it */
  private started = false;
  private skipping: Offer = Offer.Sent;
  /** extra bytes allowed while the catch-up burst drains */
  private allowance = 0;
  private overBudgetSince = -1;
  private closed = false;

  private acking = false;
  /** capture time of the newest acknowledged frame, never before the last (re)start */
  private ackedUs = 0;
  /** capture time of the newest video frame sent */
  private sentUs = 0;
  /** the newest video frame sent has been acknowledged: nothing is in flight */
  private allAcked = false;
  private readonly ringSeq = new Uint32Array(RING);
  private readonly ringUs = new Float64Array(RING);
  private ringNext = 0;
  private ringCount = 0;

  private keyframesOnly = false;
  private minIntervalUs = 0;
  /** capture time of the newest keyframe sent */
  private keyframeUs = Number.NEGATIVE_INFINITY;

  private readonly lagLimitUs: number;
  private readonly overBudgetCloseMs: number;

  constructor(sink: ViewerSink, limits: ViewerLimits = {}) {
    this.sink = sink;
    this.lagLimitUs = limits.lagLimitUs ?? LAG_LIMIT_US;
    this.overBudgetCloseMs = limits.overBudgetCloseMs ?? OVER_BUDGET_CLOSE_MS;
  }

  /**
   * Join with the current GOP (and audio tail): init, then every frame flagged catch-up, at once.
   * A viewer that asked for keyframes only before it joined gets the GOP's keyframe alone.
   */
  startWithCatchUp(ctx: StreamContext, all: readonly HubFrame[]): void {
    this.sendInit(ctx);
    const frames = this.keyframesOnly ? all.filter((f) => f.keyframe).slice(0, 1) : all;
    let bytes = 0;
    let lastVideo: HubFrame | undefined;
    for (const frame of frames) {
      const message = catchUpMessage(frame);
      this.sink.sendBinary(message);
      bytes += message.byteLength;
      if (frame.track === 1) {
        this.remember(frame);
        lastVideo = frame;
      }
    }
    this.started = lastVideo !== undefined;
    if (frames[0]?.keyframe) this.keyframeUs = frames[0].captureTimeUs;
    this.skipping = Offer.Sent;
    // The burst may exceed the budget by a whole GOP: allow it, or the first live frame would skip.
    this.allowance = bytes;
    if (lastVideo) this.ackedUs = lastVideo.captureTimeUs;
  }

  /** Sends init now if the format is known (a joiner while the GOP cache is empty). */
  sendInit(ctx: StreamContext): void {
    if (ctx.formatKey === '' || this.formatKey === ctx.formatKey) return;
    this.sink.sendText(ctx.initText);
    this.formatKey = ctx.formatKey;
  }

  /** The stream went offline or its publisher changed: wait for the next keyframe, counting nothing. */
  restart(): void {
    this.started = false;
    this.skipping = Offer.Sent;
    this.allowance = 0;
  }

  /** `wire`: the frame as the stream had the transport encode it for all viewers, if it did. */
  offerVideo(frame: HubFrame, wire: Buffer | undefined, ctx: StreamContext, nowMs: number): Offer {
    if (this.closed) return Offer.Closed;
    const over = this.overBudget(ctx.budgetBytes, nowMs);
    if (over === Offer.Closed) return Offer.Closed;
    if (this.keyframesOnly && !this.wantsKeyframe(frame)) return this.started ? Offer.NotWanted : Offer.Waiting;

    if (!this.started || this.skipping !== Offer.Sent) {
      // Only a keyframe can (re)start the decoder, and only once the socket has drained.
      const reason = this.started ? this.skipping : Offer.Waiting;
      if (!frame.keyframe || over) return reason;
      // Restart only once the backlog from before the skip has drained (by the viewer's own acks):
      // restarting into a full kernel buffer would skip again ~LAG_LIMIT later, forever, showing
      // bursts of an old picture instead of catching up.
      if (this.started && this.acking && this.sentUs - this.ackedUs > this.lagLimitUs / 2) return reason;
      this.sendInit(ctx);
      this.started = true;
      this.skipping = Offer.Sent;
      // The skipped interval is not lag (nothing was in flight): measure again from here.
      this.ackedUs = frame.captureTimeUs;
      this.send(frame, wire);
      return Offer.Sent;
    }
    if (over) {
      this.skipping = Offer.Slow;
      return Offer.Slow;
    }
    // In flight: sent and not yet acknowledged, to the newest frame SENT (send() measures a pause
    // in the stream out of it): a viewer that is up to date is never skipped a GOP further because
    // the camera paused or the agent dropped frames up to a keyframe.
    if (this.acking && this.sentUs - this.ackedUs > this.lagLimitUs) {
      this.skipping = Offer.Lag;
      return Offer.Lag;
    }
    if (frame.keyframe) this.sendInit(ctx); // a new SPS mid-stream (format change)
    this.send(frame, wire);
    return Offer.Sent;
  }

  /** Audio needs no keyframe: sent whenever the viewer is playing and within its byte budget. */
  offerAudio(frame: HubFrame, wire: Buffer | undefined, ctx: StreamContext): Offer {
    if (this.closed) return Offer.Closed;
    if (!this.started) return Offer.Waiting;
    if (this.keyframesOnly) return Offer.NotWanted;
    if (this.sink.bufferedAmount > ctx.budgetBytes + this.allowance) return Offer.Slow;
    this.sink.sendBinary(frame.message, wire);
    return Offer.Sent;
  }

  /** `{type:'ack', sequence}`: the newest video frame the viewer has received. */
  ack(sequence: number): void {
    this.acking = true;
    // Newest first: an ack is nearly always for one of the last few frames sent.
    for (let i = 1; i <= this.ringCount; i++) {
      const slot = (this.ringNext - i + RING) % RING;
      if (this.ringSeq[slot] === sequence) {
        const us = this.ringUs[slot]!;
        if (us > this.ackedUs) this.ackedUs = us;
        if (i === 1) this.allAcked = true;
        return;
      }
    }
    // Unknown (older than the ring, or never sent): the previous reference stands, so a viewer
    // whose acks fell off the ring keeps looking late rather than being forgiven.
  }

  /**
   * `{type:'quality'}`. From keyframes only back to full rate, `gop` (the stream's cached GOP) fills
   * in at once what the viewer's decoder lacks: the frames after the newest one it was sent when that
   * one is in the GOP, else the whole GOP from its keyframe. Without a GOP to start from, the viewer
   * waits for the next keyframe (its decoder cannot take the frames after one it never got).
   */
  setQuality(quality: ViewerQuality, gop: readonly HubFrame[]): void {
    const wasKeyframesOnly = this.keyframesOnly;
    this.keyframesOnly = quality.keyframesOnly;
    this.minIntervalUs = quality.keyframesOnly ? quality.minIntervalMs * 1000 : 0;
    // Still waiting or skipping: the next keyframe starts it at the new rate anyway.
    if (this.closed || quality.keyframesOnly || !wasKeyframesOnly || !this.started || this.skipping !== Offer.Sent) return;
    if (gop.length === 0) {
      this.started = false;
      return;
    }
    const newest = this.ringCount > 0 ? this.ringSeq[(this.ringNext - 1 + RING) % RING] : undefined;
    const at = gop.findIndex((f) => f.sequence === newest);
    const rest = at >= 0 ? gop.slice(at + 1) : gop;
    let bytes = 0;
    for (const frame of rest) {
      const message = catchUpMessage(frame);
      this.sink.sendBinary(message);
      bytes += message.byteLength;
      this.remember(frame);
      if (frame.keyframe) this.keyframeUs = frame.captureTimeUs;
    }
    const last = rest[rest.length - 1];
    if (!last) return;
    // As for a joiner: the burst is delivered at once, not lag, and may exceed the budget while it drains.
    this.allowance += bytes;
    this.ackedUs = last.captureTimeUs;
    this.allAcked = false;
  }

  markClosed(): void {
    this.closed = true;
  }

  /** Keyframes only: a keyframe at least the interval (less the slack) after the previous one sent. */
  private wantsKeyframe(frame: HubFrame): boolean {
    return frame.keyframe && frame.captureTimeUs - this.keyframeUs >= this.minIntervalUs * INTERVAL_SLACK;
  }

  private send(frame: HubFrame, wire: Buffer | undefined): void {
    if (frame.keyframe) this.keyframeUs = frame.captureTimeUs;
    // Nothing in flight (every frame sent is acknowledged): the time since the last one was a
    // pause, not lag; measure from this frame.
    if (this.allAcked) this.ackedUs = frame.captureTimeUs;
    this.allAcked = false;
    this.sink.sendBinary(frame.message, wire);
    this.remember(frame);
  }

  private remember(frame: HubFrame): void {
    this.sentUs = frame.captureTimeUs;
    this.ringSeq[this.ringNext] = frame.sequence;
    this.ringUs[this.ringNext] = frame.captureTimeUs;
    this.ringNext = (this.ringNext + 1) % RING;
    if (this.ringCount < RING) this.ringCount++;
  }

  /** true/false for over budget; Closed once it has been over for too long. */
  private overBudget(budget: number, nowMs: number): boolean | typeof Offer.Closed {
    const buffered = this.sink.bufferedAmount;
    if (this.allowance > 0 && buffered <= budget) this.allowance = 0;
    if (buffered <= budget + this.allowance) {
      this.overBudgetSince = -1;
      return false;
    }
    if (this.overBudgetSince < 0) this.overBudgetSince = nowMs;
    else if (nowMs - this.overBudgetSince > this.overBudgetCloseMs) {
      this.closed = true;
      this.sink.close(CloseCode.TooSlow, 'viewer too slow');
      return Offer.Closed;
    }
    return true;
  }
}
