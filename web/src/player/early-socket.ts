/**
 * The live WebSocket of the page being opened, started by the boot script (boot.ts) before the app
 * bundle has even downloaded: before its parsing, the session check, the first layout and the page's
 * own API calls, which otherwise all come first (bench/README.md, "First picture"). Its upgrade and
 * the relay's catch-up burst overlap that work; the Player's connection then claims it and replays,
 * in order, whatever arrived meanwhile.
 *
 * On a slow link the app bundle takes seconds to arrive, which is when this helps most, so the
 * socket waits up to CLAIM_WINDOW_MS; meanwhile it keeps video only from the newest keyframe on
 * (older frames could not be shown at the live edge anyway), so it holds about one GOP, and the
 * player starts from there. Only one socket waits at a time; unclaimed (the page turned out to be a
 * login redirect, or the user went elsewhere) it is closed, so it never holds a viewer slot for long.
 */

import { Track, readFrameHeader } from '@picam/protocol';
import { KeyframeHold, type HeldKind } from './keyframe-hold.ts';

export type EarlyEvent = { type: 'open' } | { type: 'message'; data: ArrayBuffer | string };

export interface ClaimedSocket {
  ws: WebSocket;
  /** what happened before the claim, oldest first */
  events: EarlyEvent[];
}

export const CLAIM_WINDOW_MS = 10_000;

type CreateSocket = (url: string, protocols: string[]) => WebSocket;

interface Waiting {
  ws: WebSocket;
  /** what happened so far, video from the newest keyframe on */
  events: KeyframeHold<EarlyEvent>;
  key: string;
  timer: ReturnType<typeof setTimeout>;
  closed: boolean;
}

/**
 * The waiting socket is kept on `globalThis`, not in this module: the boot script and the app are
 * two bundles, each with its own copy of this module, and the one opens what the other claims.
 */
const SLOT = Symbol.for('picam.earlySocket');
const shared = globalThis as { [SLOT]?: Waiting | null };

function takeWaiting(): Waiting | null {
  const found = shared[SLOT] ?? null;
  shared[SLOT] = null;
  return found;
}

/**
 * Text messages and 'open' are kept whatever comes; a video keyframe (by its frame header) drops the
 * frames, audio included, before it. A malformed frame is kept for the player to refuse.
 */
function earlyEventKind(event: EarlyEvent): HeldKind {
  if (event.type === 'open' || typeof event.data === 'string') return 'other';
  try {
    const header = readFrameHeader(new Uint8Array(event.data));
    return header.track === Track.Video && header.keyframe ? 'keyframe' : 'frame';
  } catch {
    return 'frame';
  }
}

const keyOf = (url: string, protocols: readonly string[]) => `${url} ${protocols.join(',')}`;

export function openEarlySocket(url: string, protocols: string[], create: CreateSocket = (u, p) => new WebSocket(u, p)): void {
  discardEarlySocket();
  const ws = create(url, protocols);
  ws.binaryType = 'arraybuffer';
  const entry: Waiting = {
    key: keyOf(url, protocols),
    ws,
    events: new KeyframeHold(earlyEventKind),
    timer: setTimeout(discardEarlySocket, CLAIM_WINDOW_MS),
    closed: false,
  };
  ws.onopen = () => entry.events.push({ type: 'open' });
  ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => entry.events.push({ type: 'message', data: event.data });
  ws.onclose = () => {
    entry.closed = true;
  };
  shared[SLOT] = entry;
}

/**
 * The early socket for exactly this URL and these subprotocols, once; null when there is none (then
 * the caller opens its own). A socket opened for anything else is closed here: it is not needed.
 * Nor is one that has already closed: refused before the user signed in, say, it would hand the
 * player a failure that a socket opened now would not have.
 */
export function claimEarlySocket(url: string, protocols: string[]): ClaimedSocket | null {
  const found = takeWaiting();
  if (!found) return null;
  clearTimeout(found.timer);
  if (found.key !== keyOf(url, protocols) || found.closed) {
    found.ws.close(1000, 'not needed');
    return null;
  }
  found.ws.onopen = null;
  found.ws.onmessage = null;
  found.ws.onclose = null;
  return { ws: found.ws, events: found.events.take() };
}

export function discardEarlySocket(): void {
  const found = takeWaiting();
  if (!found) return;
  clearTimeout(found.timer);
  found.ws.close(1000, 'not needed');
}
