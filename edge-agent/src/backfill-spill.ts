import { closeSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync, write } from 'node:fs';
import { join } from 'node:path';
import { findRunStart, type BackfillRing, type KeyframeMark, type KeptFrames, type RingFrame, type RunStart } from './backfill-ring.ts';
import { AgentError } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * `--backfill-dir`: GOPs the RAM ring evicts are appended to files in a directory (meant for a USB
 * disk: an SD card wears out and is slow under a constant write), so a link down for longer than
 * the ring holds is still backfilled. Bounded by `maxBytes`, oldest file first. What is on disk is
 * indexed in memory only: the files of an earlier run are removed at start (their frames could not
 * be told apart from a new run's anyway: the capture clock may have jumped meanwhile).
 *
 * Writes are asynchronous, one at a time in order, from a copy made at eviction (the ring reuses
 * its bytes at once); until its write completes a GOP is read from that copy. A failed write
 * (disk full, disk unplugged) drops what the spill held and is logged once: the ring goes on alone.
 */

const FILE_PREFIX = 'picam-backfill-';
const FILE_SUFFIX = '.bin';
/** Files rotate at this size (or a quarter of the bound, if smaller), so dropping the oldest frees a bounded amount. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

interface SpillFile {
  path: string;
  fd: number;
  bytes: number;
  /** dropped (over the bound, or cleared): a write still under way to it may fail, and does not matter */
  closed: boolean;
}

interface SpilledFrame {
  track: RingFrame['track'];
  keyframe: boolean;
  captureTimeUs: number;
  /** offset in the GOP's bytes */
  offset: number;
  length: number;
}

interface SpilledGop {
  firstId: number;
  frames: SpilledFrame[];
  file: SpillFile;
  fileOffset: number;
  bytes: number;
  /** the copy being written; null once it is on disk */
  pending: Buffer | null;
}

export interface SpillOptions {
  dir: string;
  maxBytes: number;
  log: Logger;
}

