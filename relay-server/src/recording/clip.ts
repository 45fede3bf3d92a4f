import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../db/client.ts';
import { fragmentsBetween, keyframeFragmentAfter, keyframeFragmentAtOrBefore, recordedSpans, type ClipFragment } from '../db/recordings.ts';
import { VIDEO_TIMESCALE, VIDEO_TRACK_ID, mediaFragment, parseFragment, setInitDuration, trackTimescales, type ParsedFragment, type TrackRun } from './fmp4.ts';

/**
 * One MP4 cut from the recording, served without building it first: the first segment's init
 * segment (with the clip's duration), then the indexed fragments from the keyframe at or before
 * `from` up to `to`, each copied from its file with its decode times shifted so the clip starts at
 * 0 and its sequence number renumbered. Its size is known from the index alone, so HTTP Range
 * works from the first request. Where a backfill segment overlaps what is already in the clip,
 * each capture time is emitted once: samples at or before the last one emitted are left out (the
 * bytes are the same, so the decoder's state carries over). The clip ends early where the format
 * changes (another init segment: a new resolution or sound on/off).
 */

export interface ClipPlan {
  /** capture time of the clip's first frame (µs): the keyframe at or before `from` */
  startUs: number;
  endUs: number;
  size: number;
  init: Uint8Array;
  pieces: ClipPiece[];
}

type ClipPiece = (
  /** a whole fragment, read from its file at serve time and patched */
  | { kind: 'fragment'; path: string; offset: number; length: number }
  /** a fragment rebuilt at plan time (it overlapped what came before) */
  | { kind: 'bytes'; bytes: Buffer }
) & {
  sequence: number;
  /** track id -> decode time of its first sample in the clip (clip timescale units, from 0) */
  decodeTimes: Map<number, number>;
};

/** Enough of a fragment to hold its moof and the mdat header (fragments are at most ~1 s). */
const MOOF_READ_BYTES = 8192;

/** Tolerance when deciding a fragment starts where the previous ended (rounding to the timescale). */
const TOUCH_US = 1000;

/** undefined: nothing recorded in [fromUs, toUs). */
export async function planClip(db: Db, dir: string, cameraId: string, fromUs: number, toUs: number): Promise<ClipPlan | undefined> {
  const covered = recordedSpans(db, cameraId, fromUs, fromUs + 1).length > 0;
  const first = covered ? keyframeFragmentAtOrBefore(db, cameraId, fromUs) : keyframeFragmentAfter(db, cameraId, fromUs, toUs);
  if (!first) return undefined;
  const fragments = fragmentsBetween(db, cameraId, first.startUs, toUs);
  if (fragments.length === 0) return undefined;

  const files = new Files(dir);
  try {
    const init = await files.read(first.path, 0, first.initBytes);
    const inits = new Map<number, boolean>([[first.segmentId, true]]);
    const pieces: ClipPiece[] = [];
    let size = 0;
    let emittedUntilUs = -Infinity;
    const timescales = trackTimescales(init);
    // Decode times run on across pieces: a fragment never starts before the previous one of its
    // track ended (segments written apart, live and backfill, each have their own pacing).
    const trackEnds = new Map<number, number>();
    let clipBase: Map<number, number> | undefined;
    for (const f of fragments) {
      if (!inits.has(f.segmentId)) inits.set(f.segmentId, Buffer.compare(await files.read(f.path, 0, f.initBytes), init) === 0);
      if (!inits.get(f.segmentId)) break;
      let piece: { kind: 'fragment'; path: string; offset: number; length: number } | { kind: 'bytes'; bytes: Buffer };
      let parsed: ParsedFragment | undefined;
      // A fragment that starts where the clip ends is taken whole however short it is: a lone
      // frame before a keyframe that came in the same burst (stamped microseconds before it), or
      // a segment's last frame (ending 1 µs after it), spans less than TOUCH_US and is still new.
      if (f.startUs >= emittedUntilUs - TOUCH_US) {
        piece = { kind: 'fragment', path: f.path, offset: f.offset, length: f.length };
        parsed = parseFragment(await files.read(f.path, f.offset, Math.min(f.length, MOOF_READ_BYTES)));
      } else {
        // It began before the clip's end: only what comes after is new.
        if (f.endUs <= emittedUntilUs + TOUCH_US) continue;
        const rebuilt = await rebuildAfter(files, f, emittedUntilUs, pieces.length + 1, timescales);
        if (!rebuilt) continue;
        piece = { kind: 'bytes', bytes: rebuilt };
        parsed = parseFragment(rebuilt);
      }
      if (!parsed) continue;
      clipBase ??= clipBases(parsed, timescales);
      const decodeTimes = new Map<number, number>();
      for (const run of parsed.runs) {
        const start = Math.max(run.baseDecodeTime - (clipBase.get(run.trackId) ?? run.baseDecodeTime), trackEnds.get(run.trackId) ?? 0);
        decodeTimes.set(run.trackId, start);
        trackEnds.set(run.trackId, start + run.samples.reduce((n, x) => n + x.duration, 0));
      }
      pieces.push({ ...piece, sequence: pieces.length + 1, decodeTimes });
      size += piece.kind === 'fragment' ? piece.length : piece.bytes.byteLength;
      emittedUntilUs = Math.max(emittedUntilUs, f.endUs);
    }
    if (pieces.length === 0) return undefined;
    const clipInit = Uint8Array.from(init);
    setInitDuration(clipInit, Math.round((emittedUntilUs - first.startUs) / 1000));
    return { startUs: first.startUs, endUs: emittedUntilUs, size: clipInit.byteLength + size, init: clipInit, pieces };
  } finally {
    await files.close();
  }
}

