import { closeSync, ftruncateSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../db/client.ts';
import { allSegments, deleteSegments, indexWritten, segmentFragments, trimSegment, type NewFragment } from '../db/recordings.ts';
import type { Logger } from '../logger.ts';
import { SYNC_SAMPLE_FLAGS, VIDEO_TIMESCALE, VIDEO_TRACK_ID, parseFragment } from './fmp4.ts';

/**
 * Start-up repair after a crash or power cut, before the recorder writes anything: each segment
 * file is made to agree with its index. Whole fragments the file holds past the last indexed one
 * (written, but the crash came before the index batch) are indexed; a torn fragment at the end is
 * cut off; a file shorter than its index (the OS lost its last writes) loses those index rows. A
 * segment without a readable init is removed. Every segment left plays, and listing never fails.
 */

export interface RepairResult {
  /** fragments found in files and indexed */
  recovered: number;
  /** files cut back to their last whole fragment */
  truncated: number;
  /** segments dropped (file gone or unreadable) */
  removed: number;
}

const HEADER_BYTES = 8;

export function repairRecordings(db: Db, dir: string, log: Logger): RepairResult {
  const result: RepairResult = { recovered: 0, truncated: 0, removed: 0 };
  const gone: number[] = [];
  for (const segment of allSegments(db)) {
    const path = join(dir, segment.path);
    // The index row's size is written with its fragments, in one transaction: a file of that size
    // agrees with its index (a week of 50 cameras is 100 000 files: one stat each, no more).
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat?.size === segment.bytes && segment.bytes >= segment.initBytes) continue;
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch {
      gone.push(segment.id);
      continue;
    }
    try {
      const size = fstatSync(fd).size;
      if (size < segment.initBytes) {
        gone.push(segment.id);
        continue;
      }
      const fragments = segmentFragments(db, segment.id);
      const last = fragments.at(-1);
      const indexedEnd = last ? last.offset + last.length : segment.initBytes;
      if (size < indexedEnd) {
        trimSegment(db, segment.id, size);
        const kept = segmentFragments(db, segment.id).at(-1);
        ftruncateSync(fd, kept ? kept.offset + kept.length : segment.initBytes);
        result.truncated++;
        continue;
      }
      if (size === indexedEnd) {
        if (segment.bytes !== indexedEnd || (last && segment.endUs !== last.endUs)) {
          indexWritten(db, [{ segmentId: segment.id, cameraId: segment.cameraId, fragments: [], endUs: last?.endUs ?? segment.startUs, bytes: indexedEnd }]);
        }
        continue;
      }
      const found = scanFragments(fd, indexedEnd, size, last?.endUs ?? segment.startUs);
      const end = found.at(-1) ? found.at(-1)!.offset + found.at(-1)!.length : indexedEnd;
      indexWritten(db, [{ segmentId: segment.id, cameraId: segment.cameraId, fragments: found, endUs: found.at(-1)?.endUs ?? last?.endUs ?? segment.startUs, bytes: end }]);
      result.recovered += found.length;
      if (end < size) {
        ftruncateSync(fd, end);
        result.truncated++;
      }
    } finally {
      closeSync(fd);
    }
  }
  deleteSegments(db, gone);
  result.removed = gone.length;
  if (result.recovered + result.truncated + result.removed > 0) log.warn({ ...result }, 'recording: segments repaired after an unclean stop');
  return result;
}

/**
 * Whole moof + mdat pairs from `from` on, as index rows; stops at the first torn or foreign one.
 * The file holds decode times, which sit on the frame grid (up to half a frame from the capture
 * times the index is kept in, more after a stall): the rows are placed by their decode times
 * relative to the first one found, which starts at `startUs`, where the index left off (the
 * capture time of that fragment's first frame). Placed by their own decode times, the first would
 * seem to start before the indexed fragments end, and a clip would leave its keyframe out as
 * already shown.
 */
function scanFragments(fd: number, from: number, size: number, startUs: number): NewFragment[] {
  const out: NewFragment[] = [];
  const header = Buffer.alloc(HEADER_BYTES);
  let firstDecodeTime: number | undefined;
  const toUs = (decodeTime: number) => startUs + Math.round(((decodeTime - firstDecodeTime!) * 1_000_000) / VIDEO_TIMESCALE);
  for (let offset = from; offset + HEADER_BYTES <= size; ) {
    readSync(fd, header, 0, HEADER_BYTES, offset);
    const moofSize = header.readUInt32BE(0);
    if (header.toString('latin1', 4, 8) !== 'moof' || moofSize < HEADER_BYTES || offset + moofSize + HEADER_BYTES > size) break;
    readSync(fd, header, 0, HEADER_BYTES, offset + moofSize);
    const mdatSize = header.readUInt32BE(0);
    if (header.toString('latin1', 4, 8) !== 'mdat' || mdatSize < HEADER_BYTES || offset + moofSize + mdatSize > size) break;
    const head = Buffer.alloc(moofSize + HEADER_BYTES);
    readSync(fd, head, 0, head.byteLength, offset);
    const parsed = parseFragment(head);
    const video = parsed?.runs.find((r) => r.trackId === VIDEO_TRACK_ID);
    if (!parsed || !video || video.samples.length === 0) break;
    const duration = video.samples.reduce((n, s) => n + s.duration, 0);
    firstDecodeTime ??= video.baseDecodeTime;
    out.push({
      startUs: toUs(video.baseDecodeTime),
      endUs: toUs(video.baseDecodeTime + duration),
      offset,
      length: moofSize + mdatSize,
      keyframe: video.samples[0]!.flags === SYNC_SAMPLE_FLAGS,
    });
    offset += moofSize + mdatSize;
  }
  return out;
}
