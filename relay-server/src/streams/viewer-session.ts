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
export const Offer = { Sent: 0, Waiting: 1, Slow: 2, Lag: 3, Closed: 4 } as const;
export type Offer = (typeof Offer)[keyof typeof Offer];

export const LAG_LIMIT_US = 500_000;
export const OVER_BUDGET_CLOSE_MS = 20_000;
/** Sent video frames remembered for ack lookups: several seconds at any sane frame rate. */
const RING = 256;

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

  private readonly lagLimitUs: number;
  private readonly overBudgetCloseMs: number;

  constructor(sink: ViewerSink, limits: ViewerLimits = {}) {
    this.sink = sink;
    this.lagLimitUs = limits.lagLimitUs ?? LAG_LIMIT_US;
    this.overBudgetCloseMs = limits.overBudgetCloseMs ?? OVER_BUDGET_CLOSE_MS;
  }

  /** Join with the current GOP (and audio tail): init, then every frame flagged catch-up, at once. */
  startWithCatchUp(ctx: StreamContext, frames: readonly HubFrame[]): void {
    this.sendInit(ctx);
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

  markClosed(): void {
    this.closed = true;
  }

  private send(frame: HubFrame, wire: Buffer | undefined): void {
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
