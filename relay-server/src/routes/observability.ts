import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { RelayMetrics } from '../metrics.ts';

/**
 * GET /healthz for load balancers and systemd watchdogs; GET /metrics for Prometheus. Metrics name
 * every camera id, so the public port answers /metrics only to `Authorization: Bearer
 * $METRICS_TOKEN` (404 otherwise, as if absent: a proxy config slip exposes nothing); the
 * separate listener (METRICS_PORT, loopback by default) serves it openly and nothing else.
 */
export interface ObservabilityDeps {
  metrics: RelayMetrics;
  /** NODE_ID: which relay answered, behind a balancer */
  nodeId: string;
  /** this node's own agents (cameras online here) and viewers, right now */
  totals(): { camerasOnline: number; viewers: number };
  /** rejects (or resolves false) when the registry cannot answer */
  databaseOk(): Promise<boolean>;
  startedAt: number;
  /** METRICS_TOKEN: opens /metrics on the public port to this Bearer token */
  metricsToken?: string;
}

/** The public port's routes: /healthz, and /metrics behind METRICS_TOKEN. */
export function observabilityRoutes(deps: ObservabilityDeps): Hono {
  const app = new Hono();
  const token = deps.metricsToken === undefined ? undefined : digest(deps.metricsToken);

  app.get('/healthz', async (c) => {
    const { camerasOnline, viewers } = deps.totals();
    const uptimeSeconds = Math.round((Date.now() - deps.startedAt) / 1000);
    let dbOk: boolean;
    try {
      dbOk = await deps.databaseOk();
    } catch {
      dbOk = false;
    }
    c.header('Cache-Control', 'no-store');
    if (!dbOk) return c.json({ status: 'unavailable', reason: 'database', node: deps.nodeId, uptimeSeconds, cameras: camerasOnline, viewers }, 503);
    return c.json({ status: 'ok', node: deps.nodeId, uptimeSeconds, cameras: camerasOnline, viewers });
  });

  app.get('/metrics', async (c) => {
    const presented = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    // Digests have one length, so the comparison is constant-time whatever was presented.
    if (!token || presented === undefined || !timingSafeEqual(token, digest(presented))) {
      return c.json({ error: { code: 'not_found', message: 'not found' } }, 404);
    }
    return metricsBody(c, deps.metrics);
  });

  return app;
}

/** The metrics listener's app (METRICS_PORT): GET /metrics, open, and nothing else. */
export function metricsListenerRoutes(metrics: RelayMetrics): Hono {
  const app = new Hono();
  app.get('/metrics', (c) => metricsBody(c, metrics));
  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'not found' } }, 404));
  return app;
}

async function metricsBody(c: Context, metrics: RelayMetrics): Promise<Response> {
  const text = await metrics.registry.metrics();
  return c.body(text, 200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
