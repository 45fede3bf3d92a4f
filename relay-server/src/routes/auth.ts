import { Hono, type Context } from 'hono';
import type { LoginResponse, User, UserResponse } from '@picam/protocol';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { audit } from '../db/audit.ts';
import { transaction } from '../db/client.ts';
import { revokeSession, revokeUserSessions } from '../db/sessions.ts';
import { updateUser, type UserRow } from '../db/users.ts';
import type { AuthDeps } from '../auth/deps.ts';
import type { PasswordCheck } from '../auth/login.ts';
import { requireSession, type ApiEnv } from '../auth/middleware.ts';
import { isSecureRequest } from '../auth/origin.ts';
import { clientAddress, viaTrustedProxy } from '../client-address.ts';
import { newPasswordSchema } from '../auth/user-admin.ts';
import { SESSION_COOKIE } from '../auth/sessions.ts';
import { issueSession } from '../auth/sessions.ts';
import { readJson } from './body.ts';

/** /api/auth: login, logout, who am I, password change. */

const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) }).strict();
const passwordBody = z.object({ currentPassword: z.string().min(1).max(1024), newPassword: newPasswordSchema }).strict();

const publicUser = (u: UserRow): User => ({ id: u.id, username: u.username, role: u.role });

function cookieOptions(c: Context, deps: AuthDeps) {
  return {
    httpOnly: true,
    sameSite: 'Strict' as const,
    path: '/',
    secure: isSecureRequest(c.req.url, (n) => c.req.header(n), viaTrustedProxy(c, deps.config.trustProxy)),
  };
}

export function authRoutes(deps: AuthDeps, passwords: PasswordCheck): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const session = requireSession(deps);

  app.post('/auth/login', async (c) => {
    const body = await readJson(c, loginBody);
    const address = clientAddress(c, deps.config.trustProxy);
    const user = await passwords.check(body.username, body.password, address);
    const issued = await issueSession(deps, user, { userAgent: c.req.header('user-agent'), address });
    await audit(deps.db, deps.now(), { actor: user.id, action: 'login.success', target: user.username, address });
    setCookie(c, SESSION_COOKIE, issued.token, { ...cookieOptions(c, deps), maxAge: deps.config.sessionTtlSeconds });
    return c.json({ token: issued.token, expiresAt: issued.session.expiresAt, user: publicUser(user) } satisfies LoginResponse);
  });

  app.post('/auth/logout', session, async (c) => {
    const { user, session: current } = c.get('principal');
    await revokeSession(deps.db, current.id, deps.now());
    await audit(deps.db, deps.now(), { actor: user.id, action: 'logout', address: clientAddress(c, deps.config.trustProxy) });
    deps.live().grantRevoked(current.id);
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c, deps));
    return c.body(null, 204);
  });

  app.get('/auth/me', session, (c) => c.json({ user: publicUser(c.get('principal').user) } satisfies UserResponse));

  app.post('/auth/password', session, async (c) => {
    const body = await readJson(c, passwordBody);
    const { user, session: current } = c.get('principal');
    const address = clientAddress(c, deps.config.trustProxy);
    await passwords.checkCurrent(user, body.currentPassword, address);
    const hash = await deps.hasher.hash(body.newPassword);
    const now = deps.now();
    const revoked = await transaction(deps.db, async (tx) => {
      await updateUser(tx, user.id, { passwordHash: hash, passwordChangedAt: now });
      await audit(tx, now, { actor: user.id, action: 'password.change', target: user.username, address });
      return revokeUserSessions(tx, user.id, now, current.id);
    });
    for (const id of revoked) deps.live().grantRevoked(id);
    return c.body(null, 204);
  });

  return app;
}
