import { lt, lte } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { auditLog, enrollmentTokens, sessions } from './schema.ts';

/**
 * Rows that have done their job, deleted: sessions and enrollment tokens once expired (a session
 * JWT is refused after its expiry anyway, and a revoked one is kept until then because its row is
 * what says "revoked"), and audit rows older than the retention (AUDIT_RETAIN_DAYS). Share rows
 * stay: the admin's list shows expired and revoked links.
 */

export interface Pruned {
  sessions: number;
  enrollments: number;
  audit: number;
}

export function pruneExpired(db: Queryable, now: number, auditRetainMs: number): Pruned {
  return {
    sessions: db.delete(sessions).where(lte(sessions.expiresAt, now)).run().changes,
    enrollments: db.delete(enrollmentTokens).where(lte(enrollmentTokens.expiresAt, now)).run().changes,
    audit: db.delete(auditLog).where(lt(auditLog.at, now - auditRetainMs)).run().changes,
  };
}
