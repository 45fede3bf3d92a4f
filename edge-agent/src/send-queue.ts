import { Track } from '@picam/protocol';

/**
 * Admission control in front of `ws.send`. The socket's own buffer is the queue; this decides what
 * may enter it, measured by `ws.bufferedAmount` in bytes, so memory never grows with a slow uplink.
 *
 * Over the budget, a frame is dropped and so is every following video frame up to the next
 * keyframe: a P-frame whose reference was dropped would only smear the picture until then.
 * Audio frames are independent (every one counts as a "keyframe"), so audio drops one by one.
 * A new connection starts waiting for a keyframe too: a relay cannot start a stream mid-GOP.
 */
export class SendQueue {
  private readonly limitBytes: number;
  private readonly waitingForKeyframe = new Map<Track, boolean>();
  /** frames refused since start, all tracks */
  dropped = 0;

  constructor(limitBytes: number) {
    if (!(limitBytes > 0)) throw new RangeError(`send queue limit must be positive, got ${limitBytes}`);
    this.limitBytes = limitBytes;
  }

  /** True: send it now. False: it was counted as dropped. */
  admit(track: Track, keyframe: boolean, frameBytes: number, bufferedBytes: number): boolean {
    if (this.waitingForKeyframe.get(track) !== false && !keyframe) {
      this.dropped += 1;
      return false;
    }
    // An empty buffer always takes the frame: a keyframe larger than the whole budget must still
    // get through, or the stream would never resume.
    if (bufferedBytes > 0 && bufferedBytes + frameBytes > this.limitBytes) {
      this.waitingForKeyframe.set(track, true);
      this.dropped += 1;
      return false;
    }
    this.waitingForKeyframe.set(track, false);
    return true;
  }

  /** A gap is coming (new connection, frames lost upstream): wait for a keyframe on every track. */
  resync(): void {
    this.waitingForKeyframe.clear();
  }
}

export { Track };
