import { Hono } from 'hono';
import type { RelayMetrics } from '../metrics.ts';

/**
 * GET /healthz for load balancers and systemd watchdogs; GET /metrics for Prometheus. /metrics is
 * open like the API doc says: bind the relay or restrict the path at the proxy.
 */
export interface ObservabilityDeps {
  metrics: RelayMetrics;
  /** cameras online and viewers connected, right now */
  totals(): { camerasOnline: number; viewers: number };
  /** throws (or returns false) when the database cannot answer */
  databaseOk(): boolean;
  startedAt: number;
}

export function observabilityRoutes(deps: ObservabilityDeps): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => {
    const { camerasOnline, viewers } = deps.totals();
    const uptimeSeconds = Math.round((Date.now() - deps.startedAt) / 1000);
    let dbOk: boolean;
    try {
      dbOk = deps.databaseOk();
    } catch {
      dbOk = false;
    }
    c.header('Cache-Control', 'no-store');
    if (!dbOk) return c.json({ status: 'unavailable', reason: 'database', uptimeSeconds, cameras: camerasOnline, viewers }, 503);
    return c.json({ status: 'ok', uptimeSeconds, cameras: camerasOnline, viewers });
  });

  app.get('/metrics', async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.body(text, 200, { 'Content-Type': deps.metrics.registry.contentType, 'Cache-Control': 'no-store' });
  });

  return app;
}
