import WebSocket from 'ws';
import {
  CloseCode,
  FRAME_HEADER_BYTES,
  Track,
  encodeMessage,
  isProtocolError,
  parseMessage,
  relayToAgentMessageSchema,
  type BackfillDoneMessage,
  type HelloMessage,
  type RelayToAgentMessage,
  type StatsMessage,
  writeFrameHeader,
} from '@picam/protocol';
import { Backoff } from './backoff.ts';
import type { BackfillLink } from './backfill-sender.ts';
import type { RingFrame } from './backfill-ring.ts';
import { BufferPool } from './buffer-pool.ts';
import type { Tuning } from './config.ts';
import type { Logger } from './logger.ts';
import { SendQueue } from './send-queue.ts';
import type { AgentStats } from './stats.ts';

export interface UplinkOptions {
  /** ws(s)://.../api/agent */
  url: string;
  credential: string;
  log: Logger;
  stats: AgentStats;
  tuning: Pick<
    Tuning,
    'reconnectMinMs' | 'reconnectMaxMs' | 'healthyAfterMs' | 'replacedDelayMs' | 'revokedDelayMs' | 'statsIntervalMs' | 'queueLimitBytes' | 'pingIntervalMs'
  >;
  /** built fresh for every connection: format and settings may have changed meanwhile */
  hello: () => HelloMessage;
  statsMessage: () => StatsMessage;
  onMessage: (message: RelayToAgentMessage) => void;
  onConnectionChange?: (connected: boolean) => void;
}

/** Control messages from the relay are small; anything bigger is not from a well-behaved relay. */
const MAX_INCOMING_BYTES = 64 * 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 2_000;
const FRAME_SEND_OPTIONS = { binary: true, compress: false } as const;

/**
 * An all-zero masking key, which ws recognises and skips: no XOR pass over every video byte here,
 * none in the relay's receiver, and no copy of the frame (ws copies a read-only buffer to mask it).
 * RFC 6455 asks clients for unpredictable keys so that script in a *browser* cannot craft bytes
 * that an old transparent proxy would misread; this client sends camera bytes, not
 * attacker-chosen ones, and on wss:// (what the docs deploy) the key is inside TLS anyway.
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * The outbound WebSocket to the relay: connects, says hello, sends one binary message per frame,
 * and reconnects forever, because a Pi in a shed has nobody to restart it.
 *
 * - Reconnects back off exponentially with jitter (0.5 s .. 30 s), starting over after a
 *   connection that stayed up for a minute. Closes that a retry cannot fix wait long instead:
 *   4009 (another agent took over this camera: retrying at once would just fight it) and
 *   4001 / HTTP 401 (credential revoked: only a re-enroll helps). Never a hot loop.
 * - Live video has no backlog: while disconnected, frames are dropped; while connected, the
 *   socket's buffer is the queue and SendQueue keeps it within its byte budget.
 * - Pings find a dead path (NAT timeout, Wi-Fi roam) that TCP alone would notice only minutes later.
 */
export class Uplink implements BackfillLink {
  private readonly options: UplinkOptions;
  private readonly backoff: Backoff;
  private readonly queue: SendQueue;
  /** frames are built in reused buffers; their bytes stay in flight at most up to the queue budget */
  private readonly buffers: BufferPool;
  private readonly sequences = new Map<Track, number>();
  /** the socket being connected or open */
  private socket: WebSocket | null = null;
  /** set once hello has gone out: frames may follow */
  private ready: WebSocket | null = null;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** cleared by each ping, set by any pong or message: a whole silent interval ends the connection */
  private alive = true;
  /** round-trip probes waiting for their pong: id -> resolver */
  private readonly rttProbes = new Map<number, (atMs: number) => void>();
  private nextProbeId = 0;
  /** connection attempts since start, for logs and tests */
  attempts = 0;

  constructor(options: UplinkOptions) {
    this.options = options;
    this.backoff = new Backoff({ initialMs: options.tuning.reconnectMinMs, maxMs: options.tuning.reconnectMaxMs });
    this.queue = new SendQueue(options.tuning.queueLimitBytes);
    this.buffers = new BufferPool(Math.min(options.tuning.queueLimitBytes, 4 * 1024 * 1024));
  }

  get connected(): boolean {
    return this.ready !== null;
  }

