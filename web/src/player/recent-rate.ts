/** Events per second over the last second, in two half-second buckets (cheap, no arrays). */
const BUCKET_MS = 500;

export class RecentRate {
  private current = 0;
  private previous = 0;
  private bucketStart = performance.now();

  add(amount: number): void {
    this.roll();
    this.current += amount;
  }

  perSecond(): number {
    this.roll();
    const elapsed = performance.now() - this.bucketStart;
    const span = BUCKET_MS + elapsed;
    return span > 0 ? ((this.previous + this.current) * 1000) / span : 0;
  }

  private roll(): void {
    const now = performance.now();
    const buckets = Math.floor((now - this.bucketStart) / BUCKET_MS);
    if (buckets <= 0) return;
    this.previous = buckets === 1 ? this.current : 0;
    this.current = 0;
    this.bucketStart += buckets * BUCKET_MS;
  }
}
