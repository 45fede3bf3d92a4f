import { CloseCode, type ProtocolErrorCode } from '@picam/protocol';
import type { ApiErrorCode } from '../errors.ts';
import type { AgentRejectReason } from '../metrics.ts';

/**
 * Failures -> WebSocket close codes, in one place. Upgrades are refused with the HTTP status of
 * their ApiError before any WebSocket exists; these codes are for sockets already open.
 */

/** Why an agent's message ended its connection: the close code, and the metric label. */
export interface AgentViolation {
  code: number;
  reason: AgentRejectReason;
}

export function agentViolationFor(code: ProtocolErrorCode): AgentViolation {
  switch (code) {
    case 'ERR_FRAME_TOO_LARGE':
    case 'ERR_ACCESS_UNIT_TOO_LARGE':
      return { code: CloseCode.MessageTooBig, reason: 'oversized' };
    case 'ERR_MESSAGE_JSON':
    case 'ERR_MESSAGE_INVALID':
      return { code: CloseCode.InvalidData, reason: 'invalid_message' };
    case 'ERR_FRAME_VERSION':
      // Well-formed but a version this relay does not speak: a policy matter, not corrupt data.
      return { code: CloseCode.PolicyViolation, reason: 'invalid_frame' };
    default:
      return { code: CloseCode.InvalidData, reason: 'invalid_frame' };
  }
}

/** Session and share grants end with different codes, so the page can say why. */
export function grantEndedCode(kind: 'session' | 'share'): number {
  return kind === 'share' ? CloseCode.LinkExpired : CloseCode.Unauthenticated;
}

export function closeCodeFor(code: ApiErrorCode): number {
  switch (code) {
    case 'forbidden':
    case 'csrf_failed':
      return CloseCode.Forbidden;
    case 'camera_not_found':
    case 'not_found':
      return CloseCode.NoSuchCamera;
    case 'link_expired':
    case 'link_revoked':
      return CloseCode.LinkExpired;
    case 'unauthenticated':
    case 'invalid_credentials':
    case 'token_invalid':
    case 'token_expired':
      return CloseCode.Unauthenticated;
    default:
      return CloseCode.PolicyViolation;
  }
}

/** Close reasons are limited to 123 bytes by RFC 6455; ws throws on longer ones. */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  let cut = text.slice(0, 120);
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1);
  return `${cut}...`;
}