  /** Bytes waiting in the socket (ws' buffer plus the kernel-facing one). */
  get queueBytes(): number {
    return this.ready?.bufferedAmount ?? 0;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /**
   * Sends one frame, or drops it (disconnected, or over the budget until the next keyframe).
   * Audio frames never carry the keyframe flag on the wire (it means an IDR; the relay refuses
   * flagged audio), but each one decodes on its own, so the queue admits them as independent.
   */
  sendFrame(track: Track, keyframe: boolean, captureTimeUs: number, payload: Uint8Array): boolean {
    const ws = this.ready;
    const video = track === Track.Video;
    const flagged = video && keyframe;
    if (ws === null || !this.queue.admit(track, flagged || !video, FRAME_HEADER_BYTES + payload.byteLength, ws.bufferedAmount)) {
      if (video) this.options.stats.framesDropped += 1;
      return false;
    }
    const sequence = this.sequences.get(track) ?? 0;
    this.sequences.set(track, (sequence + 1) >>> 0);
    const bytes = FRAME_HEADER_BYTES + payload.byteLength;
    const buffer = this.buffers.acquire(bytes);
    const message = buffer.subarray(0, bytes);
    writeFrameHeader(message, { track, keyframe: flagged, catchUp: false, sequence, captureTimeUs });
    message.set(payload, FRAME_HEADER_BYTES);
    // The callback runs once the socket has the bytes (or failed): only then is the buffer free.
    ws.send(message, FRAME_SEND_OPTIONS, () => this.buffers.release(buffer));
    if (video) this.options.stats.framesSent += 1;
    return true;
  }

  /**
   * Sends one kept frame flagged backfill (BackfillSender paces these and decides what may go:
   * the live admission control does not apply). Its sequence number is its place in the ring,
   * which the relay ignores as it does the live ones. False when not connected.
   */
  sendBackfillFrame(frame: RingFrame): boolean {
    const ws = this.ready;
    if (ws === null) return false;
    const bytes = FRAME_HEADER_BYTES + frame.data.byteLength;
    const buffer = this.buffers.acquire(bytes);
    const message = buffer.subarray(0, bytes);
    const keyframe = frame.track === Track.Video && frame.keyframe;
    writeFrameHeader(message, { track: frame.track, keyframe, catchUp: false, backfill: true, sequence: frame.id >>> 0, captureTimeUs: frame.captureTimeUs });
    message.set(frame.data, FRAME_HEADER_BYTES);
    ws.send(message, FRAME_SEND_OPTIONS, () => this.buffers.release(buffer));
    return true;
  }

  /**
   * Round-trip time of a ping sent now, in ms: it waits behind every byte already in the socket
   * and the path's queues, so it tells how long a live frame sent now would take (backfill-pace.ts'
   * DelayGate). Null when the connection closes first.
   */
  probeRttMs(): Promise<number | null> {
    const ws = this.ready;
    if (ws === null) return Promise.resolve(null);
    const id = this.nextProbeId++ >>> 0;
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(id, 0);
    const sentAt = performance.now();
    return new Promise((resolve) => {
      const done = (value: number | null) => {
        this.rttProbes.delete(id);
        ws.off('close', onClose);
        resolve(value);
      };
      const onClose = () => done(null);
      this.rttProbes.set(id, (atMs) => done(atMs - sentAt));
      ws.once('close', onClose);
      ws.ping(payload);
    });
  }

  sendBackfillDone(message: BackfillDoneMessage): void {
    this.ready?.send(encodeMessage(message));
  }

  /**
   * A fresh hello on the open connection, e.g. when the camera restarted with a new size: the
   * relay updates what it tells joining viewers. On a new connection hello goes out anyway.
   */
  resendHello(): void {
    this.ready?.send(encodeMessage(this.options.hello()));
  }

  /** Closes with 1001 (going away) and stops reconnecting. */
  async stop(code: number = CloseCode.GoingAway, reason = 'agent shutting down'): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const ws = this.socket;
    if (ws === null) return;
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
      return;
    }
    if (ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, CLOSE_TIMEOUT_MS);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(code, reason);
    });
  }

  private connect(): void {
    const { log, url, credential } = this.options;
    this.attempts += 1;
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${credential}` },
      // Video does not compress, and deflate would cost the Pi's CPU for nothing.
      perMessageDeflate: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      maxPayload: MAX_INCOMING_BYTES,
      followRedirects: false,
      generateMask: zeroMask,
    });
    this.socket = ws;
    let openedAt: number | null = null;
    let rejectedStatus: number | null = null;
    let lastError: string | null = null;

    ws.on('unexpected-response', (_request, response) => {
      rejectedStatus = response.statusCode ?? null;
      response.resume();
      ws.terminate();
    });
    ws.on('error', (error) => {
      lastError = (error as NodeJS.ErrnoException).code ?? error.message;
    });
    ws.on('open', () => {
      openedAt = performance.now();
      this.onOpen(ws);
    });
    ws.on('pong', (data: Buffer) => {
      this.alive = true;
      if (data.byteLength === 4) this.rttProbes.get(data.readUInt32BE(0))?.(performance.now());
    });
    ws.on('message', (data, isBinary) => {
      this.alive = true;
      if (isBinary) {
        log.warn('ignoring a binary message from the relay');
        return;
      }
      this.onText(String(data));
    });
    ws.on('close', (code, reasonBuffer) => {
      const reason = reasonBuffer.toString();
      const wasReady = this.ready === ws;
      if (this.socket === ws) this.socket = null;
      if (wasReady) {
        this.ready = null;
        clearInterval(this.statsTimer);
        clearInterval(this.pingTimer);
        this.options.onConnectionChange?.(false);
      }
      if (this.stopped) return;
      const connectedMs = openedAt === null ? 0 : performance.now() - openedAt;
      this.scheduleReconnect(this.classifyClose(code, reason, rejectedStatus, lastError, connectedMs));
    });
  }

  private onOpen(ws: WebSocket): void {
    const { log, tuning } = this.options;
    // hello goes first: the relay learns who we are before any frame.
    ws.send(encodeMessage(this.options.hello()));
    this.ready = ws;
    this.queue.resync();
    log.info({ url: this.options.url, attempts: this.attempts }, 'connected to the relay');
    this.options.onConnectionChange?.(true);
    this.sendStats();
    this.statsTimer = setInterval(() => this.sendStats(), tuning.statsIntervalMs);
    this.alive = true;
    this.pingTimer = setInterval(() => {
      if (!this.alive) {
        log.warn('relay missed a ping interval: dropping the connection');
        ws.terminate();
        return;
      }
      this.alive = false;
      ws.ping();
    }, tuning.pingIntervalMs);
  }

  private sendStats(): void {
    this.ready?.send(encodeMessage(this.options.statsMessage()));
  }

  private onText(text: string): void {
    try {
      this.options.onMessage(parseMessage(relayToAgentMessageSchema, text));
    } catch (error) {
      if (!isProtocolError(error)) throw error;
      // Ignored rather than answered with a close: a newer relay may send messages this agent
      // does not know yet, and dropping the video over them would help nobody.
      this.options.log.warn({ err: error.message }, 'ignoring a message from the relay');
    }
  }

  /** How long to wait after this close, logging why in words a user can act on. */
  private classifyClose(code: number, reason: string, status: number | null, error: string | null, connectedMs: number): number {
    const { log, tuning } = this.options;
    if (connectedMs >= tuning.healthyAfterMs) this.backoff.reset();
    const context = { code, reason: reason === '' ? undefined : reason, status: status ?? undefined, error: error ?? undefined };
    if (code === CloseCode.Replaced) {
      log.warn(
        { ...context, delayMs: tuning.replacedDelayMs },
        'the relay replaced this connection with a newer one for the same camera: is another agent running with this credential? backing off',
      );
      return tuning.replacedDelayMs;
    }
    if (code === CloseCode.Unauthenticated || status === 401 || status === 403) {
      log.error(
        { ...context, delayMs: tuning.revokedDelayMs },
        'the relay rejected the device credential (revoked, or the camera was re-enrolled): run `picam-agent enroll --relay URL --token -` with a new token; retrying rarely',
      );
      return tuning.revokedDelayMs;
    }
    if (code === CloseCode.NoSuchCamera || status === 404) {
      log.error({ ...context, delayMs: tuning.revokedDelayMs }, 'the relay does not know this camera (deleted?) or the URL is wrong; retrying rarely');
      return tuning.revokedDelayMs;
    }
    const delayMs = this.backoff.next();
    log.warn({ ...context, delayMs }, connectedMs > 0 ? 'relay connection lost, reconnecting' : 'cannot reach the relay, retrying');
    return delayMs;
  }

  private scheduleReconnect(delayMs: number): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopped) this.connect();
    }, delayMs);
  }
}
