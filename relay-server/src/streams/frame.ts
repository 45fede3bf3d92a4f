import { FrameFlag, type Track } from '@picam/protocol';

/**
 * A frame as the hub handles it: the agent's message itself (16-byte header + payload, already
 * validated), plus the header fields the hub needs, read once at ingest.
 */
export interface HubFrame {
  /** Shared by every viewer and the GOP cache: never modified after publish() re-stamped it. */
  message: Buffer;
  track: Track;
  keyframe: boolean;
  captureTimeUs: number;
  /** relay-side sequence number (set by the stream) */
  sequence: number;
  /**
   * The whole message as the viewers' transport sends it (its framing in front of `message`, which
   * is then a view into it), built once at ingest so fan-out writes the same bytes to every viewer.
   * Optional: a transport that frames per send leaves it out.
   */
  wire?: Buffer;
  /** The catch-up copy for joiners, made on first need and dropped with the GOP. */
  catchUp?: Buffer;
}

export const SEQUENCE_OFFSET = 4;
export const FLAGS_OFFSET = 2;

/**
 * One copy of the frame with the catch-up flag set, made once and shared by every joiner: the live
 * message must stay unflagged for the viewers already watching, so it cannot be flagged in place.
 */
export function catchUpMessage(frame: HubFrame): Buffer {
  if (!frame.catchUp) {
    const copy = Buffer.allocUnsafe(frame.message.byteLength);
    frame.message.copy(copy);
    copy[FLAGS_OFFSET] = (copy[FLAGS_OFFSET] ?? 0) | FrameFlag.CatchUp;
    frame.catchUp = copy;
  }
  return frame.catchUp;
}
