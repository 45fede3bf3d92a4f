import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { clientAddress, viaTrustedProxy, type TrustedProxies } from '../client-address.ts';
import { ApiError } from '../errors.ts';
import { redactUrl, type Logger } from '../logger.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { AccessControl, ViewerGrant } from '../services.ts';

/**
 * The HTTP upgrade handler: every WebSocket is authenticated here, before `handleUpgrade`, so an
 * unauthorized client never gets a socket (and never costs a WebSocket's buffers). Refusals are
 * plain HTTP answers with the API's JSON error body. URLs are logged through redactUrl (`?token=`).
 */

export const AGENT_PATH = '/api/agent';
const LIVE_PATH = /^\/api\/cameras\/([A-Za-z0-9_-]{1,64})\/live$/;

export interface UpgradeDeps {
  access: AccessControl;
  agentServer: WebSocketServer;
  viewerServer: WebSocketServer;
  onAgent(ws: WebSocket, cameraId: string): void;
  /** `socket` is the connection's own, for writes that bypass ws' framing (prepared-frames.ts). */
  onViewer(ws: WebSocket, socket: Duplex, grant: ViewerGrant): void;
  metrics: RelayMetrics;
  log: Logger;
  trustProxy: TrustedProxies;
  /** false once shutdown began: new upgrades are refused with 503 */
  accepting(): boolean;
}

export function createUpgradeHandler(deps: UpgradeDeps) {
  return function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Until ws owns the socket, a reset from the peer must not become an uncaught 'error'.
    const onError = () => socket.destroy();
    socket.on('error', onError);
    const url = new URL(req.url ?? '/', 'http://relay.invalid');
    const logUrl = redactUrl(req.url ?? '/');
    const address = clientAddress(req, deps.trustProxy);

    const refuse = (err: unknown, endpoint: string) => {
      const apiError =
        err instanceof ApiError ? err : new ApiError(500, 'internal', 'internal error');
      if (!(err instanceof ApiError)) deps.log.error({ err, url: logUrl }, 'upgrade failed');
      deps.log.info({ url: logUrl, address, endpoint, status: apiError.status, code: apiError.code, reason: apiError.message }, 'websocket upgrade refused');
      reject(socket, apiError);
    };
    const complete = (server: WebSocketServer, then: (ws: WebSocket, socket: Duplex) => void) => {
      if (socket.destroyed) return;
      socket.removeListener('error', onError);
      server.handleUpgrade(req, socket, head, (ws) => then(ws, socket));
    };

    if (!deps.accepting()) {
      refuse(new ApiError(503, 'internal', 'relay shutting down'), 'none');
      return;
    }
    if (url.pathname === AGENT_PATH) {
      let cameraId: string;
      try {
        cameraId = deps.access.authenticateAgent(headerValue(req.headers.authorization)).cameraId;
      } catch (err) {
        deps.metrics.agentRejected('unauthenticated');
        refuse(err, 'agent');
        return;
      }
      complete(deps.agentServer, (ws) => deps.onAgent(ws, cameraId));
      return;
    }
    const live = LIVE_PATH.exec(url.pathname);
    if (live) {
      const cameraId = live[1]!;
      deps.access
        .authorizeViewer({ cameraId, url, headers: req.headers, address, viaTrustedProxy: viaTrustedProxy(req, deps.trustProxy) })
        .then((grant) => complete(deps.viewerServer, (ws, upgraded) => deps.onViewer(ws, upgraded, grant)))
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
