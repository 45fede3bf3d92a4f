import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { ApiError } from '../errors.ts';
import { recentAudit } from '../db/audit.ts';
import { databaseUnavailable, isDatabaseUnavailable, isUnstorableText, unstorableText } from '../db/availability.ts';
import type { AuthDeps } from '../auth/deps.ts';
import type { PasswordCheck } from '../auth/login.ts';
import { csrfGuard, requireAdmin, type ApiEnv } from '../auth/middleware.ts';
import { authRoutes } from './auth.ts';
import { cameraRoutes } from './cameras.ts';
import { enrollRoutes } from './enroll.ts';
import { recordingRoutes } from './recordings.ts';
import { shareRoutes } from './shares.ts';
import { userRoutes } from './users.ts';

/**
 * Everything under /api (app.ts mounts it): cross-cutting guards first (security headers, no
 * caching of answers that may hold tokens, body size cap, CSRF), then the route groups.
 */

export const MAX_BODY_BYTES = 16 * 1024;

export function apiRoutes(deps: AuthDeps, passwords: PasswordCheck): Hono {
  const api = new Hono();
  // The registry out of reach (Postgres down) is a clear 503 database_unavailable, not a 500;
  // app.ts's handler answers whatever is thrown from here.
  api.onError((err) => {
    if (isDatabaseUnavailable(err)) throw databaseUnavailable();
    throw isUnstorableText(err) ? unstorableText() : err;
  });
  api.use(secureHeaders({ crossOriginResourcePolicy: 'same-origin' }));
  api.use(async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  api.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError(413, 'payload_too_large', `request body over ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  api.use(csrfGuard(deps.config));

  api.route('/', authRoutes(deps, passwords));
  api.route('/', cameraRoutes(deps));
  api.route('/', shareRoutes(deps));
  api.route('/', recordingRoutes(deps));
  api.route('/', userRoutes(deps));
  api.route('/', enrollRoutes(deps));

  const audit = new Hono<ApiEnv>();
  audit.get('/audit', requireAdmin(deps), async (c) => c.json({ entries: await recentAudit(deps.db, 200) }));
  api.route('/', audit);
  return api;
}
