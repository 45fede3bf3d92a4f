import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { ApiError, unauthenticated } from '../errors.ts';
import type { RelayConfig } from '../config.ts';
import type { AuthDeps } from './deps.ts';
import { viaTrustedProxy } from '../client-address.ts';
import { isOwnOrigin } from './origin.ts';
import { SESSION_COOKIE } from './sessions.ts';
import { authenticateSession, requireAdminRole, type Principal } from './sessions.ts';

/** Hono glue for the /api app: who is asking (session), what they may do, and CSRF. */

export type ApiEnv = { Variables: { principal: Principal } };

export function bearerToken(c: Context): string | undefined {
  const header = c.req.header('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  // A present but malformed Authorization header never falls back to the cookie.
  return match?.[1] ?? '';
}

/** Bearer first (API clients), else the cookie (browsers). */
export function requireSession(deps: AuthDeps): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const token = bearerToken(c) ?? getCookie(c, SESSION_COOKIE);
    if (!token) throw unauthenticated();
    c.set('principal', await authenticateSession(deps, token));
    await next();
  };
}

export function requireAdmin(deps: AuthDeps): MiddlewareHandler<ApiEnv> {
  const session = requireSession(deps);
  return (c, next) =>
    session(c, async () => {
      requireAdminRole(c.get('principal').user);
      await next();
    });
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * CSRF: a write that a browser would authenticate with the cookie must carry an Origin that is
 * ours. Bearer requests are exempt (a cross-site page cannot set Authorization without a CORS
 * preflight, which the relay never grants). Unauthenticated writes (login, enroll) without an
 * Origin come from non-browser clients and pass; with a foreign Origin they are refused (login CSRF).
 */
export function csrfGuard(config: RelayConfig): MiddlewareHandler {
  return async (c, next) => {
    if (UNSAFE.has(c.req.method) && bearerToken(c) === undefined) {
      const origin = c.req.header('origin');
      const hasCookie = getCookie(c, SESSION_COOKIE) !== undefined;
      if ((hasCookie || origin !== undefined) && !isOwnOrigin(origin, config, (n) => c.req.header(n), viaTrustedProxy(c, config.trustProxy))) {
        throw new ApiError(403, 'csrf_failed', 'cross-site request refused');
      }
    }
    await next();
  };
}
