import type { ProtocolErrorCode } from './errors.ts';

/**
 * WebSocket close codes used on both hops, and how a failure maps to one, in one place
 * (docs/ARCHITECTURE.md "Wire format"). An error carries its close code from where it is thrown
 * (ProtocolError.closeCode, from the table below), so a connection closes with `err.closeCode`
 * instead of matching on error types.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  InvalidData: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  Unauthenticated: 4001,
  Forbidden: 4003,
  NoSuchCamera: 4004,
  LinkExpired: 4008,
  Replaced: 4009,
  TooSlow: 4010,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The close code for each ProtocolError code; a Record, so a new code cannot go unmapped. */
export const PROTOCOL_ERROR_CLOSE_CODES: Readonly<Record<ProtocolErrorCode, CloseCode>> = {
  ERR_FRAME_TOO_LARGE: CloseCode.MessageTooBig,
  ERR_ACCESS_UNIT_TOO_LARGE: CloseCode.MessageTooBig,
  // Well-formed but a version this peer does not speak: a policy matter, not corrupt data.
  ERR_FRAME_VERSION: CloseCode.PolicyViolation,
  ERR_FRAME_TOO_SHORT: CloseCode.InvalidData,
  ERR_FRAME_TRACK: CloseCode.InvalidData,
  ERR_FRAME_FLAGS: CloseCode.InvalidData,
  ERR_FRAME_RESERVED: CloseCode.InvalidData,
  ERR_FRAME_TIME: CloseCode.InvalidData,
  ERR_FRAME_EMPTY: CloseCode.InvalidData,
  ERR_MESSAGE_JSON: CloseCode.InvalidData,
  ERR_MESSAGE_INVALID: CloseCode.InvalidData,
  ERR_SPS_INVALID: CloseCode.InvalidData,
  ERR_SPS_UNSUPPORTED: CloseCode.InvalidData,
  ERR_ADTS_INVALID: CloseCode.InvalidData,
};

/** RFC 6455 limits a close reason to 123 bytes of UTF-8 (ws throws on longer ones): longer text is cut. */
export function closeReason(text: string): string {
  const utf8 = new TextEncoder();
  if (utf8.encode(text).byteLength <= 123) return text;
  let cut = text.slice(0, 120);
  while (utf8.encode(cut).byteLength > 120) cut = cut.slice(0, -1);
  return `${cut}...`;
}
