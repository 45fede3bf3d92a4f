/**
 * How fast backfill may go: a token bucket refilled at a multiple of the camera's live byte rate
 * (measured over the last few seconds of captured frames), with a floor so a run still moves
 * when the camera is quiet. Live video shares the socket: bytes sent at a bounded multiple of
 * its rate leave the uplink's headroom to it, and the sender also waits while the socket holds
 * more than a few frames (backfill-sender.ts), so a slow uplink slows backfill, not live video.
 */

export interface PaceOptions {
  /** backfill bytes per second as a multiple of the live bytes per second */
  multiple: number;
  /** the rate never drops below this (bytes per second) */
  minBytesPerSecond: number;
  /** the bucket holds this much time at the current rate: short bursts, no big ones */
  burstMs?: number;
  /** how far back the live rate is measured */
  windowMs?: number;
}

interface Sample {
  atMs: number;
  bytes: number;
}

export class BackfillPace {
  private readonly multiple: number;
  private readonly minBytesPerSecond: number;
  private readonly burstMs: number;
  private readonly windowMs: number;
  private samples: Sample[] = [];
  private first = 0;
  private windowBytes = 0;
  private tokens = 0;
  private refilledAtMs: number | null = null;

  constructor(options: PaceOptions) {
    if (!(options.multiple > 0)) throw new RangeError(`backfill rate multiple must be positive, got ${options.multiple}`);
    if (!(options.minBytesPerSecond > 0)) throw new RangeError(`backfill minimum rate must be positive, got ${options.minBytesPerSecond}`);
    this.multiple = options.multiple;
    this.minBytesPerSecond = options.minBytesPerSecond;
    this.burstMs = options.burstMs ?? 100;
    this.windowMs = options.windowMs ?? 5_000;
  }

  /** One live frame captured (both tracks count: they share the uplink). */
  noteLive(bytes: number, nowMs: number): void {
    this.samples.push({ atMs: nowMs, bytes });
    this.windowBytes += bytes;
    this.trim(nowMs);
  }

  /** Live bytes per second over the window (0 before anything was captured). */
  liveBytesPerSecond(nowMs: number): number {
    this.trim(nowMs);
    return (this.windowBytes * 1000) / this.windowMs;
  }

  /** What backfill may send per second right now. */
  bytesPerSecond(nowMs: number): number {
    return Math.max(this.minBytesPerSecond, this.multiple * this.liveBytesPerSecond(nowMs));
  }

  /**
   * Milliseconds until `bytes` may be sent (0: now). A frame bigger than the bucket goes when the
   * bucket is full, and the debt is paid before the next one: the average rate holds either way.
   */
  waitMs(bytes: number, nowMs: number): number {
    const rate = this.refill(nowMs);
    const needed = Math.min(bytes, this.capacity(rate));
    if (this.tokens >= needed) return 0;
    return Math.ceil(((needed - this.tokens) * 1000) / rate);
  }

  /** `bytes` were sent. */
  take(bytes: number, nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= bytes;
  }

  private capacity(rate: number): number {
    return (rate * this.burstMs) / 1000;
  }

  private refill(nowMs: number): number {
    const rate = this.bytesPerSecond(nowMs);
    if (this.refilledAtMs === null) {
      // A run starts with a full bucket.
      this.tokens = this.capacity(rate);
    } else {
      this.tokens = Math.min(this.capacity(rate), this.tokens + ((nowMs - this.refilledAtMs) * rate) / 1000);
    }
    this.refilledAtMs = nowMs;
    return rate;
  }

  private trim(nowMs: number): void {
    const oldest = nowMs - this.windowMs;
    while (this.first < this.samples.length && this.samples[this.first]!.atMs <= oldest) {
      this.windowBytes -= this.samples[this.first]!.bytes;
      this.first += 1;
    }
    // Drop the consumed head now and then rather than shifting on every frame.
    if (this.first > 1024 && this.first * 2 > this.samples.length) {
      this.samples = this.samples.slice(this.first);
      this.first = 0;
    }
  }
}

/**
 * Delay-based yielding, for the uplink whose bottleneck is past the socket (Wi-Fi, a DSL modem's
 * buffer): there the bytes queue where bufferedAmount cannot see them, and a rate that does not
 * fit beside the live video would delay it by seconds. A ping's round trip waits behind all of it,
 * so the sender probes every ~50 ms and holds backfill while the round trip is more than
 * `targetMs` over the lowest one seen in the run (the path's own delay), or while a probe is
 * out for that long. The same idea as LEDBAT (RFC 6817), at the granularity of frames.
 */
export class DelayGate {
  private readonly targetMs: number;
  private baseMs = Number.POSITIVE_INFINITY;
  private latestMs: number | null = null;
  private probeSentAtMs: number | null = null;

  constructor(targetMs: number) {
    if (!(targetMs > 0)) throw new RangeError(`backfill delay target must be positive, got ${targetMs}`);
    this.targetMs = targetMs;
  }

  /** A new run (maybe on a new connection, another path): nothing known yet. */
  reset(): void {
    this.baseMs = Number.POSITIVE_INFINITY;
    this.latestMs = null;
    this.probeSentAtMs = null;
  }

  probeSent(nowMs: number): void {
    this.probeSentAtMs = nowMs;
  }

  probeAnswered(rttMs: number): void {
    this.probeSentAtMs = null;
    this.latestMs = rttMs;
    this.baseMs = Math.min(this.baseMs, rttMs);
  }

  /** Round trip over the base, in ms, as last measured (null before the first answer). */
  get queueingMs(): number | null {
    return this.latestMs === null ? null : this.latestMs - this.baseMs;
  }

  /** True: hold backfill for now (no round trip measured yet, or the path is queueing). */
  holding(nowMs: number): boolean {
    if (this.latestMs === null) return true;
    const limit = this.baseMs + this.targetMs;
    if (this.probeSentAtMs !== null && nowMs - this.probeSentAtMs > limit) return true;
    return this.latestMs > limit;
  }
}
