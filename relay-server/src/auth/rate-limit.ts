/**
 * In-memory sliding-window limiter: each key keeps the times of its last `limit` events, so
 * "N events in the last W ms" is exact and memory per key is bounded. Checked BEFORE any scrypt
 * work, so a password-guessing flood costs the relay a map lookup, not a hash.
 * One process only; several relays would move this to a shared store (DESIGN.md "Later").
 */
export interface RateLimiter {
  /** undefined when allowed, else seconds until the next event would be allowed */
  blockedFor(key: string): number | undefined;
  record(key: string): void;
  /** takes back the newest event of `key` (an attempt counted on admission that turned out fine) */
  refund(key: string): void;
  /** events of `key` in the window (at most `limit`) */
  count(key: string): number;
  reset(key: string): void;
}

export interface RateLimiterOptions {
  limit: number;
  windowMs: number;
  now: () => number;
  /** keys remembered at most; the oldest are forgotten first (bounds memory under a spray) */
  maxKeys?: number;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { limit, windowMs, now } = options;
  const maxKeys = options.maxKeys ?? 50_000;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('rate limit must be a positive integer');
  if (!(windowMs > 0)) throw new RangeError('rate limit window must be positive');
  const events = new Map<string, number[]>();

  function recent(key: string, at: number): number[] {
    const list = (events.get(key) ?? []).filter((t) => t > at - windowMs);
    if (list.length === 0) events.delete(key);
    return list;
  }

  return {
    blockedFor(key) {
      const at = now();
      const list = recent(key, at);
      if (list.length < limit) return undefined;
      const oldest = list[list.length - limit] ?? at;
      return Math.max(1, Math.ceil((oldest + windowMs - at) / 1000));
    },
    record(key) {
      const at = now();
      const list = recent(key, at);
      list.push(at);
      if (list.length > limit) list.splice(0, list.length - limit);
      events.delete(key); // re-insert so Map order is least-recently-used first
      events.set(key, list);
      if (events.size > maxKeys) {
        const oldestKey = events.keys().next().value;
        if (oldestKey !== undefined) events.delete(oldestKey);
      }
    },
    refund(key) {
      const list = events.get(key);
      list?.pop();
      if (list?.length === 0) events.delete(key);
    },
    count(key) {
      return recent(key, now()).length;
    },
    reset(key) {
      events.delete(key);
    },
  };
}
