/**
 * Capture timestamps, in microseconds since the Unix epoch. Raw H.264 on a pipe carries no
 * timestamps, so the agent stamps each frame when its bytes are read.
 *
 * `performance.now()` gives sub-millisecond resolution and never steps backwards; the wall clock
 * anchors it to the epoch. A Pi without a real-time clock boots with a wrong time and NTP steps it
 * later, so the anchor follows the wall clock when the two drift apart by more than a second.
 * Stamps are strictly increasing within one clock, whatever the wall clock does.
 */
export class CaptureClock {
  /** epoch ms at performance.now() == 0: sub-millisecond precise, unlike Date.now() */
  private anchorMs = performance.timeOrigin;
  private lastUs = 0;

  /** the wall clock is compared at most once a second: reading it per pipe read showed in profiles */
  private nextWallCheckMs = 0;

  nowUs(): number {
    const monotonicMs = performance.now();
    if (monotonicMs >= this.nextWallCheckMs) {
      this.nextWallCheckMs = monotonicMs + 1000;
      const wallMs = Date.now();
      if (Math.abs(wallMs - (this.anchorMs + monotonicMs)) > 1000) this.anchorMs = wallMs - monotonicMs;
    }
    const us = Math.round((this.anchorMs + monotonicMs) * 1000);
    this.lastUs = us > this.lastUs ? us : this.lastUs + 1;
    return this.lastUs;
  }
}
