import { and, asc, eq, ne } from 'drizzle-orm';
import type { Role, User } from '@picam/protocol';
import type { Queryable } from './queryable.ts';
import { userCameras, users } from './pg-schema.ts';

/** Users and their camera grants. Callers wrap multi-step changes in a transaction (db/client.ts). */

export type { Role };
export type UserRow = typeof users.$inferSelect;

/** The API's User with every field filled in (GET /api/users). */
export type PublicUser = Required<User>;

export async function findUserById(db: Queryable, id: string): Promise<UserRow | undefined> {
  return (await db.select().from(users).where(eq(users.id, id)).limit(1))[0];
}

export async function findUserByName(db: Queryable, username: string): Promise<UserRow | undefined> {
  return (await db.select().from(users).where(eq(users.username, username)).limit(1))[0];
}

export async function listUsers(db: Queryable): Promise<UserRow[]> {
  return db.select().from(users).orderBy(asc(users.username));
}

export async function countAdmins(db: Queryable, exceptUserId?: string): Promise<number> {
  const where = exceptUserId ? and(eq(users.role, 'admin'), ne(users.id, exceptUserId)) : eq(users.role, 'admin');
  return (await db.select({ id: users.id }).from(users).where(where)).length;
}

/** Inserts unless the username is taken (by anyone, also concurrently); returns whether this row went in. */
export async function insertUserIfAbsent(db: Queryable, row: UserRow): Promise<boolean> {
  const inserted = await db.insert(users).values(row).onConflictDoNothing({ target: users.username }).returning({ id: users.id });
  return inserted.length > 0;
}

export async function updateUser(db: Queryable, id: string, patch: Partial<Pick<UserRow, 'passwordHash' | 'role' | 'passwordChangedAt'>>): Promise<void> {
  await db.update(users).set(patch).where(eq(users.id, id));
}

export async function deleteUser(db: Queryable, id: string): Promise<boolean> {
  return (await db.delete(users).where(eq(users.id, id)).returning({ id: users.id })).length > 0;
}

export async function grantedCameraIds(db: Queryable, userId: string): Promise<string[]> {
  const rows = await db.select({ cameraId: userCameras.cameraId }).from(userCameras).where(eq(userCameras.userId, userId));
  return rows.map((r) => r.cameraId);
}

export async function isGranted(db: Queryable, userId: string, cameraId: string): Promise<boolean> {
  const rows = await db
    .select({ userId: userCameras.userId })
    .from(userCameras)
    .where(and(eq(userCameras.userId, userId), eq(userCameras.cameraId, cameraId)))
    .limit(1);
  return rows.length > 0;
}

export async function setGrants(db: Queryable, userId: string, cameraIds: readonly string[]): Promise<void> {
  await db.delete(userCameras).where(eq(userCameras.userId, userId));
  const rows = [...new Set(cameraIds)].map((cameraId) => ({ userId, cameraId }));
  if (rows.length > 0) await db.insert(userCameras).values(rows);
}

export async function toPublicUser(db: Queryable, row: UserRow): Promise<PublicUser> {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    createdAt: row.createdAt,
    cameraIds: row.role === 'admin' ? [] : await grantedCameraIds(db, row.id),
  };
}
