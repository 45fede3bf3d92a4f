/**
 * A latency histogram in 0.05 ms buckets up to 2 s (then one overflow bucket): mergeable across
 * receiver processes, exact enough for p50/p99 at the sub-millisecond figures the targets name.
 */

const BUCKET_MS = 0.05;
const BUCKETS = 40_000;

export interface HistogramData {
  /** sparse [bucket, count] pairs */
  counts: Array<[number, number]>;
  total: number;
  max: number;
}

export class Histogram {
  private counts = new Uint32Array(BUCKETS + 1);
  total = 0;
  max = Number.NEGATIVE_INFINITY;

  add(ms: number): void {
    const bucket = Math.min(BUCKETS, Math.max(0, Math.floor(ms / BUCKET_MS)));
    this.counts[bucket]!++;
    this.total++;
    if (ms > this.max) this.max = ms;
  }

  merge(data: HistogramData): void {
    for (const [bucket, count] of data.counts) this.counts[bucket]! += count;
    this.total += data.total;
    if (data.max > this.max) this.max = data.max;
  }

  /** The upper edge of the bucket holding quantile q (0..1); NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === BUCKETS ? this.max : (i + 1) * BUCKET_MS;
    }
    return this.max;
  }

  toJSON(): HistogramData {
    const counts: Array<[number, number]> = [];
    this.counts.forEach((c, i) => {
      if (c > 0) counts.push([i, c]);
    });
    return { counts, total: this.total, max: this.max };
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.max = Number.NEGATIVE_INFINITY;
  }
}

/** Exact quantile of a small sample (sorted copy). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Microseconds since the Unix epoch with sub-millisecond precision (Date.now() is whole ms). */
export function epochMicrosNow(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
