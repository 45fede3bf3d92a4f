import type { HubFrame } from './frame.ts';

export const DEFAULT_GOP_CACHE_BYTES = 12 * 1024 * 1024;

/**
 * The video frames since the last keyframe, so a joining viewer gets a picture at once instead of
 * waiting up to a whole keyframe interval. Bounded in bytes: a camera with a very long interval (or
 * a huge bitrate) overflows it, and then the cache is dropped until the next keyframe, when joiners
 * simply wait (counted as reason="cache"). Catch-up copies live in the frames and go with them.
 */
export class GopCache {
  private frames: HubFrame[] = [];
  private bytes = 0;
  private valid = false;
  private readonly maxBytes: number;

  constructor(maxBytes = DEFAULT_GOP_CACHE_BYTES) {
    this.maxBytes = maxBytes;
  }

  /** Returns false when the frame could not be cached (no keyframe yet, or over the cap). */
  add(frame: HubFrame): boolean {
    if (frame.keyframe) {
      // A fresh array rather than length = 0: a joiner still iterating the old GOP keeps its snapshot.
      this.frames = [];
      this.bytes = 0;
      this.valid = true;
    }
    if (!this.valid) return false;
    if (this.bytes + frame.message.byteLength > this.maxBytes) {
      this.clear();
      return false;
    }
    this.frames.push(frame);
    this.bytes += frame.message.byteLength;
    return true;
  }

  /** The cached frames, starting with a keyframe; empty when the cache cannot start a decoder. */
  current(): readonly HubFrame[] {
    return this.valid ? this.frames : [];
  }

  clear(): void {
    this.frames = [];
    this.bytes = 0;
    this.valid = false;
  }
}
