import { lt, lte } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { auditLog, enrollmentTokens, sessions } from './pg-schema.ts';

/**
 * Rows that have done their job, deleted: sessions once expired (the JWT is refused after its
 * expiry anyway; a revoked one is kept until then because its row is what says "revoked"),
 * enrollment tokens a day after they expired (until then an agent presenting one is told it
 * expired rather than unknown), and audit rows older than the retention (AUDIT_RETAIN_DAYS).
 * Share rows stay: the admin's list shows expired and revoked links.
 */

const ENROLLMENT_KEPT_AFTER_EXPIRY_MS = 24 * 3600 * 1000;

export interface Pruned {
  sessions: number;
  enrollments: number;
  audit: number;
}

export async function pruneExpired(db: Queryable, now: number, auditRetainMs: number): Promise<Pruned> {
  const deleted = async (rows: Promise<unknown[]>) => (await rows).length;
  return {
    sessions: await deleted(db.delete(sessions).where(lte(sessions.expiresAt, now)).returning({ id: sessions.id })),
    enrollments: await deleted(
      db
        .delete(enrollmentTokens)
        .where(lte(enrollmentTokens.expiresAt, now - ENROLLMENT_KEPT_AFTER_EXPIRY_MS))
        .returning({ id: enrollmentTokens.id }),
    ),
    audit: await deleted(db.delete(auditLog).where(lt(auditLog.at, now - auditRetainMs)).returning({ id: auditLog.id })),
  };
}
