import { Hono } from 'hono';
import type { Hono as HonoApp } from 'hono';
import { ApiError } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * The Hono application, without listen(): tests drive it with `app.request()`, server.ts serves it.
 * Route groups are built by their own modules and mounted here; one error handler turns ApiError
 * (and anything unexpected) into `{ error: { code, message } }`.
 */
export interface AppParts {
  log: Logger;
  /** /healthz and /metrics */
  observability: HonoApp;
  /** everything under /api (auth, cameras, shares, users, enroll) */
  api: HonoApp;
  /** the browser app: static assets and page routes (mounted last) */
  web?: HonoApp;
}

export function createApp(parts: AppParts): Hono {
  const app = new Hono();
  app.route('/', parts.observability);
  app.route('/api', parts.api);
  if (parts.web) app.route('/', parts.web);
  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'not found' } }, 404));
  app.onError((err, c) => {
    if (err instanceof ApiError) {
      if (err.retryAfterSeconds !== undefined) c.header('Retry-After', String(err.retryAfterSeconds));
      return c.json({ error: { code: err.code, message: err.message } }, err.status);
    }
    parts.log.error({ err, path: c.req.path }, 'unhandled error in request');
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  });
  return app;
}
