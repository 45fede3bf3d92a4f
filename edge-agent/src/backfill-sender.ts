import { Track, type BackfillDoneMessage, type BackfillMessage } from '@picam/protocol';
import { DelayGate, type BackfillPace } from './backfill-pace.ts';
import type { KeptFrames, RingFrame } from './backfill-ring.ts';
import type { Logger } from './logger.ts';

/** What the sender needs from the connection (Uplink implements it). */
export interface BackfillLink {
  /** bytes waiting in the socket */
  readonly queueBytes: number;
  /** false when there is no connection to send on */
  sendBackfillFrame(frame: RingFrame): boolean;
  sendBackfillDone(message: BackfillDoneMessage): void;
  /** a ping's round trip in ms (null: the connection closed first) */
  probeRttMs(): Promise<number | null>;
}

export interface BackfillSenderOptions {
  /** the ring, or the ring behind its spill on disk */
  ring: KeptFrames;
  link: BackfillLink;
  pace: BackfillPace;
  log: Logger;
  /** backfill waits while the socket holds more than this: live frames must not queue behind it */
  maxQueuedBytes: number;
  /** ... and while a ping's round trip is this much over the run's lowest (DelayGate) */
  delayTargetMs: number;
  now?: () => number;
}

interface Run {
  fromUs: number;
  toUs: number;
  /** capture time of the keyframe the run started on: audio captured before it is left out */
  startUs: number;
  nextId: number;
  frames: number;
  videoFrames: number;
  bytes: number;
  complete: boolean;
  startedAtMs: number;
  /** the first video frame at or after toUs went by: only audio of the range may follow */
  videoDone: boolean;
  /** time spent waiting for the socket or the path to drain (the pace's own waits not counted) */
  heldMs: number;
  heldSinceMs: number | null;
}

/** How often a waiting run looks at the socket again. */
const QUEUE_POLL_MS = 10;
/** How often a run measures the round trip. */
const PROBE_INTERVAL_MS = 50;

/**
 * Sends one backfill run at a time: the frames the relay asked for, read from the ring in capture
 * order, starting on the keyframe at or before `fromUs` and ending before `toUs` (the first live
 * keyframe the relay got: everything from it on went live), each flagged backfill, then
 * `backfill-done`. Paced (backfill-pace.ts) and only while the socket is nearly empty. A frame
 * the ring evicts before its turn ends the run's completeness, not the run: it goes on from the
 * oldest keyframe still held. A lost connection drops the run; the relay asks again.
 */
export class BackfillSender {
  private readonly options: BackfillSenderOptions;
  private readonly now: () => number;
  private run: Run | null = null;
  private timer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  /** null with a delay target of 0 (tuning): the socket's own buffer is the only signal then */
  private readonly gate: DelayGate | null;

  constructor(options: BackfillSenderOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.gate = options.delayTargetMs > 0 ? new DelayGate(options.delayTargetMs) : null;
  }

  get running(): boolean {
    return this.run !== null;
  }

  /** Note a live frame's size for the pace (called for every frame captured). */
  noteLive(bytes: number): void {
    this.options.pace.noteLive(bytes, this.now());
  }

  start(ask: BackfillMessage): void {
    this.cancel();
    const { ring, log } = this.options;
    const start = ring.runStart(ask.fromUs, ask.toUs);
    if (start === null) {
      log.warn({ fromUs: ask.fromUs, toUs: ask.toUs, oldestUs: ring.oldestUs }, 'backfill asked for frames no longer held');
      this.options.link.sendBackfillDone({ type: 'backfill-done', fromUs: ask.fromUs, toUs: ask.toUs, frames: 0, complete: false });
      return;
    }
    this.run = {
      fromUs: ask.fromUs,
      toUs: ask.toUs,
      startUs: start.captureTimeUs,
      nextId: start.id,
      frames: 0,
      videoFrames: 0,
      bytes: 0,
      complete: start.complete,
      startedAtMs: this.now(),
      videoDone: false,
      heldMs: 0,
      heldSinceMs: null,
    };
    this.gate?.reset();
    this.probe(this.run);
    log.info(
      { fromUs: ask.fromUs, toUs: ask.toUs, startUs: start.captureTimeUs, seconds: (ask.toUs - start.captureTimeUs) / 1e6, complete: start.complete },
      'backfill started',
    );
    this.pump();
  }

