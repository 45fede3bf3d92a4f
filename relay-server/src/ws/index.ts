import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode, VIEWER_PROTOCOL } from '@picam/protocol';
import type { TrustedProxies } from '../client-address.ts';
import type { SocketLimitsConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { AccessControl, CameraRegistry } from '../services.ts';
import type { StreamHub } from '../streams/hub.ts';
import type { BackfillTarget } from '../recording/backfill-target.ts';
import { acceptAgent } from './agent-connection.ts';
import { AGENT_MAX_MESSAGE_BYTES } from './agent-ingest.ts';
import { startHeartbeat } from './heartbeat.ts';
import type { ConnectionRegistry, GrantVerdict } from './connection-registry.ts';
import { SocketLimits } from './socket-limits.ts';
import { createUpgradeHandler } from './upgrade.ts';
import { acceptViewer } from './viewer-connection.ts';

/**
 * The relay's WebSocket side on the Node http server: two endpoints (agents, viewers), each its own
 * WebSocketServer with its own maxPayload, the heartbeat, a periodic re-check of viewer grants and
 * agent credentials, socket caps, and shutdown (1001 to everyone).
 */

/** Viewers only send acks: a few KiB is plenty, and all a hostile viewer can make the relay buffer. */
const VIEWER_MAX_MESSAGE_BYTES = 4 * 1024;
/**
 * Grants and device credentials are re-checked now and then even without a revocation call:
 * `picam-relay users passwd` ends sessions from another process, which cannot reach this one.
 */
const GRANT_SWEEP_MS = 60_000;
/** How long shutdown waits for close handshakes before cutting sockets. */
const SHUTDOWN_GRACE_MS = 3_000;

export interface WebSocketDeps {
  connections: ConnectionRegistry;
  hub: StreamHub;
  access: AccessControl;
  registry: CameraRegistry;
  metrics: RelayMetrics;
  log: Logger;
  trustProxy: TrustedProxies;
  socketLimits: SocketLimitsConfig;
  agentHelloTimeoutMs: number;
  /** the recorder's side of backfill (agent-connection.ts); absent: agents are never asked for it */
  backfill?: BackfillTarget;
  heartbeatMs?: number;
  /** how often grants and device credentials are re-checked (default 60 s; tests shorten it) */
  sweepMs?: number;
}

export interface RelaySockets {
  /** 1001 to every socket; resolves when all are closed (or cut after a grace period) */
  close(): Promise<void>;
}

export function attachWebSockets(server: Server, deps: WebSocketDeps): RelaySockets {
  const { connections } = deps;
  const agentServer = new WebSocketServer({ noServer: true, maxPayload: AGENT_MAX_MESSAGE_BYTES, perMessageDeflate: false });
  const viewerServer = new WebSocketServer({
    noServer: true,
    maxPayload: VIEWER_MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(VIEWER_PROTOCOL) ? VIEWER_PROTOCOL : false),
  });
  let accepting = true;
  const limits = new SocketLimits(deps.socketLimits);
  const agentDeps = { ...deps, connections, helloTimeoutMs: deps.agentHelloTimeoutMs };

  const onUpgrade = createUpgradeHandler({
    access: deps.access,
    agentServer,
    viewerServer,
    onAgent: (ws, cameraId, authorization, beforeHello) => acceptAgent(ws, cameraId, authorization, beforeHello, agentDeps),
    onViewer: (ws, socket, grant, url) => acceptViewer(ws, socket, grant, { ...deps, connections }, url),
    metrics: deps.metrics,
    log: deps.log,
    trustProxy: deps.trustProxy,
    limits,
    accepting: () => accepting,
  });
  server.on('upgrade', onUpgrade);

  const heartbeat = startHeartbeat([agentServer, viewerServer], deps.heartbeatMs);
  const sweep = setInterval(() => {
    const verdicts = new Map<string, Promise<GrantVerdict>>();
    for (const viewer of connections.viewers()) viewer.recheck(verdicts);
    for (const agent of connections.agentSockets()) agent.recheck();
  }, deps.sweepMs ?? GRANT_SWEEP_MS);
  sweep.unref();

  async function close(): Promise<void> {
    accepting = false;
    heartbeat.stop();
    clearInterval(sweep);
    const sockets = [...viewerServer.clients, ...agentServer.clients];
    await Promise.all(sockets.map((ws) => closeOne(ws)));
    server.off('upgrade', onUpgrade);
    agentServer.close();
    viewerServer.close();
  }

  return { close };
}

function closeOne(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === ws.CLOSED) return resolve();
    const timer = setTimeout(() => ws.terminate(), SHUTDOWN_GRACE_MS);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close(CloseCode.GoingAway, 'relay shutting down');
  });
}
