import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { clientAddress, viaTrustedProxy, type TrustedProxies } from '../client-address.ts';
import { databaseUnavailable, isDatabaseUnavailable } from '../db/availability.ts';
import { ApiError } from '../errors.ts';
import { redactUrl, type Logger } from '../logger.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { AccessControl, ViewerGrant } from '../services.ts';
import type { SocketLease, SocketLimits } from './socket-limits.ts';

/**
 * The HTTP upgrade handler: every WebSocket is authenticated here, before `handleUpgrade`, so an
 * unauthorized client never gets a socket (and never costs a WebSocket's buffers). Refusals are
 * plain HTTP answers with the API's JSON error body. URLs are logged through redactUrl (`?token=`).
 * Socket caps and the per-address upgrade rate (socket-limits.ts) are applied here too; each
 * admitted socket's counts are released when its TCP socket closes, however the upgrade ended.
 */

/** A flood of 429s is logged once per address and reason per this long, not once per attempt. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

const AGENT_PATH = '/api/agent';
const LIVE_PATH = /^\/api\/cameras\/([A-Za-z0-9_-]{1,64})\/live$/;

export interface UpgradeDeps {
  access: AccessControl;
  agentServer: WebSocketServer;
  viewerServer: WebSocketServer;
  /** `authorization` is kept to re-check the credential; `beforeHello` is released at hello */
  onAgent(ws: WebSocket, cameraId: string, authorization: string | undefined, beforeHello: SocketLease): void;
  /** `socket` is the connection's own, for writes that bypass ws' framing (prepared-frames.ts); `url` the request's. */
  onViewer(ws: WebSocket, socket: Duplex, grant: ViewerGrant, url: URL): void;
  metrics: RelayMetrics;
  log: Logger;
  trustProxy: TrustedProxies;
  limits: SocketLimits;
  /** false once shutdown began: new upgrades are refused with 503 */
  accepting(): boolean;
}

export function createUpgradeHandler(deps: UpgradeDeps) {
  const lastLogged = new Map<string, number>();
  /** 429s are logged once per address and reason per interval; everything else every time */
  const shouldLog = (status: number, address: string, reason: string): boolean => {
    if (status !== 429) return true;
    const key = `${address} ${reason}`;
    const now = Date.now();
    const last = lastLogged.get(key);
    if (last !== undefined && now - last < REFUSAL_LOG_INTERVAL_MS) return false;
    if (lastLogged.size >= 10_000) lastLogged.clear();
    lastLogged.set(key, now);
    return true;
  };

  return function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Until ws owns the socket, a reset from the peer must not become an uncaught 'error'.
    const onError = () => socket.destroy();
    socket.on('error', onError);
    const url = new URL(req.url ?? '/', 'http://relay.invalid');
    const logUrl = redactUrl(req.url ?? '/');
    const address = clientAddress(req, deps.trustProxy);

    const refuse = (err: unknown, endpoint: string) => {
      const unavailable = !(err instanceof ApiError) && isDatabaseUnavailable(err);
      const apiError =
        err instanceof ApiError ? err : unavailable ? databaseUnavailable() : new ApiError(500, 'internal', 'internal error');
      if (!(err instanceof ApiError) && !unavailable) deps.log.error({ err, url: logUrl }, 'upgrade failed');
      if (shouldLog(apiError.status, address, apiError.message)) {
        deps.log.info({ url: logUrl, address, endpoint, status: apiError.status, code: apiError.code, reason: apiError.message }, 'websocket upgrade refused');
      }
      reject(socket, apiError);
    };
    /** the leases end with the TCP socket, whether ws took it or the handshake failed */
    const complete = (server: WebSocketServer, leases: SocketLease[], then: (ws: WebSocket, socket: Duplex) => void) => {
      const release = () => {
        for (const lease of leases) lease.release();
      };
      if (socket.destroyed) return release();
      socket.once('close', release);
      socket.removeListener('error', onError);
      server.handleUpgrade(req, socket, head, (ws) => then(ws, socket));
    };

    if (!deps.accepting()) {
      refuse(new ApiError(503, 'internal', 'relay shutting down'), 'none');
      return;
    }
    const live = LIVE_PATH.exec(url.pathname);
    const endpoint = url.pathname === AGENT_PATH ? 'agent' : live ? 'viewer' : 'none';
    try {
      // Before any credential check: guessing credentials (or paths) costs the guesser its rate too.
      deps.limits.takeUpgrade(address);
    } catch (err) {
      refuse(err, endpoint);
      return;
    }
    if (url.pathname === AGENT_PATH) {
      const authorization = headerValue(req.headers.authorization);
      deps.access.authenticateAgent(authorization).then(
        ({ cameraId }) => {
          let leases: ReturnType<SocketLimits['admitAgent']>;
          try {
            leases = deps.limits.admitAgent(address, cameraId);
          } catch (err) {
            refuse(err, 'agent');
            return;
          }
          complete(deps.agentServer, [leases.socket, leases.beforeHello], (ws) => deps.onAgent(ws, cameraId, authorization, leases.beforeHello));
        },
        (err: unknown) => {
          deps.metrics.agentRejected('unauthenticated');
          refuse(err, 'agent');
        },
      );
      return;
    }
    if (live) {
      const cameraId = live[1]!;
      try {
        deps.limits.checkViewerAddress(address);
      } catch (err) {
        refuse(err, 'viewer');
        return;
      }
      deps.access
        .authorizeViewer({ cameraId, url, headers: req.headers, address, viaTrustedProxy: viaTrustedProxy(req, deps.trustProxy) })
        .then((grant) => {
          // Counted synchronously on the authorization's answer, so simultaneous upgrades cannot overshoot.
          const lease = deps.limits.admitViewer(grant, address);
          complete(deps.viewerServer, [lease], (ws, upgraded) => deps.onViewer(ws, upgraded, grant, url));
        })
        .catch((err: unknown) => refuse(err, 'viewer'));
      return;
    }
    refuse(new ApiError(404, 'not_found', 'no WebSocket endpoint here'), 'none');
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function reject(socket: Duplex, err: ApiError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: { code: err.code, message: err.message } });
  const lines = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  if (err.retryAfterSeconds !== undefined) lines.push(`Retry-After: ${err.retryAfterSeconds}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
