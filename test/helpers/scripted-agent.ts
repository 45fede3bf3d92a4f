import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import {
  AccessUnitSplitter,
  DEFAULT_CAMERA_SETTINGS,
  Track,
  encodeFrame,
  type CameraSettings,
  type HelloMessage,
  type RelayToAgentMessage,
} from '@picam/protocol';

/**
 * A stand-in for the edge agent: a real ws client speaking the wire format, feeding the access
 * units of a committed clip (split with protocol's AccessUnitSplitter), at a chosen pace. The real
 * agent (edge-agent/) is used by the cross-part tests; this one can also misbehave on purpose.
 */

export interface ClipUnit {
  data: Uint8Array;
  keyframe: boolean;
}

const clips = new Map<string, ClipUnit[]>();

function loadClip(name: string): ClipUnit[] {
  let units = clips.get(name);
  if (!units) {
    const bytes = readFileSync(fileURLToPath(new URL(`../fixtures/clips/${name}`, import.meta.url)));
    const splitter = new AccessUnitSplitter();
    units = [...splitter.push(new Uint8Array(bytes)), ...splitter.flush()].map((u) => ({ data: u.data, keyframe: u.keyframe }));
    clips.set(name, units);
  }
  return units;
}

export interface AgentOptions {
  clip?: string;
  /** send hello on open (default true) */
  hello?: boolean;
  settings?: Partial<CameraSettings>;
  headers?: Record<string, string>;
}

export interface SentFrame {
  payload: Uint8Array;
  keyframe: boolean;
}

export class ScriptedAgent {
  readonly ws: WebSocket;
  readonly clip: ClipUnit[];
  readonly received: RelayToAgentMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** every video frame sent, in order */
  readonly sent: SentFrame[] = [];
  private cursor = 0;
  private sequence = 0;
  private readonly settings: CameraSettings;
  private waiters: Array<() => void> = [];

  private constructor(ws: WebSocket, options: AgentOptions) {
    this.ws = ws;
    this.clip = loadClip(options.clip ?? '640x480-baseline.h264');
    this.settings = { ...DEFAULT_CAMERA_SETTINGS, ...options.settings };
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.received.push(JSON.parse(data.toString()) as RelayToAgentMessage);
      for (const wake of this.waiters.splice(0)) wake();
    });
    ws.on('error', () => {});
  }

  static async connect(wsUrl: string, credential: string | undefined, options: AgentOptions = {}): Promise<ScriptedAgent> {
    const headers = { ...options.headers };
    if (credential !== undefined) headers.authorization = `Bearer ${credential}`;
    const ws = new WebSocket(`${wsUrl}/api/agent`, { headers, perMessageDeflate: false });
    const agent = new ScriptedAgent(ws, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`agent upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    if (options.hello !== false) agent.sendHello();
    return agent;
  }

  hello(overrides: Partial<HelloMessage> = {}): HelloMessage {
    return { type: 'hello', agentVersion: 'scripted-0.1', settings: this.settings, video: null, audio: null, ...overrides };
  }

  sendHello(overrides: Partial<HelloMessage> = {}): void {
    this.ws.send(JSON.stringify(this.hello(overrides)));
  }

  /** Sends one access unit as a video frame, stamped now (like the agent stamping on read). */
  sendUnit(unit: ClipUnit, keyframe = unit.keyframe): void {
    const message = encodeFrame(
      { track: Track.Video, keyframe, catchUp: false, sequence: this.sequence++, captureTimeUs: Date.now() * 1000 },
      unit.data,
    );
    this.ws.send(message, { binary: true });
    this.sent.push({ payload: unit.data, keyframe });
  }

  /** Rewinds to the clip's first frame (a keyframe), e.g. after a reconnect. */
  rewind(): void {
    this.cursor = 0;
  }

  /**
   * Sends `count` frames of the clip from where it left off (wrapping; the clip starts with a
   * keyframe), `fps` per second, or as fast as the socket drains when fps is 0.
   */
  async play(count: number, fps = 30): Promise<void> {
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      if (this.ws.readyState !== WebSocket.OPEN) throw new Error('agent socket closed while playing');
      const unit = this.clip[this.cursor]!;
      this.cursor = (this.cursor + 1) % this.clip.length;
      this.sendUnit(unit);
      if (fps > 0) {
        const due = start + ((i + 1) * 1000) / fps;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else if (this.ws.bufferedAmount > 1024 * 1024) {
        while (this.ws.bufferedAmount > 256 * 1024) await new Promise((r) => setTimeout(r, 2));
      } else if (i % 16 === 15) {
        await new Promise((r) => setImmediate(r));
      }
    }
  }

  sendRaw(data: Uint8Array | string, binary = typeof data !== 'string'): void {
    this.ws.send(data, { binary });
  }

  async waitFor(predicate: (m: RelayToAgentMessage) => boolean, timeoutMs = 5000): Promise<RelayToAgentMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`agent: no matching message in ${timeoutMs} ms; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close(1000, 'done');
    return this.closed;
  }
}
