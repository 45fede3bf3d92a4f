import { and, asc, desc, eq, gt, inArray, lt, lte, sql } from 'drizzle-orm';
import type { TimeRange } from '@picam/protocol';
import type { Db } from './client.ts';
import type { IndexQueryable as Queryable } from './queryable.ts';
import { recordingFragments, recordingSegments } from './schema.ts';

/**
 * The recording index: segments (files) and their fragments, written as the recorder writes the
 * files, so listing and cutting clips never scan the disk. Capture times are microseconds.
 */

export type SegmentRow = typeof recordingSegments.$inferSelect;
export type FragmentRow = typeof recordingFragments.$inferSelect;
export type NewFragment = Omit<FragmentRow, 'segmentId' | 'cameraId'>;

/** Recorded ranges closer than this are one span: a few late frames are not a hole on a timeline. */
const SPAN_MERGE_GAP_US = 500_000;

export function insertSegment(db: Queryable, row: Omit<SegmentRow, 'id'>): number {
  return db.insert(recordingSegments).values(row).returning({ id: recordingSegments.id }).get().id;
}

export interface WrittenFragments {
  segmentId: number;
  cameraId: string;
  fragments: NewFragment[];
  /** the segment's end and size once these fragments are in */
  endUs: number;
  bytes: number;
}

/**
 * The recorder's per-second statements, prepared once per database: building the SQL through the
 * query builder on every call cost more than the recorder's own work (profiled with 50 cameras).
 */
const prepared = new WeakMap<Db, ReturnType<typeof prepareIndexStatements>>();

function indexStatements(db: Db) {
  return {
    fragment: db
      .insert(recordingFragments)
      .values({
        segmentId: sql.placeholder('segmentId'),
        cameraId: sql.placeholder('cameraId'),
        startUs: sql.placeholder('startUs'),
        endUs: sql.placeholder('endUs'),
        offset: sql.placeholder('offset'),
        length: sql.placeholder('length'),
        keyframe: sql.placeholder('keyframe'),
      })
      .onConflictDoNothing(),
    segment: db
      .update(recordingSegments)
      .set({ endUs: sql.placeholder('endUs') as unknown as number, bytes: sql.placeholder('bytes') as unknown as number })
      .where(eq(recordingSegments.id, sql.placeholder('id'))),
  };
}

function prepareIndexStatements(db: Db) {
  const { fragment, segment } = indexStatements(db);
  return { fragment: fragment.prepare(), segment: segment.prepare() };
}

/** A statement's SQL and its named parameters in the order of its `?`s (for a connection on another thread). */
interface StatementSql {
  sql: string;
  names: string[];
}

/** The statements indexWritten runs, for recording/index-writer.ts's connection: named parameters as in indexWritten. */
export function indexStatementsSql(db: Db): { fragment: StatementSql; segment: StatementSql } {
  const { fragment, segment } = indexStatements(db);
  return { fragment: statementSql(fragment.toSQL()), segment: statementSql(segment.toSQL()) };
}

function statementSql(query: { sql: string; params: unknown[] }): StatementSql {
  const names = query.params.map((p) => {
    // A placeholder, bare or wrapped in a typed Param.
    const name = (p as { name?: unknown }).name ?? (p as { value?: { name?: unknown } }).value?.name;
    if (typeof name !== 'string') throw new Error(`not a named parameter in: ${query.sql}`);
    return name;
  });
  return { sql: query.sql, names };
}

/** One segment's statements' parameters: its fragments' rows, then the segment's new end and size. */
export interface IndexRows {
  fragments: Record<string, unknown>[];
  segment: Record<string, unknown>;
}

/** The batch as the index statements' named parameters (here, and on recording/index-writer.ts's thread). */
export function indexRows(batch: readonly WrittenFragments[]): IndexRows[] {
  return batch.map((w) => ({
    fragments: w.fragments.map((f) => ({ segmentId: w.segmentId, cameraId: w.cameraId, startUs: f.startUs, endUs: f.endUs, offset: f.offset, length: f.length, keyframe: f.keyframe ? 1 : 0 })),
    segment: { id: w.segmentId, endUs: w.endUs, bytes: w.bytes },
  }));
}

/** One transaction for everything the recorder wrote since the last call (all cameras). */
export function indexWritten(db: Db, batch: readonly WrittenFragments[]): void {
  if (batch.length === 0) return;
  let statements = prepared.get(db);
  if (!statements) {
    statements = prepareIndexStatements(db);
    prepared.set(db, statements);
  }
  const { fragment, segment } = statements;
  db.transaction(() => {
    for (const rows of indexRows(batch)) {
      try {
        for (const row of rows.fragments) fragment.run(row);
        segment.run(rows.segment);
      } catch {
        // Its segment is gone (the camera was deleted while the write was in flight, or retention
        // took it): only that statement failed; the others of the batch still count.
      }
    }
  });
}

/** The covered ranges (epoch ms) between fromUs and toUs, merged where contiguous. */
export function recordedSpans(db: Queryable, cameraId: string, fromUs: number, toUs: number): TimeRange[] {
  const rows = db
    .select({ startUs: recordingSegments.startUs, endUs: recordingSegments.endUs })
    .from(recordingSegments)
    .where(and(eq(recordingSegments.cameraId, cameraId), gt(recordingSegments.endUs, fromUs), lt(recordingSegments.startUs, toUs)))
    .orderBy(asc(recordingSegments.startUs))
    .all();
  const spans: Array<{ startUs: number; endUs: number }> = [];
  for (const r of rows) {
    if (r.endUs <= r.startUs) continue;
    const last = spans.at(-1);
    if (last && r.startUs <= last.endUs + SPAN_MERGE_GAP_US) last.endUs = Math.max(last.endUs, r.endUs);
    else spans.push({ startUs: r.startUs, endUs: r.endUs });
  }
  return spans.map((s) => ({
    start: Math.floor(Math.max(s.startUs, fromUs) / 1000),
    end: Math.ceil(Math.min(s.endUs, toUs) / 1000),
  }));
}

