import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { CloseCode, ProtocolError, closeReason, encodeMessage, keyframesFromQuery, parseMessage, viewerMessageSchema, type QualityMessage } from '@picam/protocol';
import { isDatabaseUnavailable } from '../db/availability.ts';
import type { Logger } from '../logger.ts';
import type { AccessControl, CameraRegistry, ViewerGrant } from '../services.ts';
import type { StreamHub } from '../streams/hub.ts';
import type { ViewerQuality, ViewerSink } from '../streams/viewer-session.ts';
import type { ConnectionRegistry, GrantVerdict, ViewerHandle } from './connection-registry.ts';
import { sendBinary } from './prepared-frames.ts';

/**
 * One viewer connection (authorized by the upgrade handler): subscribed to its camera's stream,
 * reading `ack`s and `quality`, and cut off when its grant ends: at `expiresAt` by a timer, or at once when the
 * accounts side revokes it.
 */

export interface ViewerDeps {
  hub: StreamHub;
  access: AccessControl;
  registry: CameraRegistry;
  connections: ConnectionRegistry;
  log: Logger;
}

/** setTimeout's limit (~24.8 days); longer grants are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A grant still valid at its expiry (clocks a hair apart) is checked again this soon. */
const RECHECK_MS = 500;

/**
 * `socket` is the one the upgrade handed to ws: prepared frames are written to it directly. `url`:
 * the request's, whose `?keyframes=` asks for keyframes only from the join on.
 */
export function acceptViewer(ws: WebSocket, socket: Duplex, grant: ViewerGrant, deps: ViewerDeps, url?: URL): void {
  const asked = url ? keyframesFromQuery(url.searchParams) : undefined;
  const log = deps.log.child({ cameraId: grant.cameraId, grant: grant.kind, peer: 'viewer' });
  // At once, not after the registry's answer: ws closes a socket that sends garbage itself, and an
  // 'error' event without a listener would end the process.
  ws.on('error', (err) => log.debug({ err: err.message }, 'viewer socket error'));
  // The registry answers asynchronously, and a viewer may say what it wants (`quality`) as soon as
  // its socket opens: what comes meanwhile is kept for the viewer's handler (a few small texts: the
  // socket's maxPayload bounds each one).
  const early: ViewerMessageData[] = [];
  const keep = (data: Buffer, isBinary: boolean) => early.push({ data, isBinary });
  ws.on('message', keep);
  deps.registry.get(grant.cameraId).then(
    (camera) => {
      ws.off('message', keep);
      if (ws.readyState !== ws.OPEN) return;
      if (!camera) ws.close(CloseCode.NoSuchCamera, 'no such camera');
      else startViewer(ws, socket, grant, camera, deps, log, early, asked);
    },
    (err: unknown) => {
      log.warn({ err }, 'viewer closed: the registry could not answer');
      ws.close(CloseCode.InternalError, 'registry unavailable');
    },
  );
}

interface ViewerMessageData {
  data: Buffer;
  isBinary: boolean;
}

/** A `quality` message as the viewer session takes it: no interval is 0, every keyframe. */
function viewerQualityOf(message: QualityMessage): ViewerQuality {
  return { keyframesOnly: message.keyframesOnly, minIntervalMs: message.minIntervalMs ?? 0 };
}

/** The last `quality` among the messages a viewer sent before it joined: its catch-up follows it. */
function qualityAsked(early: ViewerMessageData[]): ViewerQuality | undefined {
  let quality: ViewerQuality | undefined;
  for (const { data, isBinary } of early) {
    if (isBinary) continue;
    try {
      const message = parseMessage(viewerMessageSchema, data.toString('utf8'));
      if (message.type === 'quality') quality = viewerQualityOf(message);
    } catch {
      // Refused when the messages are handled in order, after the join.
    }
  }
  return quality;
}

function startViewer(
  ws: WebSocket,
  socket: Duplex,
  grant: ViewerGrant,
  camera: { name: string },
  deps: ViewerDeps,
  log: Logger,
  early: ViewerMessageData[],
  asked: ViewerQuality | undefined,
): void {

  let ended = false;
  let timer: NodeJS.Timeout | undefined;

  const sink: ViewerSink = {
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    sendBinary: (message, wire) => sendBinary(ws, socket, message, wire),
    sendText: (text) => ws.send(text),
    close: (code, reason) => end(code, reason),
  };

  function end(code: number, reason: string): void {
    if (ended) return;
    ended = true;
    if (timer) clearTimeout(timer);
    log.info({ code, reason }, 'viewer closed by relay');
    ws.close(code, reason);
  }

  function recheck(verdicts?: Map<string, Promise<GrantVerdict>>): void {
    if (ended) return;
    // Viewers sharing a grant (500 viewers of one share link) share one database check per sweep.
    const key = `${grant.kind}:${grant.id}:${grant.cameraId}`;
    let verdict = verdicts?.get(key);
    if (verdict === undefined) {
      verdict = deps.access.isGrantValid(grant).then(
        (valid): GrantVerdict => (valid ? 'valid' : 'invalid'),
        (err: unknown): GrantVerdict => {
          // The registry cannot answer (Postgres away): a running stream goes on, the next check decides.
          if (isDatabaseUnavailable(err)) return 'unknown';
          log.warn({ err }, 'grant check failed; closing viewer');
          return 'invalid';
        },
      );
      verdicts?.set(key, verdict);
    }
    void verdict.then((v) => {
      // Session and share grants end with different codes, so the page can say why.
      if (v !== 'invalid') return;
      if (grant.kind === 'share') end(CloseCode.LinkExpired, 'link expired or revoked');
      else end(CloseCode.Unauthenticated, 'session ended');
    });
  }

  function armExpiry(): void {
    const wait = grant.expiresAt - Date.now();
    timer = setTimeout(
      () => {
        recheck();
        if (!ended) armExpiry();
      },
      Math.min(Math.max(wait, RECHECK_MS), MAX_TIMER_MS),
    );
    timer.unref();
  }

  const handle: ViewerHandle = { grant, close: end, recheck };
  if (grant.kind === 'share') ws.send(encodeMessage({ type: 'expiring', expiresAt: grant.expiresAt }));
  const subscription = deps.hub.subscribe(grant.cameraId, sink, { name: camera.name, quality: qualityAsked(early) ?? asked });
  deps.connections.addViewer(handle);
  armExpiry();
  log.debug('viewer connected');

  function receive(data: Buffer, isBinary: boolean): void {
    if (ended) return;
    if (isBinary) {
      end(CloseCode.PolicyViolation, 'viewers send text messages only');
      return;
    }
    try {
      const message = parseMessage(viewerMessageSchema, data.toString('utf8'));
      if (message.type === 'ack') subscription.ack(message.sequence);
      else subscription.quality(viewerQualityOf(message));
    } catch (err) {
      // parseMessage throws only ProtocolErrors; anything else would be a relay bug.
      if (err instanceof ProtocolError) end(err.closeCode, closeReason(err.message));
      else end(CloseCode.InternalError, 'internal error');
    }
  }
  for (const message of early) receive(message.data, message.isBinary);
  ws.on('message', receive);

  ws.on('close', () => {
    ended = true;
    if (timer) clearTimeout(timer);
    subscription.close();
    deps.connections.removeViewer(handle);
  });
}
