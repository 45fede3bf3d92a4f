import { livePath, viewerProtocols } from '@picam/protocol';
import { openEarlySocket } from './early-socket.ts';

/**
 * Where a camera's live WebSocket is and how it authenticates: the session cookie, or a token as
 * the second subprotocol (`picam.token.<jwt>`), which keeps it out of URLs and proxy logs. Kept
 * apart from connection.ts (and free of the protocol code) so the boot script stays tiny.
 */

export function liveUrl(cameraId: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${livePath(cameraId)}`;
}

/** Opens the camera's live socket now, for the LiveConnection the page will create (early-socket.ts). */
export function openLiveSocketEarly(cameraId: string, token?: string): void {
  openEarlySocket(liveUrl(cameraId), viewerProtocols(token));
}
