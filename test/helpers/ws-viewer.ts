import WebSocket from 'ws';
import { readFrameHeader, type FrameHeader, type RelayToViewerMessage } from '@picam/protocol';

/**
 * A viewer client: connects to a camera's live endpoint the way the browser does (subprotocols
 * `picam.v1` + `picam.token.<jwt>`), records every message in order, and acks like the player
 * (last video sequence, every 100 ms) unless told not to.
 */

export type ViewerEvent =
  | { kind: 'json'; message: RelayToViewerMessage }
  | { kind: 'frame'; header: FrameHeader; payload: Buffer };

export interface ViewerOptions {
  /** send acks every 100 ms (default true) */
  ack?: boolean;
}

export class WsViewer {
  readonly ws: WebSocket;
  readonly events: ViewerEvent[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];
  private lastVideoSequence: number | undefined;
  private ackTimer: NodeJS.Timeout | undefined;

  private constructor(ws: WebSocket, options: ViewerOptions) {
    this.ws = ws;
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        if (this.ackTimer) clearInterval(this.ackTimer);
        resolve({ code, reason: reason.toString() });
        this.wake();
      }),
    );
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        const header = readFrameHeader(data);
        if (header.track === 1) this.lastVideoSequence = header.sequence;
        this.events.push({ kind: 'frame', header, payload: data.subarray(16) });
      } else {
        this.events.push({ kind: 'json', message: JSON.parse(data.toString()) as RelayToViewerMessage });
      }
      this.wake();
    });
    ws.on('error', () => {});
    if (options.ack !== false) {
      this.ackTimer = setInterval(() => {
        if (this.lastVideoSequence !== undefined && ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ type: 'ack', sequence: this.lastVideoSequence }));
        }
      }, 100);
      this.ackTimer.unref();
    }
  }

  static async connect(wsUrl: string, cameraId: string, token: string, options: ViewerOptions = {}): Promise<WsViewer> {
    const ws = new WebSocket(`${wsUrl}/api/cameras/${cameraId}/live`, ['picam.v1', `picam.token.${token}`], { perMessageDeflate: false });
    const viewer = new WsViewer(ws, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`viewer upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return viewer;
  }

  /** Attempts an upgrade expected to fail: the HTTP status and JSON body of the refusal. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are inspected ad hoc by each test
  static async refusal(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const ws = new WebSocket(url, protocols, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.close();
        reject(new Error('upgrade unexpectedly accepted'));
      });
      ws.once('error', () => {});
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      });
    });
  }

  frames(): Array<Extract<ViewerEvent, { kind: 'frame' }>> {
    return this.events.filter((e): e is Extract<ViewerEvent, { kind: 'frame' }> => e.kind === 'frame');
  }

  videoFrames() {
    return this.frames().filter((f) => f.header.track === 1);
  }

  messages(): RelayToViewerMessage[] {
    return this.events.flatMap((e) => (e.kind === 'json' ? [e.message] : []));
  }

  /** Resolves once `predicate` holds over the events so far (checked at every new message). */
  async until(predicate: (viewer: WsViewer) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`viewer: ${what} not met in ${timeoutMs} ms (${this.frames().length} frames, messages ${JSON.stringify(this.messages())})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  untilVideoFrames(count: number, timeoutMs = 10_000): Promise<void> {
    return this.until((v) => v.videoFrames().length >= count, timeoutMs, `${count} video frames`);
  }

  untilMessage(predicate: (m: RelayToViewerMessage) => boolean, timeoutMs = 10_000): Promise<void> {
    return this.until((v) => v.messages().some(predicate), timeoutMs, 'message');
  }

  /** Stops reading from the socket (the kernel buffers fill, then the relay's bufferedAmount grows). */
  pause(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resume(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close(1000);
    return this.closed;
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
