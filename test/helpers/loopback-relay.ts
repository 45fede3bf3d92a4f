import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_CAMERA_SETTINGS, decodeFrame, type FrameHeader } from '@picam/protocol';
import { waitForChange } from './wait-for-change.ts';

/**
 * A stand-in relay for the agent's cross-process tests: a real `ws` server on 127.0.0.1 that
 * checks the Bearer credential at upgrade, records every message, can close a connection with a
 * given code, can be stopped and started again on the same port, and answers /api/enroll and
 * /healthz. Tests wait on its events (`waitFor`), never on sleeps.
 */

export interface RecordedFrame {
  connection: number;
  header: FrameHeader;
  payload: Uint8Array;
  /** performance.now() at receipt */
  receivedAt: number;
}

export interface AgentConnection {
  id: number;
  ws: WebSocket;
  headers: IncomingHttpHeaders;
  /** every message in arrival order: parsed JSON for text, 'frame' for binary */
  sequence: Array<{ kind: 'text'; message: Record<string, unknown> } | { kind: 'frame'; frame: RecordedFrame }>;
  texts: Array<Record<string, unknown>>;
  frames: RecordedFrame[];
  closed: { code: number; reason: string } | null;
}

/** One upgrade request to /api/agent, accepted (101) or not. */
export interface UpgradeAttempt {
  at: number;
  status: number;
}

export interface EnrollAnswer {
  status: number;
  body: unknown;
}

export interface LoopbackRelayOptions {
  credential?: string;
  /** answers POST /api/enroll; the default knows good-token, used-token and expired-token */
  enroll?: (token: string) => EnrollAnswer;
  port?: number;
}

export const TEST_CREDENTIAL = 'test-device-credential-0123456789abcdef';

function defaultEnroll(credential: string): (token: string) => EnrollAnswer {
  return (token) => {
    if (token === 'good-token') {
      return { status: 200, body: { cameraId: 'cam-1', name: 'Garden', credential, settings: DEFAULT_CAMERA_SETTINGS } };
    }
    if (token === 'expired-token') return { status: 410, body: { error: { code: 'token_expired', message: 'enrollment token expired' } } };
    return { status: 401, body: { error: { code: 'token_invalid', message: 'enrollment token unknown or already used' } } };
  };
}

export class LoopbackRelay extends EventEmitter {
  /** accepted at upgrade; change it to "revoke" the agent's credential */
  credential: string;
  /** when set, every upgrade is refused with this HTTP status */
  rejectUpgradesWith: number | null = null;
  readonly attempts: UpgradeAttempt[] = [];
  readonly connections: AgentConnection[] = [];
  readonly enrollRequests: unknown[] = [];
  private readonly enroll: (token: string) => EnrollAnswer;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  private server: Server | null = null;
  private portValue: number;

  private constructor(options: LoopbackRelayOptions) {
    super();
    this.setMaxListeners(100);
    this.credential = options.credential ?? TEST_CREDENTIAL;
    this.enroll = options.enroll ?? defaultEnroll(this.credential);
    this.portValue = options.port ?? 0;
  }

  static async start(options: LoopbackRelayOptions = {}): Promise<LoopbackRelay> {
    const relay = new LoopbackRelay(options);
    await relay.listen();
    return relay;
  }

  get port(): number {
    return this.portValue;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portValue}`;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** The newest connection that is still open. */
  get current(): AgentConnection | undefined {
    return this.connections.findLast((c) => c.closed === null);
  }

  /** Every frame over every connection, in arrival order. */
  get frames(): RecordedFrame[] {
    return this.connections.flatMap((c) => c.frames);
  }

  /** Sends a JSON message to the current connection. */
  send(message: Record<string, unknown>): void {
    const connection = this.current;
    if (!connection) throw new Error('no open agent connection');
    connection.ws.send(JSON.stringify(message));
  }

  /** Closes the current connection with a code (4001, 4009, ...). */
  closeCurrent(code: number, reason = ''): void {
    this.current?.ws.close(code, reason);
  }

  /**
   * Resolves with the first truthy value of `check`, evaluated now and after every recorded
   * event; rejects after `timeoutMs` (a failure guard, not a wait).
   */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
    return waitForChange(this, check, timeoutMs, () => `timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /** Stops listening and drops every connection at once (like a crashed relay: no close frame). */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    for (const client of this.wss.clients) client.terminate();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.changed();
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    await this.listen();
    this.changed();
  }

  async close(): Promise<void> {
    await this.stop();
    this.wss.close();
  }

  private changed(): void {
    this.emit('change');
  }

  private listen(): Promise<void> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portValue, '127.0.0.1', () => {
        server.off('error', reject);
        this.portValue = (server.address() as AddressInfo).port;
        this.server = server;
        resolve();
      });
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/healthz') {
      json(200, { status: 'ok', uptimeSeconds: 1, cameras: this.current ? 1 : 0, viewers: 0 });
      return;
    }
    if (req.method === 'POST' && req.url === '/api/enroll') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let token = '';
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { token?: unknown };
          this.enrollRequests.push(body);
          token = typeof body.token === 'string' ? body.token : '';
        } catch {
          json(400, { error: { code: 'bad_request', message: 'invalid JSON' } });
          return;
        }
        const answer = this.enroll(token);
        json(answer.status, answer.body);
        this.changed();
      });
      return;
    }
    json(404, { error: { code: 'not_found', message: 'not found' } });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string) => {
      this.attempts.push({ at: performance.now(), status });
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      this.changed();
    };
    if (req.url !== '/api/agent') return refuse(404, 'Not Found');
    if (this.rejectUpgradesWith !== null) return refuse(this.rejectUpgradesWith, 'Refused');
    if (req.headers.authorization !== `Bearer ${this.credential}`) return refuse(401, 'Unauthorized');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.attempts.push({ at: performance.now(), status: 101 });
      const connection: AgentConnection = {
        id: this.connections.length,
        ws,
        headers: req.headers,
        sequence: [],
        texts: [],
        frames: [],
        closed: null,
      };
      this.connections.push(connection);
      ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) {
          const { header, payload } = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
          const frame = { connection: connection.id, header, payload, receivedAt: performance.now() };
          connection.frames.push(frame);
          connection.sequence.push({ kind: 'frame', frame });
        } else {
          const message = JSON.parse(data.toString()) as Record<string, unknown>;
          connection.texts.push(message);
          connection.sequence.push({ kind: 'text', message });
        }
        this.changed();
      });
      ws.on('close', (code, reason) => {
        connection.closed = { code, reason: reason.toString() };
        this.changed();
      });
      ws.on('error', () => {});
      this.changed();
    });
  }
}
