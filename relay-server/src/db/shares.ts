import { and, desc, eq, gt, isNull } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { shares } from './schema.ts';

/** Share-link rows (one per share JWT, its jti): listing and revocation live here. */

export type ShareRow = typeof shares.$inferSelect;
export type ShareState = 'active' | 'expired' | 'revoked';

/** The recorded range a clip link opens; null for a live link. */
export function shareClip(row: ShareRow): { start: number; end: number } | null {
  return row.clipStart !== null && row.clipEnd !== null ? { start: row.clipStart, end: row.clipEnd } : null;
}

export function shareState(row: ShareRow, now: number): ShareState {
  if (row.revokedAt !== null) return 'revoked';
  return row.expiresAt > now ? 'active' : 'expired';
}

export function insertShare(db: Queryable, row: ShareRow): void {
  db.insert(shares).values(row).run();
}

export function findShare(db: Queryable, id: string): ShareRow | undefined {
  return db.select().from(shares).where(eq(shares.id, id)).get();
}

export function listShares(db: Queryable, cameraId: string): ShareRow[] {
  return db.select().from(shares).where(eq(shares.cameraId, cameraId)).orderBy(desc(shares.createdAt)).all();
}

export function revokeShare(db: Queryable, id: string, now: number): boolean {
  return (
    db
      .update(shares)
      .set({ revokedAt: now })
      .where(and(eq(shares.id, id), isNull(shares.revokedAt)))
      .run().changes > 0
  );
}

/** Revokes every still-active link a user made (the user is being removed); returns their ids. */
export function revokeSharesBy(db: Queryable, userId: string, now: number): string[] {
  return db
    .update(shares)
    .set({ revokedAt: now })
    .where(and(eq(shares.createdBy, userId), isNull(shares.revokedAt), gt(shares.expiresAt, now)))
    .returning({ id: shares.id })
    .all()
    .map((r) => r.id);
}
