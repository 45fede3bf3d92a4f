import { and, eq, gt, isNull, ne } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { sessions } from './schema.ts';

/** Session rows: one per issued session JWT (its jti). Revocation lives here. */

export type SessionRow = typeof sessions.$inferSelect;

export function insertSession(db: Queryable, row: SessionRow): void {
  db.insert(sessions).values(row).run();
}

export function findSession(db: Queryable, id: string): SessionRow | undefined {
  return db.select().from(sessions).where(eq(sessions.id, id)).get();
}

export function isSessionLive(row: SessionRow | undefined, now: number): row is SessionRow {
  return row !== undefined && row.revokedAt === null && row.expiresAt > now;
}

export function revokeSession(db: Queryable, id: string, now: number): boolean {
  return (
    db
      .update(sessions)
      .set({ revokedAt: now })
      .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
      .run().changes > 0
  );
}

/** Revokes every live session of a user except `keepId`; returns the revoked ids (to cut their viewers). */
export function revokeUserSessions(db: Queryable, userId: string, now: number, keepId?: string): string[] {
  const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)];
  if (keepId) conditions.push(ne(sessions.id, keepId));
  return db
    .update(sessions)
    .set({ revokedAt: now })
    .where(and(...conditions))
    .returning({ id: sessions.id })
    .all()
    .map((r) => r.id);
}

export function liveSessionIds(db: Queryable, userId: string, now: number): string[] {
  return db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .all()
    .map((r) => r.id);
}
