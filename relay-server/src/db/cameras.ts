import { asc, eq, inArray } from 'drizzle-orm';
import { DEFAULT_CAMERA_SETTINGS, cameraSettingsSchema, type CameraSettings, type RecordMode } from '@picam/protocol';
import type { Queryable } from './queryable.ts';
import { cameras } from './pg-schema.ts';

/** The cameras table: identity, desired settings, device credential hash. */

export type CameraRow = typeof cameras.$inferSelect;

/**
 * Settings are stored as JSON; defaults are merged in on read so a row written before a new
 * setting existed still parses (and a damaged one falls back to defaults instead of crashing).
 */
export function parseSettings(json: string): CameraSettings {
  try {
    const parsed = cameraSettingsSchema.safeParse({ ...DEFAULT_CAMERA_SETTINGS, ...(JSON.parse(json) as object) });
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to defaults
  }
  return { ...DEFAULT_CAMERA_SETTINGS };
}

export async function findCamera(db: Queryable, id: string): Promise<CameraRow | undefined> {
  return (await db.select().from(cameras).where(eq(cameras.id, id)).limit(1))[0];
}

export async function findCameraByCredentialHash(db: Queryable, hash: string): Promise<CameraRow | undefined> {
  return (await db.select().from(cameras).where(eq(cameras.credentialHash, hash)).limit(1))[0];
}

export async function listCameras(db: Queryable, onlyIds?: readonly string[]): Promise<CameraRow[]> {
  const query = db.select().from(cameras);
  if (onlyIds === undefined) return query.orderBy(asc(cameras.createdAt), asc(cameras.id));
  if (onlyIds.length === 0) return [];
  return query.where(inArray(cameras.id, [...onlyIds])).orderBy(asc(cameras.createdAt), asc(cameras.id));
}

export async function insertCamera(db: Queryable, row: { id: string; name: string; settings: CameraSettings; createdAt: number }): Promise<void> {
  await db.insert(cameras).values({ id: row.id, name: row.name, settings: JSON.stringify(row.settings), createdAt: row.createdAt });
}

export async function updateCamera(db: Queryable, id: string, patch: { name?: string; settings?: CameraSettings; record?: RecordMode | null }): Promise<void> {
  const set: Partial<CameraRow> = {};
  if (patch.record !== undefined) set.record = patch.record;
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.settings !== undefined) set.settings = JSON.stringify(patch.settings);
  if (Object.keys(set).length > 0) await db.update(cameras).set(set).where(eq(cameras.id, id));
}

export async function deleteCamera(db: Queryable, id: string): Promise<boolean> {
  return (await db.delete(cameras).where(eq(cameras.id, id)).returning({ id: cameras.id })).length > 0;
}

/** Replaces (hash) or revokes (null) the device credential; returns whether one was in place. */
export async function setCredential(db: Queryable, id: string, hash: string | null, now: number): Promise<boolean> {
  const before = await findCamera(db, id);
  await db
    .update(cameras)
    .set({ credentialHash: hash, credentialIssuedAt: hash === null ? null : now })
    .where(eq(cameras.id, id));
  return before?.credentialHash != null;
}

export async function markCameraSeen(db: Queryable, id: string, at: number): Promise<void> {
  await db.update(cameras).set({ lastSeenAt: at }).where(eq(cameras.id, id));
}
