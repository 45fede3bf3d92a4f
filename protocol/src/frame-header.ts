import { ProtocolError } from './errors.ts';

/**
 * The 16-byte binary frame header shared by both hops (agent -> relay, relay -> viewer).
 *
 * offset size field
 *   0     1   version = 1
 *   1     1   track: 1 video, 2 audio
 *   2     1   flags: bit0 keyframe, bit1 catch-up (replayed from the GOP cache),
 *               bit2 backfill (agent -> relay only: captured while the link was down, sent when
 *               the relay asked for it; it goes to the recording, never to a viewer)
 *   3     1   reserved, 0
 *   4     4   sequence number per track, wraps at 2^32
 *   8     8   capture time, microseconds since the Unix epoch (agent clock)
 *  16     n   payload
 * Integers are big-endian. Only DataView/Uint8Array are used so the browser imports this file too.
 */
export const FRAME_HEADER_BYTES = 16;
export const PROTOCOL_VERSION = 1;

export const Track = { Video: 1, Audio: 2 } as const;
export type Track = (typeof Track)[keyof typeof Track];

export const FrameFlag = { Keyframe: 0b001, CatchUp: 0b010, Backfill: 0b100 } as const;
const KNOWN_FLAGS = FrameFlag.Keyframe | FrameFlag.CatchUp | FrameFlag.Backfill;
/** The largest high 32 bits of a capture time that is still an exact JavaScript number (< 2^53). */
const MAX_SAFE_TIME_HIGH = 2 ** 21 - 1;

export interface FrameHeader {
  track: Track;
  keyframe: boolean;
  catchUp: boolean;
  /** An earlier frame the agent kept while its link was down, sent because the relay asked for it. */
  backfill: boolean;
  /** 0 .. 2^32-1, per track. */
  sequence: number;
  /** Microseconds since the Unix epoch. A double holds these exactly until the year 2255. */
  captureTimeUs: number;
}

/** What a writer gives: `backfill` may be left out (a live frame). */
export type FrameHeaderInit = Omit<FrameHeader, 'backfill'> & { backfill?: boolean };

export interface DecodedFrame {
  header: FrameHeader;
  /** A view into the message: no copy. */
  payload: Uint8Array;
}

/** Writes the header into the first 16 bytes of `target`. */
export function writeFrameHeader(target: Uint8Array, header: FrameHeaderInit): void {
  if (target.byteLength < FRAME_HEADER_BYTES) {
    throw new ProtocolError('ERR_FRAME_TOO_SHORT', `header needs ${FRAME_HEADER_BYTES} bytes, got ${target.byteLength}`);
  }
  const view = new DataView(target.buffer, target.byteOffset, FRAME_HEADER_BYTES);
  view.setUint8(0, PROTOCOL_VERSION);
  view.setUint8(1, header.track);
  view.setUint8(
    2,
    (header.keyframe ? FrameFlag.Keyframe : 0) | (header.catchUp ? FrameFlag.CatchUp : 0) | (header.backfill === true ? FrameFlag.Backfill : 0),
  );
  view.setUint8(3, 0);
  view.setUint32(4, header.sequence >>> 0);
  const captureTimeUs = Math.max(0, Math.trunc(header.captureTimeUs));
  view.setUint32(8, Math.floor(captureTimeUs / 2 ** 32));
  view.setUint32(12, captureTimeUs % 2 ** 32);
}

/** Header + payload in one new buffer (one copy of the payload, made once per frame). */
export function encodeFrame(header: FrameHeaderInit, payload: Uint8Array): Uint8Array {
  const message = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrameHeader(message, header);
  message.set(payload, FRAME_HEADER_BYTES);
  return message;
}

/** Reads the header without validating the payload. Throws ProtocolError on a malformed header. */
export function readFrameHeader(message: Uint8Array): FrameHeader {
  if (message.byteLength < FRAME_HEADER_BYTES) {
    throw new ProtocolError('ERR_FRAME_TOO_SHORT', `frame has ${message.byteLength} bytes, the header alone is ${FRAME_HEADER_BYTES}`);
  }
  const view = new DataView(message.buffer, message.byteOffset, FRAME_HEADER_BYTES);
  const version = view.getUint8(0);
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError('ERR_FRAME_VERSION', `unsupported frame version ${version} (expected ${PROTOCOL_VERSION})`);
  }
  const track = view.getUint8(1);
  if (track !== Track.Video && track !== Track.Audio) {
    throw new ProtocolError('ERR_FRAME_TRACK', `unknown track ${track}`);
  }
  const flags = view.getUint8(2);
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new ProtocolError('ERR_FRAME_FLAGS', `unknown flag bits 0x${flags.toString(16)}`);
  }
  if (view.getUint8(3) !== 0) {
    throw new ProtocolError('ERR_FRAME_RESERVED', 'reserved byte must be 0');
  }
  // Read as two halves: no BigInt per frame, and a time past 2^53 µs (year 2255) is refused rather
  // than rounded, which would reorder frames silently.
  const timeHigh = view.getUint32(8);
  if (timeHigh > MAX_SAFE_TIME_HIGH) {
    throw new ProtocolError('ERR_FRAME_TIME', `capture time above 2^53 microseconds (high word 0x${timeHigh.toString(16)})`);
  }
  return {
    track,
    keyframe: (flags & FrameFlag.Keyframe) !== 0,
    catchUp: (flags & FrameFlag.CatchUp) !== 0,
    backfill: (flags & FrameFlag.Backfill) !== 0,
    sequence: view.getUint32(4),
    captureTimeUs: timeHigh * 2 ** 32 + view.getUint32(12),
  };
}

/**
 * Validates and splits a binary message. `maxPayloadBytes` guards the receiver; an empty payload
 * is refused (no track carries empty frames).
 */
export function decodeFrame(message: Uint8Array, maxPayloadBytes = Number.POSITIVE_INFINITY): DecodedFrame {
  const header = readFrameHeader(message);
  const payloadBytes = message.byteLength - FRAME_HEADER_BYTES;
  if (payloadBytes === 0) throw new ProtocolError('ERR_FRAME_EMPTY', 'frame has no payload');
  if (payloadBytes > maxPayloadBytes) {
    throw new ProtocolError('ERR_FRAME_TOO_LARGE', `payload of ${payloadBytes} bytes exceeds the ${maxPayloadBytes}-byte cap`);
  }
  return { header, payload: message.subarray(FRAME_HEADER_BYTES) };
}

/** Sets or clears the catch-up flag in place (the relay builds one catch-up copy per cached frame). */
export function setCatchUpFlag(message: Uint8Array, catchUp: boolean): void {
  const flags = message[2] ?? 0;
  message[2] = catchUp ? flags | FrameFlag.CatchUp : flags & ~FrameFlag.CatchUp;
}

/** Sequence numbers wrap at 2^32: the distance from `from` forward to `to`. */
export function sequenceDistance(from: number, to: number): number {
  return (to - from) >>> 0;
}
