/**
 * Exponential backoff with jitter, shared by the uplink (reconnects) and the camera supervisor
 * (restarts). Jitter matters for the uplink: when a relay restarts, every agent it served would
 * otherwise reconnect in the same millisecond, again and again.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** growth per failed attempt */
  factor?: number;
  /** 0..1: the share of each delay that is randomised away (0.5 -> between 50 % and 100 %) */
  jitter?: number;
  /** injectable for tests */
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private failures = 0;

  constructor(options: BackoffOptions) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${options.initialMs} and ${options.maxMs}`);
    }
    const jitter = options.jitter ?? 0.5;
    if (jitter < 0 || jitter > 1) throw new RangeError(`backoff jitter must be within 0..1, got ${jitter}`);
    this.initialMs = options.initialMs;
    this.maxMs = options.maxMs;
    this.factor = options.factor ?? 2;
    this.jitter = jitter;
    this.random = options.random ?? Math.random;
  }

  /** How many delays have been handed out since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** The delay before the next attempt; each call counts as one more failure. */
  next(): number {
    // Cap the exponent, not only the result: factor ** 1000 is Infinity, and Infinity * 0 is NaN.
    const exponent = Math.min(this.failures, 64);
    this.failures += 1;
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** exponent);
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  reset(): void {
    this.failures = 0;
  }
}
