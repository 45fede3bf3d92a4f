import { isIPv4, isIPv6 } from 'node:net';

/**
 * In-memory sliding-window limiter: each key keeps the times of its last `limit` events, so
 * "N events in the last W ms" is exact and memory per key is bounded. Checked BEFORE any scrypt
 * work, so a password-guessing flood costs the relay a map lookup, not a hash.
 * One process only: several relays would need a shared store.
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

/**
 * The key a client address is counted under by the login limits. An IPv4 address is itself; an
 * IPv6 address is its /64, because one subscriber (one home, one VM) is routed a whole /64 and can
 * pick a fresh address from it for every request. IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a
 * dual-stack listener reports) is the IPv4 address. Anything else (a unix socket, 'unknown') is
 * kept as it is, lower-cased.
 */
export function addressKey(address: string): string {
  const a = address.trim().toLowerCase().replace(/%.*$/, ''); // drop an IPv6 zone id (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(a)) return a;
  if (!isIPv6(a)) return a;
  const groups = expandIPv6(a);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, without leading zeros. */
function expandIPv6(a: string): string[] {
  let text = a;
  // An embedded IPv4 tail (::1.2.3.4) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16).toString(16));
}