/** The fragment without its samples at or before `afterUs` (already in the clip); undefined when none is left. */
async function rebuildAfter(files: Files, f: ClipFragment, afterUs: number, sequence: number, timescales: Map<number, number>): Promise<Buffer | undefined> {
  const bytes = await files.read(f.path, f.offset, f.length);
  const parsed = parseFragment(bytes);
  if (!parsed) return undefined;
  const runs: TrackRun[] = [];
  for (const run of parsed.runs) {
    const timescale = timescales.get(run.trackId);
    if (timescale === undefined) continue;
    const after = usToUnits(afterUs, timescale);
    let t = run.baseDecodeTime;
    let base = -1;
    const samples = [];
    for (const s of run.samples) {
      // A sample is kept when it starts at or after the end of what the clip holds.
      if (t >= after - 1) {
        if (base < 0) base = t;
        samples.push({ duration: s.duration, size: s.size, flags: s.flags, parts: [bytes.subarray(s.dataOffset, s.dataOffset + s.size)] });
      }
      t += s.duration;
    }
    if (samples.length > 0) runs.push({ trackId: run.trackId, baseDecodeTime: base, samples });
  }
  if (!runs.some((r) => r.trackId === VIDEO_TRACK_ID)) return undefined;
  return mediaFragment(sequence, runs);
}

/**
 * Where the clip's time 0 is on each track: the first video sample's decode time, and the same
 * moment in the other tracks' timescales (sound a few ms earlier starts at 0).
 */
function clipBases(first: ParsedFragment, timescales: Map<number, number>): Map<number, number> {
  const video = first.runs.find((r) => r.trackId === VIDEO_TRACK_ID);
  const startUs = video ? (video.baseDecodeTime * 1_000_000) / VIDEO_TIMESCALE : 0;
  return new Map([...timescales].map(([track, timescale]) => [track, track === VIDEO_TRACK_ID && video ? video.baseDecodeTime : usToUnits(startUs, timescale)]));
}

function usToUnits(us: number, timescale: number): number {
  return Math.round((us * timescale) / 1_000_000);
}

/** Bytes [start, end) of the clip (end exclusive), piece by piece. */
export async function* clipBytes(plan: ClipPlan, dir: string, start: number, end: number): AsyncGenerator<Uint8Array> {
  const files = new Files(dir);
  try {
    let at = 0;
    for (const piece of [null, ...plan.pieces]) {
      const size = piece === null ? plan.init.byteLength : piece.kind === 'fragment' ? piece.length : piece.bytes.byteLength;
      const pieceStart = at;
      at += size;
      if (at <= start) continue;
      if (pieceStart >= end) break;
      let bytes: Uint8Array;
      if (piece === null) bytes = plan.init;
      else {
        const fragment = piece.kind === 'fragment' ? await files.read(piece.path, piece.offset, piece.length) : Buffer.from(piece.bytes);
        const parsed = parseFragment(fragment);
        if (parsed) renumber(fragment, parsed, piece.decodeTimes, piece.sequence);
        bytes = fragment;
      }
      yield bytes.subarray(Math.max(0, start - pieceStart), Math.min(size, end - pieceStart));
    }
  } finally {
    await files.close();
  }
}

/** In place: the clip's decode times (from 0) and its own sequence number. */
function renumber(bytes: Uint8Array, parsed: ParsedFragment, decodeTimes: Map<number, number>, sequence: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(20, sequence); // moof(8) + mfhd header(8) + version/flags(4)
  for (const run of parsed.runs) {
    const time = decodeTimes.get(run.trackId);
    if (run.baseDecodeTimeAt >= 0 && time !== undefined) view.setBigUint64(run.baseDecodeTimeAt, BigInt(Math.max(0, time)));
  }
}

/** Open segment files for one plan or response, closed together. */
class Files {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    let handle = this.handles.get(path);
    if (!handle) {
      handle = open(join(this.dir, path), 'r');
      this.handles.set(path, handle);
    }
    const fh = await handle;
    const out = Buffer.allocUnsafe(length);
    const { bytesRead } = await fh.read(out, 0, length, offset);
    if (bytesRead !== length) throw new Error(`segment ${path} is shorter than its index`);
    return out;
  }

  async close(): Promise<void> {
    for (const h of this.handles.values()) await h.then((fh) => fh.close()).catch(() => undefined);
    this.handles.clear();
  }
}
