import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { parseSettings } from '../db/cameras.ts';
import type { AuthDeps } from '../auth/deps.ts';
import { consumeEnrollment } from '../auth/device-credentials.ts';
import type { ApiEnv } from '../auth/middleware.ts';
import { clientAddress } from '../client-address.ts';
import { createRateLimiter } from '../auth/rate-limit.ts';
import { readJson } from './body.ts';

/**
 * POST /api/enroll: an agent trades its one-time token for a device credential. Open to anyone
 * holding a token, so every attempt counts against the caller's address (tokens are 256-bit,
 * guessing is hopeless anyway; this keeps floods cheap).
 */

const ENROLL_ATTEMPTS_PER_ADDRESS = 20;
const ENROLL_WINDOW_MS = 15 * 60 * 1000;

const body = z.object({ token: z.string().min(1).max(200) }).strict();

export function enrollRoutes(deps: AuthDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const limiter = createRateLimiter({ limit: ENROLL_ATTEMPTS_PER_ADDRESS, windowMs: ENROLL_WINDOW_MS, now: deps.now });

  app.post('/enroll', async (c) => {
    const address = clientAddress(c, deps.config.trustProxy);
    const wait = limiter.blockedFor(address);
    if (wait !== undefined) throw new ApiError(429, 'rate_limited', 'too many enrollment attempts', wait);
    limiter.record(address);
    const { token } = await readJson(c, body);
    const { camera, credential, replaced } = await consumeEnrollment(deps, token, address);
    if (replaced) deps.live().credentialRevoked(camera.id);
    deps.log.info({ cameraId: camera.id }, 'camera enrolled');
    return c.json({ cameraId: camera.id, name: camera.name, credential, settings: parseSettings(camera.settings) });
  });

  return app;
}
