import { PROTOCOL_ERROR_CLOSE_CODES, type CloseCode } from './close-codes.ts';

/**
 * Every failure the protocol package reports is a ProtocolError with a stable `code`,
 * and the WebSocket close code it calls for (`closeCode`), so callers (agent, relay, browser) can
 * turn it into a log line, a close or a retry
 * without matching on message text. Modelled on ws' `WS_ERR_*` and jose's `ERR_*` codes.
 */
export type ProtocolErrorCode =
  | 'ERR_FRAME_TOO_SHORT'
  | 'ERR_FRAME_VERSION'
  | 'ERR_FRAME_TRACK'
  | 'ERR_FRAME_FLAGS'
  | 'ERR_FRAME_RESERVED'
  | 'ERR_FRAME_TIME'
  | 'ERR_FRAME_EMPTY'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_MESSAGE_JSON'
  | 'ERR_MESSAGE_INVALID'
  | 'ERR_ACCESS_UNIT_TOO_LARGE'
  | 'ERR_SPS_INVALID'
  | 'ERR_SPS_UNSUPPORTED'
  | 'ERR_ADTS_INVALID';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  /** How a WebSocket peer that received the bad input closes (close-codes.ts). */
  readonly closeCode: CloseCode;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
    this.closeCode = PROTOCOL_ERROR_CLOSE_CODES[code];
  }
}

export function isProtocolError(value: unknown): value is ProtocolError {
  return value instanceof ProtocolError;
}