export interface ClipFragment extends FragmentRow {
  path: string;
  initBytes: number;
  backfill: boolean;
}

const clipColumns = {
  segmentId: recordingFragments.segmentId,
  cameraId: recordingFragments.cameraId,
  startUs: recordingFragments.startUs,
  endUs: recordingFragments.endUs,
  offset: recordingFragments.offset,
  length: recordingFragments.length,
  keyframe: recordingFragments.keyframe,
  path: recordingSegments.path,
  initBytes: recordingSegments.initBytes,
  backfill: recordingSegments.backfill,
};

/** The fragment a clip from `fromUs` starts with: the last one starting on a keyframe at or before it. */
export function keyframeFragmentAtOrBefore(db: Queryable, cameraId: string, fromUs: number): ClipFragment | undefined {
  return db
    .select(clipColumns)
    .from(recordingFragments)
    .innerJoin(recordingSegments, eq(recordingSegments.id, recordingFragments.segmentId))
    .where(and(eq(recordingFragments.cameraId, cameraId), eq(recordingFragments.keyframe, true), lte(recordingFragments.startUs, fromUs)))
    .orderBy(desc(recordingFragments.startUs))
    .limit(1)
    .get();
}

/** The first fragment starting on a keyframe at or after `fromUs` (a clip asked from inside a hole). */
export function keyframeFragmentAfter(db: Queryable, cameraId: string, fromUs: number, beforeUs: number): ClipFragment | undefined {
  return db
    .select(clipColumns)
    .from(recordingFragments)
    .innerJoin(recordingSegments, eq(recordingSegments.id, recordingFragments.segmentId))
    .where(
      and(
        eq(recordingFragments.cameraId, cameraId),
        eq(recordingFragments.keyframe, true),
        gt(recordingFragments.startUs, fromUs),
        lt(recordingFragments.startUs, beforeUs),
      ),
    )
    .orderBy(asc(recordingFragments.startUs))
    .limit(1)
    .get();
}

/** Fragments that start in [fromUs, toUs), in capture order (live before backfill at the same time). */
export function fragmentsBetween(db: Queryable, cameraId: string, fromUs: number, toUs: number): ClipFragment[] {
  return db
    .select(clipColumns)
    .from(recordingFragments)
    .innerJoin(recordingSegments, eq(recordingSegments.id, recordingFragments.segmentId))
    .where(and(eq(recordingFragments.cameraId, cameraId), sql`${recordingFragments.startUs} >= ${fromUs}`, lt(recordingFragments.startUs, toUs)))
    .orderBy(asc(recordingFragments.startUs), asc(recordingSegments.backfill), asc(recordingFragments.offset))
    .all();
}

/** The newest recorded capture time of a camera (µs), or null. */
export function recordedUntil(db: Queryable, cameraId: string): number | null {
  const row = db
    .select({ endUs: sql<number | null>`max(${recordingSegments.endUs})` })
    .from(recordingSegments)
    .where(eq(recordingSegments.cameraId, cameraId))
    .get();
  return row?.endUs ?? null;
}

export function allSegments(db: Queryable): SegmentRow[] {
  return db.select().from(recordingSegments).orderBy(asc(recordingSegments.id)).all();
}

/** Oldest first (by capture time, on the start index): what retention deletes first. */
export function oldestSegments(db: Queryable, limit: number): SegmentRow[] {
  return db.select().from(recordingSegments).orderBy(asc(recordingSegments.startUs)).limit(limit).all();
}

export function totalRecordedBytes(db: Queryable): number {
  return db.select({ bytes: sql<number | null>`sum(${recordingSegments.bytes})` }).from(recordingSegments).get()?.bytes ?? 0;
}

export function segmentFragments(db: Queryable, segmentId: number): FragmentRow[] {
  return db.select().from(recordingFragments).where(eq(recordingFragments.segmentId, segmentId)).orderBy(asc(recordingFragments.offset)).all();
}

export function deleteSegments(db: Queryable, ids: readonly number[]): void {
  if (ids.length > 0) db.delete(recordingSegments).where(inArray(recordingSegments.id, [...ids])).run();
}

/** A file found cut short at start: fragments past `bytes` are gone, the segment ends where its last kept one does. */
export function trimSegment(db: Queryable, segmentId: number, bytes: number): void {
  db.delete(recordingFragments).where(and(eq(recordingFragments.segmentId, segmentId), sql`${recordingFragments.offset} + ${recordingFragments.length} > ${bytes}`)).run();
  const last = db
    .select({ endUs: sql<number | null>`max(${recordingFragments.endUs})`, end: sql<number | null>`max(${recordingFragments.offset} + ${recordingFragments.length})` })
    .from(recordingFragments)
    .where(eq(recordingFragments.segmentId, segmentId))
    .get();
  const segment = db.select().from(recordingSegments).where(eq(recordingSegments.id, segmentId)).get();
  if (!segment) return;
  db.update(recordingSegments)
    .set({ endUs: last?.endUs ?? segment.startUs, bytes: last?.end ?? segment.initBytes })
    .where(eq(recordingSegments.id, segmentId))
    .run();
}
