import { and, desc, eq, gt, isNull } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { shares } from './pg-schema.ts';

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

export async function insertShare(db: Queryable, row: ShareRow): Promise<void> {
  await db.insert(shares).values(row);
}

export async function findShare(db: Queryable, id: string): Promise<ShareRow | undefined> {
  return (await db.select().from(shares).where(eq(shares.id, id)).limit(1))[0];
}

export async function listShares(db: Queryable, cameraId: string): Promise<ShareRow[]> {
  return db.select().from(shares).where(eq(shares.cameraId, cameraId)).orderBy(desc(shares.createdAt));
}

export async function revokeShare(db: Queryable, id: string, now: number): Promise<boolean> {
  const revoked = await db
    .update(shares)
    .set({ revokedAt: now })
    .where(and(eq(shares.id, id), isNull(shares.revokedAt)))
    .returning({ id: shares.id });
  return revoked.length > 0;
}

/** Revokes every still-active link a user made (the user is being removed); returns their ids. */
export async function revokeSharesBy(db: Queryable, userId: string, now: number): Promise<string[]> {
  const revoked = await db
    .update(shares)
    .set({ revokedAt: now })
    .where(and(eq(shares.createdBy, userId), isNull(shares.revokedAt), gt(shares.expiresAt, now)))
    .returning({ id: shares.id });
  return revoked.map((r) => r.id);
}
