import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { transaction, type RegistryDb } from '../db/client.ts';
import { audit } from '../db/audit.ts';
import { listCameras } from '../db/cameras.ts';
import { liveSessionIds, revokeUserSessions } from '../db/sessions.ts';
import { revokeSharesBy } from '../db/shares.ts';
import { countAdmins, deleteUser, findUserById, findUserByName, insertUserIfAbsent, setGrants, updateUser, type Role, type UserRow } from '../db/users.ts';
import { randomId } from './ids.ts';
import type { PasswordHasher } from './passwords.ts';

/**
 * User management shared by the HTTP API and `picam-relay users`. Returns the session ids it
 * ended (and, on removal, the share links it revoked) so the caller can cut their live viewers
 * (the CLI runs in another process and cannot). A removed user's share links are revoked with
 * them: a link outliving the account that made it would be access nobody answers for.
 * The last admin can be neither removed nor demoted: that would lock everyone out.
 */

export interface UserAdminDeps {
  db: RegistryDb;
  hasher: PasswordHasher;
  now: () => number;
}

export interface Actor {
  id: string;
  address: string | null;
}

const conflict = (message: string) => new ApiError(409, 'conflict', message);

async function checkCameras(db: RegistryDb, cameraIds: readonly string[]): Promise<void> {
  const known = new Set((await listCameras(db, cameraIds)).map((c) => c.id));
  const missing = cameraIds.filter((id) => !known.has(id));
  if (missing.length > 0) throw new ApiError(400, 'validation_failed', `cameraIds: unknown camera ${missing.join(', ')}`);
}

export async function addUser(
  d: UserAdminDeps,
  input: { username: string; password: string; role: Role; cameraIds?: string[] },
  actor: Actor,
): Promise<UserRow> {
  if (await findUserByName(d.db, input.username)) throw conflict('username already taken');
  await checkCameras(d.db, input.cameraIds ?? []);
  const passwordHash = await d.hasher.hash(input.password);
  const now = d.now();
  const row: UserRow = {
    id: randomId(12),
    username: input.username,
    passwordHash,
    role: input.role,
    createdAt: now,
    passwordChangedAt: now,
  };
  await transaction(d.db, async (tx) => {
    // Re-checked inside the transaction: the hash above took a while (and another node may have
    // inserted it meanwhile: then the unique username refuses the insert).
    if (!(await insertUserIfAbsent(tx, row))) throw conflict('username already taken');
    await setGrants(tx, row.id, input.cameraIds ?? []);
    await audit(tx, now, { actor: actor.id, action: 'user.add', target: row.username, address: actor.address, detail: { role: row.role } });
  });
  return row;
}

export async function changeUser(
  d: UserAdminDeps,
  userId: string,
  patch: { password?: string; role?: Role; cameraIds?: string[] },
  actor: Actor,
): Promise<{ user: UserRow; endedSessions: string[] }> {
  const user = await findUserById(d.db, userId);
  if (!user) throw new ApiError(404, 'not_found', 'no such user');
  if (patch.role === 'viewer' && user.role === 'admin' && (await countAdmins(d.db, userId)) === 0) {
    throw conflict('cannot demote the last admin');
  }
  if (patch.cameraIds) await checkCameras(d.db, patch.cameraIds);
  const passwordHash = patch.password === undefined ? undefined : await d.hasher.hash(patch.password);
  const now = d.now();
  const endedSessions = await transaction(d.db, async (tx) => {
    if (patch.role !== undefined) await updateUser(tx, userId, { role: patch.role });
    if (patch.cameraIds !== undefined) await setGrants(tx, userId, patch.cameraIds);
    await audit(tx, now, {
      actor: actor.id,
      action: passwordHash ? 'password.change' : 'user.update',
      target: user.username,
      address: actor.address,
      detail: { password: passwordHash !== undefined, role: patch.role ?? null, cameras: patch.cameraIds?.length ?? null },
    });
    if (passwordHash === undefined) return [];
    await updateUser(tx, userId, { passwordHash, passwordChangedAt: now });
    return revokeUserSessions(tx, userId, now);
  });
  return { user: (await findUserById(d.db, userId)) ?? user, endedSessions };
}

export async function removeUser(
  d: UserAdminDeps,
  userId: string,
  actor: Actor,
): Promise<{ user: UserRow; endedSessions: string[]; revokedShares: string[] }> {
  return transaction(d.db, async (tx) => {
    const user = await findUserById(tx, userId);
    if (!user) throw new ApiError(404, 'not_found', 'no such user');
    if (user.role === 'admin' && (await countAdmins(tx, userId)) === 0) throw conflict('cannot remove the last admin');
    const now = d.now();
    const endedSessions = await liveSessionIds(tx, userId, now);
    const revokedShares = await revokeSharesBy(tx, userId, now);
    await deleteUser(tx, userId);
    await audit(tx, now, {
      actor: actor.id,
      action: 'user.remove',
      target: user.username,
      address: actor.address,
      detail: { revokedShares: revokedShares.length },
    });
    for (const id of revokedShares) {
      await audit(tx, now, { actor: actor.id, action: 'share.revoke', target: id, address: actor.address, detail: { reason: 'user removed' } });
    }
    return { user, endedSessions, revokedShares };
  });
}

/**
 * Account input rules shared by the HTTP API and the CLI. Usernames are lower-cased (one account
 * per spelling; the per-username rate limit cannot be dodged with capitals). The password cap
 * keeps request bodies small; PICAM_ADMIN_PASSWORD has the same minimum (config.ts).
 */
export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'username: 1-64 of a-z 0-9 . _ -, starting with a letter or digit');

export const newPasswordSchema = z.string().min(8, 'password: at least 8 characters').max(1024);

export const roleSchema = z.enum(['admin', 'viewer']);
