import {
  FRAME_HEADER_BYTES,
  KEYFRAMES_QUERY,
  ProtocolError,
  Track,
  parseMessage,
  readFrameHeader,
  relayToViewerMessageSchema,
  viewerProtocols,
  type QualityMessage,
  type RelayToViewerMessage,
} from '@picam/protocol';
import { claimEarlySocket, type EarlyEvent } from './early-socket.ts';
import { liveUrl } from './live-socket-url.ts';
import type { IncomingFrame } from './renderer.ts';

/**
 * One viewer WebSocket to `/api/cameras/:id/live`: binary frames (16-byte header + payload) and
 * validated JSON control messages in, an `ack` of the newest video sequence out every ~100 ms (the
 * relay measures each viewer's real lag with it), and `quality` when the player asks for keyframes
 * only or full rate (sent as soon as the socket opens). URL and authentication: live-socket-url.ts.
 */

const ACK_INTERVAL_MS = 100;

export interface ConnectionHandlers {
  onOpen(): void;
  onMessage(message: RelayToViewerMessage): void;
  onVideo(frame: IncomingFrame): void;
  onAudio(frame: IncomingFrame): void;
  /** `opened` false: the upgrade itself was refused (the browser hides the HTTP status) */
  onClose(code: number, reason: string, opened: boolean): void;
  /** bytes received, for the bitrate figure */
  onBytes(bytes: number): void;
}

export class LiveConnection {
  private readonly ws: WebSocket;
  private readonly handlers: ConnectionHandlers;
  private opened = false;
  private closed = false;
  private lastSequence = -1;
  private lastAcked = -1;
  private readonly ackTimer: number;
  private quality: QualityMessage | null = null;

  /** `keyframesOnly`: ask for keyframes only from the first frame on (`?keyframes=`, docs/ARCHITECTURE.md "Viewer quality"). */
  constructor(cameraId: string, token: string | undefined, handlers: ConnectionHandlers, keyframesOnly?: { minIntervalMs: number }) {
    this.handlers = handlers;
    const url = keyframesOnly ? `${liveUrl(cameraId)}?${KEYFRAMES_QUERY}=${keyframesOnly.minIntervalMs}` : liveUrl(cameraId);
    const protocols = viewerProtocols(token);
    const early = claimEarlySocket(url, protocols);
    this.ws = early?.ws ?? new WebSocket(url, protocols);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onopen = () => this.open();
    this.ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => this.receive(event.data);
    this.ws.onclose = (event) => this.finish(event.code, event.reason);
    this.ws.onerror = () => {
      // Always followed by close, which carries what there is to know.
    };
    this.ackTimer = window.setInterval(() => this.ack(), ACK_INTERVAL_MS);
    // After the constructor has returned (the caller holds this connection by then), and before any
    // later socket event: those are tasks, this is a microtask.
    if (early && early.events.length > 0) queueMicrotask(() => this.replay(early.events));
  }

  /** What the early socket saw before this connection claimed it, in order. */
  private replay(events: EarlyEvent[]): void {
    for (const event of events) {
      if (this.closed) return;
      if (event.type === 'open') this.open();
      else this.receive(event.data);
    }
  }

  private open(): void {
    this.opened = true;
    if (this.quality) this.ws.send(JSON.stringify(this.quality));
    this.handlers.onOpen();
  }

  /** Keyframes only, or full rate (the relay's default): told now, or once the socket opens. */
  setQuality(quality: QualityMessage): void {
    this.quality = quality;
    if (this.opened && !this.closed && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(quality));
  }

  close(code = 1000, reason = 'viewer left'): void {
    if (this.closed) return;
    this.closed = true;
    window.clearInterval(this.ackTimer);
    try {
      this.ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  private finish(code: number, reason: string): void {
    window.clearInterval(this.ackTimer);
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose(code, reason, this.opened);
  }

  private receive(data: ArrayBuffer | string): void {
    if (this.closed) return;
    if (typeof data === 'string') {
      try {
        // The relay's own schemas (protocol/), the same checks the relay's peers get.
        this.handlers.onMessage(parseMessage(relayToViewerMessageSchema, data));
      } catch (err) {
        // A newer relay may send messages this page does not know yet: ignore, do not die.
        if (err instanceof ProtocolError) console.warn('picam: ignoring relay message:', err.message);
        else throw err;
      }
      return;
    }
    this.handlers.onBytes(data.byteLength);
    const message = new Uint8Array(data);
    let header;
    try {
      header = readFrameHeader(message);
    } catch (err) {
      console.warn('picam: ignoring malformed frame:', err instanceof Error ? err.message : err);
      return;
    }
    const frame: IncomingFrame = { header, payload: message.subarray(FRAME_HEADER_BYTES), arrivalEpochMs: Date.now() };
    if (frame.payload.length === 0) return;
    if (header.track === Track.Video) {
      this.lastSequence = header.sequence;
      this.handlers.onVideo(frame);
    } else {
      this.handlers.onAudio(frame);
    }
  }

  private ack(): void {
    if (this.ws.readyState !== WebSocket.OPEN || this.lastSequence < 0 || this.lastSequence === this.lastAcked) return;
    this.lastAcked = this.lastSequence;
    this.ws.send(JSON.stringify({ type: 'ack', sequence: this.lastSequence }));
  }
}
