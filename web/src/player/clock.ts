/**
 * A simple estimate of how far the agent's clock is from this browser's, for the latency figure.
 *
 * Capture times are stamped on the Pi; "now" is this browser's clock. With both on NTP the raw
 * difference is the latency. When they disagree it shows up as transit times (arrival - capture)
 * that are impossible: below zero (browser behind) or above a second for the fastest frame of the
 * last ~10 s (browser far ahead, or the Pi has no time sync). Only then is the minimum transit
 * taken as the offset; a plausible minimum is left alone, since it is real network delay.
 */
const WINDOW_MS = 10_000;
const IMPLAUSIBLE_MIN_TRANSIT_MS = 1_000;

export class ClockOffset {
  private currentMin = Number.POSITIVE_INFINITY;
  private previousMin = Number.POSITIVE_INFINITY;
  private windowStart = 0;

  /** One frame's arrival: capture time (agent clock, µs) and arrival (Date.now(), ms). */
  observe(captureTimeUs: number, arrivalEpochMs: number): void {
    if (arrivalEpochMs - this.windowStart > WINDOW_MS) {
      this.previousMin = this.currentMin;
      this.currentMin = Number.POSITIVE_INFINITY;
      this.windowStart = arrivalEpochMs;
    }
    const transit = arrivalEpochMs - captureTimeUs / 1000;
    if (transit < this.currentMin) this.currentMin = transit;
  }

  /** Milliseconds to subtract from (browser now - capture time); 0 when the clocks look in sync. */
  offsetMs(): number {
    const min = Math.min(this.currentMin, this.previousMin);
    if (!Number.isFinite(min)) return 0;
    return min < 0 || min > IMPLAUSIBLE_MIN_TRANSIT_MS ? min : 0;
  }

  /** Latency of a frame captured at captureTimeUs and shown at shownEpochMs. */
  latencyMs(captureTimeUs: number, shownEpochMs: number): number {
    return shownEpochMs - captureTimeUs / 1000 - this.offsetMs();
  }
}
