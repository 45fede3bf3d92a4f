import { describeAccessUnit, parseSps, sameBytes, videoFormatOfSps, type VideoFormat } from '@picam/protocol';

/**
 * The stream's format (codec string, size, frame rate) as the camera actually encodes it, read
 * from the SPS that `--inline` puts in front of every keyframe. Only keyframes are looked at, and
 * the SPS is parsed again only when its bytes change (a restart with new settings).
 */
export class VideoFormatTracker {
  private lastSps: Uint8Array | null = null;
  current: VideoFormat | null = null;

  /** Returns the new format when this keyframe changed it, else null. */
  update(accessUnit: Uint8Array, fallbackFramerate: number): VideoFormat | null {
    const sps = describeAccessUnit(accessUnit).sps;
    if (sps === undefined || (this.lastSps !== null && sameBytes(sps, this.lastSps))) return null;
    this.lastSps = sps.slice();
    try {
      this.current = { framerate: fallbackFramerate, ...videoFormatOfSps(parseSps(sps)) };
      return this.current;
    } catch {
      // An SPS we cannot parse still streams; the relay reads the stream too.
      return null;
    }
  }
}
