import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { enrollmentTokens } from './pg-schema.ts';

/** One-time enrollment tokens (only their SHA-256 is stored). */

export type EnrollmentTokenRow = typeof enrollmentTokens.$inferSelect;

/** Stores a new token and drops the camera's older unused ones: only the newest is redeemable. */
export async function replaceEnrollmentToken(db: Queryable, row: EnrollmentTokenRow): Promise<void> {
  await db.delete(enrollmentTokens).where(and(eq(enrollmentTokens.cameraId, row.cameraId), isNull(enrollmentTokens.usedAt)));
  await db.insert(enrollmentTokens).values(row);
}

export type ConsumeResult =
  | { ok: true; cameraId: string; tokenId: string }
  | { ok: false; reason: 'invalid' | 'expired' };

/**
 * Marks the token used in ONE conditional UPDATE (unused and unexpired, else no row), so two
 * agents racing with the same token cannot both win. Must run inside the caller's transaction
 * together with the credential write.
 */
export async function consumeEnrollmentToken(db: Queryable, tokenHash: string, now: number): Promise<ConsumeResult> {
  const [row] = await db
    .update(enrollmentTokens)
    .set({ usedAt: now })
    .where(
      and(eq(enrollmentTokens.tokenHash, tokenHash), isNull(enrollmentTokens.usedAt), gt(enrollmentTokens.expiresAt, now)),
    )
    .returning({ id: enrollmentTokens.id, cameraId: enrollmentTokens.cameraId });
  if (row) return { ok: true, cameraId: row.cameraId, tokenId: row.id };
  const [existing] = await db.select().from(enrollmentTokens).where(eq(enrollmentTokens.tokenHash, tokenHash)).limit(1);
  if (existing && existing.usedAt === null) return { ok: false, reason: 'expired' };
  return { ok: false, reason: 'invalid' };
}