export class BackfillSpill {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly log: Logger;
  private readonly fileBytes: number;
  private gops: SpilledGop[] = [];
  private files: SpillFile[] = [];
  private heldBytes = 0;
  private writing = false;
  /** the file a write is under way to: closing it waits for that write (its fd number could be reused meanwhile) */
  private writingTo: SpillFile | null = null;
  private queue: SpilledGop[] = [];
  private failed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(options: SpillOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.log = options.log;
    this.fileBytes = Math.max(64 * 1024, Math.min(MAX_FILE_BYTES, Math.floor(options.maxBytes / 4)));
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      for (const name of readdirSync(this.dir)) {
        if (name.startsWith(FILE_PREFIX) && name.endsWith(FILE_SUFFIX)) unlinkSync(join(this.dir, name));
      }
    } catch (error) {
      throw new AgentError('ERR_CONFIG', `cannot use --backfill-dir ${this.dir}: ${(error as Error).message}`);
    }
  }

  get bytes(): number {
    return this.heldBytes;
  }

  get oldestId(): number | null {
    return this.gops[0]?.firstId ?? null;
  }

  /** Id after the newest frame held, or null when empty. */
  get endId(): number | null {
    const last = this.gops.at(-1);
    return last === undefined ? null : last.firstId + last.frames.length;
  }

  get oldestUs(): number | null {
    return this.gops[0]?.frames[0]?.captureTimeUs ?? null;
  }

  /** One GOP the ring evicted (its data are views the ring will overwrite: copied here). */
  keep(gop: RingFrame[]): void {
    const first = gop[0];
    if (first === undefined) return;
    // Ids must follow on from what is held (a GOP the ring dropped whole breaks the chain).
    if (this.endId !== null && this.endId !== first.id) this.clear();
    let bytes = 0;
    for (const frame of gop) bytes += frame.data.byteLength;
    if (bytes > this.maxBytes) return;
    const copy = Buffer.allocUnsafe(bytes);
    const frames: SpilledFrame[] = [];
    let offset = 0;
    for (const frame of gop) {
      copy.set(frame.data, offset);
      frames.push({ track: frame.track, keyframe: frame.keyframe, captureTimeUs: frame.captureTimeUs, offset, length: frame.data.byteLength });
      offset += frame.data.byteLength;
    }
    const file = this.fileFor(bytes, first.id);
    if (file === null) return;
    const spilled: SpilledGop = { firstId: first.id, frames, file, fileOffset: file.bytes, bytes, pending: copy };
    file.bytes += bytes;
    this.gops.push(spilled);
    this.heldBytes += bytes;
    this.queue.push(spilled);
    this.trim();
    this.writeNext();
  }

  get(id: number): RingFrame | undefined {
    const gop = this.gopOf(id);
    if (gop === undefined) return undefined;
    const frame = gop.frames[id - gop.firstId]!;
    let data: Uint8Array;
    if (gop.pending !== null) {
      data = gop.pending.subarray(frame.offset, frame.offset + frame.length);
    } else {
      data = Buffer.allocUnsafe(frame.length);
      try {
        // Synchronous: one frame, from a file the page cache most likely still holds.
        if (readSync(gop.file.fd, data, 0, frame.length, gop.fileOffset + frame.offset) !== frame.length) return undefined;
      } catch (error) {
        this.fail(error as Error, 'read');
        return undefined;
      }
    }
    return { id, track: frame.track, keyframe: frame.keyframe, captureTimeUs: frame.captureTimeUs, data };
  }

  *keyframes(): Generator<KeyframeMark> {
    for (const gop of this.gops) yield { id: gop.firstId, captureTimeUs: gop.frames[0]!.captureTimeUs };
  }

  /** Resolves once every GOP handed over so far is on disk (or dropped). */
  written(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.clear();
  }

  private gopOf(id: number): SpilledGop | undefined {
    let lo = 0;
    let hi = this.gops.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const gop = this.gops[mid]!;
      if (id < gop.firstId) hi = mid - 1;
      else if (id >= gop.firstId + gop.frames.length) lo = mid + 1;
      else return gop;
    }
    return undefined;
  }

  private fileFor(bytes: number, firstId: number): SpillFile | null {
    const current = this.files.at(-1);
    if (current !== undefined && current.bytes + bytes <= this.fileBytes) return current;
    const path = join(this.dir, `${FILE_PREFIX}${firstId}${FILE_SUFFIX}`);
    try {
      const file = { path, fd: openSync(path, 'w+', 0o600), bytes: 0, closed: false };
      this.files.push(file);
      return file;
    } catch (error) {
      this.fail(error as Error, 'open');
      return null;
    }
  }

  /** Over the bound: the oldest file goes, with every GOP in it. */
  private trim(): void {
    while (this.heldBytes > this.maxBytes && this.files.length > 1) {
      const file = this.files.shift()!;
      let drop = 0;
      while (drop < this.gops.length && this.gops[drop]!.file === file) this.heldBytes -= this.gops[drop++]!.bytes;
      this.gops.splice(0, drop);
      this.queue = this.queue.filter((gop) => gop.file !== file);
      this.closeFile(file);
    }
  }

  private writeNext(): void {
    if (this.writing) return;
    const gop = this.queue.shift();
    if (gop === undefined || gop.pending === null) {
      for (const wake of this.idleWaiters.splice(0)) wake();
      return;
    }
    this.writing = true;
    this.writingTo = gop.file;
    write(gop.file.fd, gop.pending, 0, gop.bytes, gop.fileOffset, (error) => {
      this.writing = false;
      this.writingTo = null;
      if (gop.file.closed) this.release(gop.file);
      if (error && !gop.file.closed) {
        this.fail(error, 'write');
        this.writeNext();
        return;
      }
      gop.pending = null;
      this.writeNext();
    });
  }

  private fail(error: Error, what: string): void {
    if (!this.failed) this.log.warn({ err: error.message, dir: this.dir }, `backfill spill ${what} failed: keeping the RAM ring only until it works again`);
    this.failed = true;
    this.clear();
  }

  private clear(): void {
    for (const file of this.files) this.closeFile(file);
    this.files = [];
    this.gops = [];
    this.queue = [];
    this.heldBytes = 0;
  }

  private closeFile(file: SpillFile): void {
    file.closed = true;
    if (this.writingTo !== file) this.release(file);
  }

  private release(file: SpillFile): void {
    try {
      closeSync(file.fd);
      unlinkSync(file.path);
    } catch {
      // already gone (disk unplugged): nothing left to free
    }
  }
}

/** The ring with its spill behind it: ids run on from the spill's newest frame to the ring's oldest. */
export class SpilledRing implements KeptFrames {
  private readonly ring: BackfillRing;
  private readonly spill: BackfillSpill;

  constructor(ring: BackfillRing, spill: BackfillSpill) {
    this.ring = ring;
    this.spill = spill;
  }

  get oldestId(): number {
    return this.spillContinues() ? this.spill.oldestId! : this.ring.oldestId;
  }

  get oldestUs(): number | null {
    return this.spillContinues() ? this.spill.oldestUs : this.ring.oldestUs;
  }

  get(id: number): RingFrame | undefined {
    return id >= this.ring.oldestId ? this.ring.get(id) : this.spillContinues() ? this.spill.get(id) : undefined;
  }

  runStart(fromUs: number, toUs: number): RunStart | null {
    const ring = this.ring;
    const spill = this.spillContinues() ? this.spill : null;
    function* all(): Generator<KeyframeMark> {
      if (spill !== null) yield* spill.keyframes();
      yield* ring.keyframes();
    }
    return findRunStart(all(), fromUs, toUs);
  }

  /** The spill counts only when it ends where the ring begins (a GOP dropped whole breaks the chain). */
  private spillContinues(): boolean {
    return this.spill.endId !== null && this.spill.endId === this.ring.oldestId;
  }
}

/** True when `dir` is on the same filesystem as `/`: on a Pi, most likely the SD card. */
export function onRootFilesystem(dir: string): boolean {
  try {
    return statSync(dir).dev === statSync('/').dev;
  } catch {
    return false;
  }
}
