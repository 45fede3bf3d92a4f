import type { SocketLimitsConfig } from '../config.ts';
import { ApiError } from '../errors.ts';
import type { ViewerGrant } from '../services.ts';

/**
 * How many live sockets each holder may keep open, and how fast an address may open them: a
 * session, a user (across sessions), a share link and a client address each have a cap on viewer
 * sockets; an address has one on agent sockets; every upgrade from an address draws on a token
 * bucket. Checked in the upgrade handler before `handleUpgrade`, so a refused client never costs a
 * WebSocket. Counts change only on connect and close, never per frame.
 */

/** One admitted socket's place in the counts; `release` is idempotent. */
export interface SocketLease {
  release(): void;
}

/**
 * Sockets one device credential may hold open before `hello`: the agent and its `check` probe,
 * or a reconnect racing the old socket's close.
 */
const AGENT_SOCKETS_BEFORE_HELLO = 2;

/** Addresses whose bucket is full again are forgotten; this bounds the map under a spray. */
const MAX_TRACKED_ADDRESSES = 50_000;

export class SocketLimits {
  private readonly limits: SocketLimitsConfig;
  private readonly now: () => number;
  private readonly counts = new Map<string, number>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limits: SocketLimitsConfig, now: () => number = Date.now) {
    this.limits = limits;
    this.now = now;
  }

  /**
   * Draws one upgrade from the address' bucket (capacity and refill: upgradesPerMinute per minute).
   * Throws 429 rate_limited with the seconds until the next one is allowed.
   */
  takeUpgrade(address: string): void {
    const perMinute = this.limits.upgradesPerMinute;
    if (perMinute === 0) return;
    const now = this.now();
    const refillPerMs = perMinute / 60_000;
    let bucket = this.buckets.get(address);
    if (bucket) {
      bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * refillPerMs);
      bucket.at = now;
    } else {
      if (this.buckets.size >= MAX_TRACKED_ADDRESSES) this.forgetFullBuckets(now, refillPerMs, perMinute);
      bucket = { tokens: perMinute, at: now };
      this.buckets.set(address, bucket);
    }
    if (bucket.tokens < 1) {
      const wait = Math.ceil((1 - bucket.tokens) / refillPerMs / 1000);
      throw new ApiError(429, 'rate_limited', 'too many WebSocket connections from this address; retry later', wait);
    }
    bucket.tokens -= 1;
  }

  /** Throws 429 when the address already holds its share of viewer sockets (checked before auth). */
  checkViewerAddress(address: string): void {
    if (over(this.counts.get(`va:${address}`), this.limits.viewersPerAddress)) {
      throw new ApiError(429, 'too_many_viewers', 'too many live streams open from this address');
    }
  }

  /** Counts a viewer socket against its session or share, its user and its address; throws 429 when one is full. */
  admitViewer(grant: ViewerGrant, address: string): SocketLease {
    const keys: Array<[string, number, string]> = [[`va:${address}`, this.limits.viewersPerAddress, 'from this address']];
    if (grant.kind === 'share') keys.push([`sh:${grant.id}`, this.limits.viewersPerShare, 'through this link']);
    else keys.push([`se:${grant.id}`, this.limits.viewersPerSession, 'in this session']);
    if (grant.userId !== null) keys.push([`us:${grant.userId}`, this.limits.viewersPerUser, 'for this user']);
    for (const [key, limit, where] of keys) {
      if (over(this.counts.get(key), limit)) throw new ApiError(429, 'too_many_viewers', `too many live streams open ${where}`);
    }
    return this.lease(keys.map(([key]) => key));
  }

  /**
   * Counts an agent socket against its address (until it closes) and against its camera's
   * credential while it has not said hello (until `hello` or close): a stolen credential cannot
   * park sockets to pounce on the camera later. Throws 429 rate_limited when either is full.
   */
  admitAgent(address: string, cameraId: string): { socket: SocketLease; beforeHello: SocketLease } {
    const key = `aa:${address}`;
    if (over(this.counts.get(key), this.limits.agentsPerAddress)) {
      throw new ApiError(429, 'rate_limited', 'too many agent connections from this address');
    }
    const pending = `ap:${cameraId}`;
    if (over(this.counts.get(pending), AGENT_SOCKETS_BEFORE_HELLO)) {
      throw new ApiError(429, 'rate_limited', 'too many connections waiting for hello with this device credential');
    }
    return { socket: this.lease([key]), beforeHello: this.lease([pending]) };
  }

  private lease(keys: string[]): SocketLease {
    for (const key of keys) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const key of keys) {
          const left = (this.counts.get(key) ?? 1) - 1;
          if (left <= 0) this.counts.delete(key);
          else this.counts.set(key, left);
        }
      },
    };
  }

  private forgetFullBuckets(now: number, refillPerMs: number, capacity: number): void {
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * refillPerMs >= capacity) this.buckets.delete(address);
    }
    // Still full of fresh addresses: drop the oldest (Map keeps insertion order).
    for (const address of this.buckets.keys()) {
      if (this.buckets.size < MAX_TRACKED_ADDRESSES * 0.9) break;
      this.buckets.delete(address);
    }
  }
}

function over(count: number | undefined, limit: number): boolean {
  return limit > 0 && (count ?? 0) >= limit;
}
