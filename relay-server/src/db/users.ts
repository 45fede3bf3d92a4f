import { and, asc, eq, ne } from 'drizzle-orm';
import type { Role, User } from '@picam/protocol';
import type { Queryable } from './queryable.ts';
import { userCameras, users } from './schema.ts';

/** Users and their camera grants. Synchronous (better-sqlite3); callers wrap multi-step changes in a transaction. */

export type { Role };
export type UserRow = typeof users.$inferSelect;

/** The API's User with every field filled in (GET /api/users). */
export type PublicUser = Required<User>;

export function findUserById(db: Queryable, id: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.id, id)).get();
}

export function findUserByName(db: Queryable, username: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.username, username)).get();
}

export function listUsers(db: Queryable): UserRow[] {
  return db.select().from(users).orderBy(asc(users.username)).all();
}

export function countAdmins(db: Queryable, exceptUserId?: string): number {
  const where = exceptUserId ? and(eq(users.role, 'admin'), ne(users.id, exceptUserId)) : eq(users.role, 'admin');
  return db.select({ id: users.id }).from(users).where(where).all().length;
}

export function insertUser(db: Queryable, row: UserRow): void {
  db.insert(users).values(row).run();
}

export function updateUser(db: Queryable, id: string, patch: Partial<Pick<UserRow, 'passwordHash' | 'role' | 'passwordChangedAt'>>): void {
  db.update(users).set(patch).where(eq(users.id, id)).run();
}

export function deleteUser(db: Queryable, id: string): boolean {
  return db.delete(users).where(eq(users.id, id)).run().changes > 0;
}

export function grantedCameraIds(db: Queryable, userId: string): string[] {
  return db
    .select({ cameraId: userCameras.cameraId })
    .from(userCameras)
    .where(eq(userCameras.userId, userId))
    .all()
    .map((r) => r.cameraId);
}

export function isGranted(db: Queryable, userId: string, cameraId: string): boolean {
  return (
    db
      .select({ userId: userCameras.userId })
      .from(userCameras)
      .where(and(eq(userCameras.userId, userId), eq(userCameras.cameraId, cameraId)))
      .get() !== undefined
  );
}

export function setGrants(db: Queryable, userId: string, cameraIds: readonly string[]): void {
  db.delete(userCameras).where(eq(userCameras.userId, userId)).run();
  for (const cameraId of new Set(cameraIds)) db.insert(userCameras).values({ userId, cameraId }).run();
}

export function toPublicUser(db: Queryable, row: UserRow): PublicUser {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    createdAt: row.createdAt,
    cameraIds: row.role === 'admin' ? [] : grantedCameraIds(db, row.id),
  };
}
