import type { WebSocket, WebSocketServer } from 'ws';

const HEARTBEAT_INTERVAL_MS = 30_000;

/**
 * Pings every client of the servers every interval and terminates those that did not answer the
 * previous ping: a peer that vanished without a FIN (a Pi losing power, a phone leaving coverage)
 * otherwise holds its socket, its viewer slot and the agent's stream for hours.
 */
export function startHeartbeat(servers: WebSocketServer[], intervalMs = HEARTBEAT_INTERVAL_MS): { stop(): void } {
  const waiting = new WeakSet<WebSocket>();
  const watched = new WeakSet<WebSocket>();
  const onPong = function (this: WebSocket) {
    waiting.delete(this);
  };
  const timer = setInterval(() => {
    for (const server of servers) {
      for (const ws of server.clients) {
        if (!watched.has(ws)) {
          watched.add(ws);
          ws.on('pong', onPong);
        }
        if (waiting.has(ws)) {
          ws.terminate();
          continue;
        }
        waiting.add(ws);
        ws.ping();
      }
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
