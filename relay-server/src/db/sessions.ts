import { and, eq, gt, isNull, ne } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { sessions } from './pg-schema.ts';

/** Session rows: one per issued session JWT (its jti). Revocation lives here. */

export type SessionRow = typeof sessions.$inferSelect;

export async function insertSession(db: Queryable, row: SessionRow): Promise<void> {
  await db.insert(sessions).values(row);
}

export async function findSession(db: Queryable, id: string): Promise<SessionRow | undefined> {
  return (await db.select().from(sessions).where(eq(sessions.id, id)).limit(1))[0];
}

export function isSessionLive(row: SessionRow | undefined, now: number): row is SessionRow {
  return row !== undefined && row.revokedAt === null && row.expiresAt > now;
}

export async function revokeSession(db: Queryable, id: string, now: number): Promise<boolean> {
  const revoked = await db
    .update(sessions)
    .set({ revokedAt: now })
    .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return revoked.length > 0;
}

/** Revokes every live session of a user except `keepId`; returns the revoked ids (to cut their viewers). */
export async function revokeUserSessions(db: Queryable, userId: string, now: number, keepId?: string): Promise<string[]> {
  const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)];
  if (keepId) conditions.push(ne(sessions.id, keepId));
  const revoked = await db
    .update(sessions)
    .set({ revokedAt: now })
    .where(and(...conditions))
    .returning({ id: sessions.id });
  return revoked.map((r) => r.id);
}

export async function liveSessionIds(db: Queryable, userId: string, now: number): Promise<string[]> {
  const rows = await db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)));
  return rows.map((r) => r.id);
}
