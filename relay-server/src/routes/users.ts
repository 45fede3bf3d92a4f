import { Hono, type Context } from 'hono';
import type { UserList, UserRemoved, UserResponse } from '@picam/protocol';
import { z } from 'zod';
import { listUsers, toPublicUser } from '../db/users.ts';
import type { AuthDeps } from '../auth/deps.ts';
import { requireAdmin, type ApiEnv } from '../auth/middleware.ts';
import { clientAddress } from '../client-address.ts';
import { addUser, changeUser, newPasswordSchema, removeUser, roleSchema, usernameSchema } from '../auth/user-admin.ts';
import { readJson } from './body.ts';

/** /api/users: admin-only account management. */

const cameraIds = z.array(z.string().min(1).max(64)).max(1000);
const createBody = z
  .object({ username: usernameSchema, password: newPasswordSchema, role: roleSchema, cameraIds: cameraIds.optional() })
  .strict();
const patchBody = z
  .object({ password: newPasswordSchema.optional(), role: roleSchema.optional(), cameraIds: cameraIds.optional() })
  .strict();

export function userRoutes(deps: AuthDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const admin = requireAdmin(deps);
  const actorOf = (c: Context<ApiEnv>) => ({
    id: c.get('principal').user.id,
    address: clientAddress(c, deps.config.trustProxy),
  });

  app.get('/users', admin, async (c) => {
    const users = await Promise.all((await listUsers(deps.db)).map((u) => toPublicUser(deps.db, u)));
    return c.json({ users } satisfies UserList);
  });

  app.post('/users', admin, async (c) => {
    const body = await readJson(c, createBody);
    const user = await addUser(deps, body, actorOf(c));
    return c.json({ user: await toPublicUser(deps.db, user) } satisfies UserResponse, 201);
  });

  app.patch('/users/:id', admin, async (c) => {
    const body = await readJson(c, patchBody);
    const { user, endedSessions } = await changeUser(deps, c.req.param('id'), body, actorOf(c));
    for (const id of endedSessions) deps.live().grantRevoked(id);
    deps.live().recheckUser(user.id);
    return c.json({ user: await toPublicUser(deps.db, user) } satisfies UserResponse);
  });

  app.delete('/users/:id', admin, async (c) => {
    const { user, endedSessions, revokedShares } = await removeUser(deps, c.req.param('id'), actorOf(c));
    for (const id of [...endedSessions, ...revokedShares]) deps.live().grantRevoked(id);
    deps.live().recheckUser(user.id);
    // The links this user made are revoked with them: say which, so the admin sees it.
    return c.json({ revokedShares } satisfies UserRemoved);
  });

  return app;
}