  /** The connection is gone: the run ends without a word (the relay ends its side on the close). */
  cancel(): void {
    clearTimeout(this.timer);
    clearTimeout(this.probeTimer);
    this.timer = undefined;
    if (this.run !== null) this.options.log.info({ frames: this.run.frames }, 'backfill cancelled');
    this.run = null;
  }

  private pump(): void {
    this.timer = undefined;
    const { ring, link, pace, maxQueuedBytes } = this.options;
    for (;;) {
      const run = this.run;
      if (run === null) return;
      if (run.nextId < ring.oldestId) {
        // Evicted before its turn (a long run on a small ring): carry on from what is left.
        run.complete = false;
        run.nextId = ring.oldestId;
      }
      const frame = ring.get(run.nextId);
      if (frame === undefined) {
        this.finish(run);
        return;
      }
      if (frame.captureTimeUs >= run.toUs) {
        // Audio is kept when read, a little after its capture time: past the video's end a few
        // audio frames of the range may still follow. The first audio frame past it ends the run.
        if (frame.track === Track.Video) run.videoDone = true;
        else {
          this.finish(run);
          return;
        }
        run.nextId += 1;
        continue;
      }
      if (frame.captureTimeUs < run.startUs || (run.videoDone && frame.track === Track.Video)) {
        run.nextId += 1;
        continue;
      }
      const now = this.now();
      if (link.queueBytes > maxQueuedBytes || this.gate?.holding(now) === true) {
        if (run.heldSinceMs === null) run.heldSinceMs = now;
        this.timer = setTimeout(() => this.pump(), QUEUE_POLL_MS);
        return;
      }
      if (run.heldSinceMs !== null) {
        run.heldMs += now - run.heldSinceMs;
        run.heldSinceMs = null;
      }
      const waitMs = pace.waitMs(frame.data.byteLength, now);
      if (waitMs > 0) {
        this.timer = setTimeout(() => this.pump(), waitMs);
        return;
      }
      if (!link.sendBackfillFrame(frame)) {
        this.cancel();
        return;
      }
      pace.take(frame.data.byteLength, now);
      run.frames += 1;
      if (frame.track === Track.Video) run.videoFrames += 1;
      run.bytes += frame.data.byteLength;
      run.nextId += 1;
    }
  }

  /** One round-trip probe now, the next PROBE_INTERVAL_MS after its answer, while the run lasts. */
  private probe(run: Run): void {
    const gate = this.gate;
    if (this.run !== run || gate === null) return;
    gate.probeSent(this.now());
    void this.options.link.probeRttMs().then((rttMs) => {
      if (this.run !== run || rttMs === null) return;
      gate.probeAnswered(rttMs);
      this.probeTimer = setTimeout(() => this.probe(run), PROBE_INTERVAL_MS);
    });
  }

  private finish(run: Run): void {
    this.run = null;
    clearTimeout(this.probeTimer);
    const seconds = (this.now() - run.startedAtMs) / 1000;
    this.options.log.info(
      {
        frames: run.frames,
        videoFrames: run.videoFrames,
        bytes: run.bytes,
        complete: run.complete,
        seconds: Number(seconds.toFixed(2)),
        heldSeconds: Number((run.heldMs / 1000).toFixed(2)),
      },
      'backfill done',
    );
    this.options.link.sendBackfillDone({ type: 'backfill-done', fromUs: run.fromUs, toUs: run.toUs, frames: run.frames, complete: run.complete });
  }
}
