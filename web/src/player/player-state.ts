import { CloseCode } from '@picam/protocol';

/** What the player is doing, as its overlay and the pages show it. */
export type PlayerState =
  | 'connecting'
  | 'waiting'
  | 'live'
  | 'stalled'
  | 'offline'
  /** the page is in the background: no socket, no decoding (visibility.ts) */
  | 'paused'
  | 'expired'
  | 'forbidden'
  | 'not-found'
  | 'unauthenticated'
  | 'unsupported';

const FINAL_STATES = new Set<PlayerState>(['expired', 'forbidden', 'not-found', 'unauthenticated', 'unsupported']);

/** A state the player never leaves by itself: no reconnecting from it. */
export function isFinalState(state: PlayerState): boolean {
  return FINAL_STATES.has(state);
}

/** The relay closed the socket for good ("never" codes): the state to show, else null (reconnect). */
export function finalStateForClose(code: number): PlayerState | null {
  switch (code) {
    case CloseCode.LinkExpired:
      return 'expired';
    case CloseCode.Forbidden:
      return 'forbidden';
    case CloseCode.NoSuchCamera:
      return 'not-found';
    default:
      return null;
  }
}
