import { FrameFlag, type Track } from '@picam/protocol';

/**
 * A frame as the hub handles it: the agent's message itself (16-byte header + payload, already
 * validated), plus the header fields the hub needs, read once at ingest.
 */
export interface HubFrame {
  /**
   * Shared by every viewer and the GOP cache: never modified after Stream.publish() stamped it
   * (and, when it had the viewers' transport encode the frame, made it a view into that encoding).
   */
  message: Buffer;
  track: Track;
  keyframe: boolean;
  captureTimeUs: number;
  /** relay-side sequence number (set by the stream) */
  sequence: number;
  /** The catch-up copy for joiners, made on first need and dropped with the GOP. */
  catchUp?: Buffer;
}

/**
 * The viewers' transport, as the stream sees it: it can encode a message once for all of a camera's
 * viewers (for WebSocket: the frame header in front, ws/prepared-frames.ts), which pays for its
 * copy only from `minViewers` viewers up. The stream asks for it once per frame, after stamping.
 */
export interface FrameEncoder {
  readonly minViewers: number;
  /**
   * `message` as the transport sends it (`wire`), and `message` itself as a view into it (`payload`),
   * so whoever keeps the frame (the GOP cache) holds its bytes once.
   */
  encode(message: Buffer): EncodedFrame;
}

export interface EncodedFrame {
  wire: Buffer;
  payload: Buffer;
}

export const SEQUENCE_OFFSET = 4;
const FLAGS_OFFSET = 2;

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
