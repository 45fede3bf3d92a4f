import { desc } from 'drizzle-orm';
import type { Queryable } from './queryable.ts';
import { auditLog } from './pg-schema.ts';

/**
 * Security-relevant events (logins, user and camera changes, enrollments, shares). `detail` is
 * for non-secret context only: never passwords, tokens or credentials.
 */

type AuditAction =
  | 'login.success'
  | 'login.failure'
  /** failures for unknown usernames beyond the per-minute audit budget, summed up (detail.count) */
  | 'login.failure.suppressed'
  | 'logout'
  | 'password.change'
  | 'user.add'
  | 'user.update'
  | 'user.remove'
  | 'camera.create'
  | 'camera.update'
  | 'camera.delete'
  | 'enrollment.issue'
  | 'enrollment.consume'
  | 'share.create'
  | 'share.revoke'
  | 'keys.rotate'
  | 'keys.remove';

export interface AuditEvent {
  actor: string;
  action: AuditAction;
  target?: string | null;
  address?: string | null;
  detail?: Record<string, string | number | boolean | null>;
}

export async function audit(db: Queryable, at: number, event: AuditEvent): Promise<void> {
  await db
    .insert(auditLog)
    .values({
      at,
      actor: event.actor,
      action: event.action,
      target: event.target ?? null,
      address: event.address ?? null,
      detail: event.detail ? JSON.stringify(event.detail) : null,
    });
}

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  address: string | null;
  detail: unknown;
}

export async function recentAudit(db: Queryable, limit: number): Promise<AuditEntry[]> {
  const rows = await db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(limit);
  return rows.map((r) => ({ ...r, detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown) }));
}
