/**
 * Bitrate and frame rate over the last few seconds, in whole-second buckets: O(1) per frame and a
 * fixed few numbers of memory, against a timestamp list that would grow with the frame rate.
 * The current (incomplete) second is left out so a reading never dips at the start of a second.
 */
export class StreamRates {
  private readonly seconds: number;
  private readonly bytes: Float64Array;
  private readonly frames: Float64Array;
  private currentSecond = -1;

  constructor(windowSeconds = 5) {
    this.seconds = windowSeconds;
    this.bytes = new Float64Array(windowSeconds + 1);
    this.frames = new Float64Array(windowSeconds + 1);
  }

  /** Returns true when a new second began (callers refresh values derived from the rates). */
  add(byteCount: number, countFrame: boolean, nowMs: number): boolean {
    const rolled = this.roll(Math.floor(nowMs / 1000));
    const slot = this.currentSecond % this.bytes.length;
    this.bytes[slot]! += byteCount;
    if (countFrame) this.frames[slot]! += 1;
    return rolled;
  }

  /** bits per second and frames per second over the completed seconds of the window */
  rates(nowMs: number): { bitrate: number; framerate: number } {
    this.roll(Math.floor(nowMs / 1000));
    let bytes = 0;
    let frames = 0;
    const current = this.currentSecond % this.bytes.length;
    for (let i = 0; i < this.bytes.length; i++) {
      if (i === current) continue;
      bytes += this.bytes[i]!;
      frames += this.frames[i]!;
    }
    return { bitrate: Math.round((bytes * 8) / this.seconds), framerate: Math.round((frames / this.seconds) * 100) / 100 };
  }

  reset(): void {
    this.bytes.fill(0);
    this.frames.fill(0);
  }

  private roll(second: number): boolean {
    if (second === this.currentSecond) return false;
    // Clear every bucket between the last second seen and this one (all of them after a long pause).
    const gap = this.currentSecond < 0 ? this.bytes.length : Math.min(second - this.currentSecond, this.bytes.length);
    for (let i = 1; i <= gap; i++) {
      const slot = (second - gap + i) % this.bytes.length;
      this.bytes[slot] = 0;
      this.frames[slot] = 0;
    }
    this.currentSecond = second;
    return true;
  }
}
