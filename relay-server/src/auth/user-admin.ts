import { z } from 'zod';
import { ApiError } from '../errors.ts';
import type { Db } from '../db/client.ts';
import { audit } from '../db/audit.ts';
import { listCameras } from '../db/cameras.ts';
import { liveSessionIds, revokeUserSessions } from '../db/sessions.ts';
import { revokeSharesBy } from '../db/shares.ts';
import { countAdmins, deleteUser, findUserById, findUserByName, insertUser, setGrants, updateUser, type Role, type UserRow } from '../db/users.ts';
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
  db: Db;
  hasher: PasswordHasher;
  now: () => number;
}

export interface Actor {
  id: string;
  address: string | null;
}

const conflict = (message: string) => new ApiError(409, 'conflict', message);

function checkCameras(db: Db, cameraIds: readonly string[]): void {
  const known = new Set(listCameras(db, cameraIds).map((c) => c.id));
  const missing = cameraIds.filter((id) => !known.has(id));
  if (missing.length > 0) throw new ApiError(400, 'validation_failed', `cameraIds: unknown camera ${missing.join(', ')}`);
}

export async function addUser(
  d: UserAdminDeps,
  input: { username: string; password: string; role: Role; cameraIds?: string[] },
  actor: Actor,
): Promise<UserRow> {
  if (findUserByName(d.db, input.username)) throw conflict('username already taken');
  checkCameras(d.db, input.cameraIds ?? []);
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
  d.db.transaction((tx) => {
    // Re-checked inside the transaction: the hash above took a while.
    if (findUserByName(tx, input.username)) throw conflict('username already taken');
    insertUser(tx, row);
    setGrants(tx, row.id, input.cameraIds ?? []);
    audit(tx, now, { actor: actor.id, action: 'user.add', target: row.username, address: actor.address, detail: { role: row.role } });
  });
  return row;
}

export async function changeUser(
  d: UserAdminDeps,
  userId: string,
  patch: { password?: string; role?: Role; cameraIds?: string[] },
  actor: Actor,
): Promise<{ user: UserRow; endedSessions: string[] }> {
  const user = findUserById(d.db, userId);
  if (!user) throw new ApiError(404, 'not_found', 'no such user');
  if (patch.role === 'viewer' && user.role === 'admin' && countAdmins(d.db, userId) === 0) {
    throw conflict('cannot demote the last admin');
  }
  if (patch.cameraIds) checkCameras(d.db, patch.cameraIds);
  const passwordHash = patch.password === undefined ? undefined : await d.hasher.hash(patch.password);
  const now = d.now();
  const endedSessions = d.db.transaction((tx) => {
    if (patch.role !== undefined) updateUser(tx, userId, { role: patch.role });
    if (patch.cameraIds !== undefined) setGrants(tx, userId, patch.cameraIds);
    audit(tx, now, {
      actor: actor.id,
      action: passwordHash ? 'password.change' : 'user.update',
      target: user.username,
      address: actor.address,
      detail: { password: passwordHash !== undefined, role: patch.role ?? null, cameras: patch.cameraIds?.length ?? null },
    });
    if (passwordHash === undefined) return [];
    updateUser(tx, userId, { passwordHash, passwordChangedAt: now });
    return revokeUserSessions(tx, userId, now);
  });
  return { user: findUserById(d.db, userId) ?? user, endedSessions };
}

export function removeUser(
  d: UserAdminDeps,
  userId: string,
  actor: Actor,
): { user: UserRow; endedSessions: string[]; revokedShares: string[] } {
  return d.db.transaction((tx) => {
    const user = findUserById(tx, userId);
    if (!user) throw new ApiError(404, 'not_found', 'no such user');
    if (user.role === 'admin' && countAdmins(tx, userId) === 0) throw conflict('cannot remove the last admin');
    const now = d.now();
    const endedSessions = liveSessionIds(tx, userId, now);
    const revokedShares = revokeSharesBy(tx, userId, now);
    deleteUser(tx, userId);
    audit(tx, now, {
      actor: actor.id,
      action: 'user.remove',
      target: user.username,
      address: actor.address,
      detail: { revokedShares: revokedShares.length },
    });
    for (const id of revokedShares) {
      audit(tx, now, { actor: actor.id, action: 'share.revoke', target: id, address: actor.address, detail: { reason: 'user removed' } });
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
