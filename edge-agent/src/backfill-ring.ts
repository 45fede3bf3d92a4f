import { BACKFILL_MAX_LEAD_US, Track } from '@picam/protocol';

/**
 * The most recent frames (video and audio, as stamped), kept whatever the link does: the agent
 * cannot know when it will drop, and after a reconnect the relay asks for what it missed
 * (backfill-sender.ts sends it).
 *
 * One byte array of `capacityBytes`, allocated once and written round and round, so keeping
 * minutes of video makes no garbage; the untouched part of it costs no RSS until the ring first
 * fills. A frame is stored contiguously; one that does not fit before the end starts again at
 * offset 0. Room is made by evicting whole GOPs, oldest first: a P-frame without its keyframe
 * is worth nothing to anyone. The oldest frame held is therefore always a video keyframe, and
 * audio is kept only behind one.
 */

export interface RingFrame {
  /** position in the ring's history: ids grow by one per frame kept, from 0 */
  id: number;
  track: Track;
  keyframe: boolean;
  captureTimeUs: number;
  /** a view into the ring: valid until the frame is evicted, so copy it before giving up control */
  data: Uint8Array;
}

interface FrameRecord {
  track: Track;
  keyframe: boolean;
  captureTimeUs: number;
  offset: number;
  length: number;
}

/** Where a backfill run starts: the id of its keyframe, and whether the ring reached back to the range's start. */
export interface RunStart {
  id: number;
  captureTimeUs: number;
  complete: boolean;
}

export interface KeyframeMark {
  id: number;
  captureTimeUs: number;
}

/** What a backfill run reads its frames from: the ring alone, or the ring behind a spill on disk (backfill-spill.ts). */
export interface KeptFrames {
  /** id of the oldest frame held */
  readonly oldestId: number;
  /** capture time of the oldest frame held, or null when empty */
  readonly oldestUs: number | null;
  /** the frame, or undefined when it is no longer (or not yet) held */
  get(id: number): RingFrame | undefined;
  runStart(fromUs: number, toUs: number): RunStart | null;
}

/**
 * Where a run for [fromUs, toUs) starts, given the keyframes held (oldest first): the newest one
 * at or before fromUs (the decoder needs it), unless it lies more than BACKFILL_MAX_LEAD_US before
 * fromUs (the relay would refuse it); else the oldest one after that limit, with complete false.
 * Null when no keyframe before toUs is held.
 */
export function findRunStart(keyframes: Iterable<KeyframeMark>, fromUs: number, toUs: number): RunStart | null {
  const earliestUs = fromUs - BACKFILL_MAX_LEAD_US;
  let before: RunStart | null = null;
  for (const { id, captureTimeUs } of keyframes) {
    if (captureTimeUs < earliestUs) continue;
    if (captureTimeUs >= toUs) break;
    const candidate = { id, captureTimeUs, complete: captureTimeUs <= fromUs };
    if (!candidate.complete) return before ?? candidate;
    before = candidate;
  }
  return before;
}

export interface BackfillRingOptions {
  /**
   * Called with each GOP as it is evicted, oldest first (backfill-spill.ts keeps them on disk). The
   * frames' data are views into the ring that the next write overwrites: copy what you keep.
   */
  onEvict?: (gop: RingFrame[]) => void;
}

export class BackfillRing implements KeptFrames {
  readonly capacityBytes: number;
  private readonly storage: Uint8Array;
  /** oldest first; records[i] has id firstId + i */
  private records: FrameRecord[] = [];
  private firstId = 0;
  /** where the next frame goes (or offset 0, when it does not fit before the end) */
  private head = 0;
  /** payload bytes held */
  private heldBytes = 0;
  /** frames lost to a GOP bigger than the whole ring: nothing is kept until the next keyframe */
  private waitingForKeyframe = true;
  /** whole GOPs evicted since start, for stats and tests */
  evictedGops = 0;

  private readonly onEvict: ((gop: RingFrame[]) => void) | undefined;

  constructor(capacityBytes: number, options: BackfillRingOptions = {}) {
    this.onEvict = options.onEvict;
    if (!(Number.isInteger(capacityBytes) && capacityBytes > 0)) throw new RangeError(`backfill ring capacity must be a positive whole number of bytes, got ${capacityBytes}`);
    this.capacityBytes = capacityBytes;
    this.storage = Buffer.allocUnsafeSlow(capacityBytes);
  }

  /** Payload bytes held (at most capacityBytes). */
  get bytes(): number {
    return this.heldBytes;
  }

  get size(): number {
    return this.records.length;
  }

  /** Id of the oldest frame held (the next id when empty). */
  get oldestId(): number {
    return this.firstId;
  }

  /** Id the next frame kept will get. */
  get nextId(): number {
    return this.firstId + this.records.length;
  }

  /** Capture time of the oldest frame held, or null when empty. */
  get oldestUs(): number | null {
    return this.records[0]?.captureTimeUs ?? null;
  }

  /**
   * Keeps a copy of one frame. Audio and video P-frames are kept only behind a keyframe held;
   * a frame bigger than the whole ring empties it (its GOP cannot be kept whole).
   */
  append(track: Track, keyframe: boolean, captureTimeUs: number, data: Uint8Array): void {
    const startsGop = track === Track.Video && keyframe;
    if (startsGop) this.waitingForKeyframe = false;
    if (this.waitingForKeyframe) return;
    const length = data.byteLength;
    if (length > this.capacityBytes) {
      this.clear();
      return;
    }
    const offset = this.makeRoom(length, startsGop);
    if (offset < 0) {
      // The GOP being written filled the ring by itself: what follows cannot be kept whole.
      this.clear();
      return;
    }
    this.storage.set(data, offset);
    this.records.push({ track, keyframe: startsGop, captureTimeUs, offset, length });
    this.head = offset + length;
    this.heldBytes += length;
  }

  /** The frame with this id, or undefined when it was evicted or is not there yet. */
  get(id: number): RingFrame | undefined {
    const record = this.records[id - this.firstId];
    if (record === undefined) return undefined;
    return {
      id,
      track: record.track,
      keyframe: record.keyframe,
      captureTimeUs: record.captureTimeUs,
      data: new Uint8Array(this.storage.buffer, this.storage.byteOffset + record.offset, record.length),
    };
  }

  runStart(fromUs: number, toUs: number): RunStart | null {
    return findRunStart(this.keyframes(), fromUs, toUs);
  }

  /** The keyframes held, oldest first. */
  *keyframes(): Generator<KeyframeMark> {
    for (let i = 0; i < this.records.length; i++) {
      const record = this.records[i]!;
      if (record.keyframe) yield { id: this.firstId + i, captureTimeUs: record.captureTimeUs };
    }
  }

  clear(): void {
    this.firstId = this.nextId;
    this.records = [];
    this.head = 0;
    this.heldBytes = 0;
    this.waitingForKeyframe = true;
  }

  /**
   * The offset for `length` more bytes, evicting the oldest GOPs until nothing held overlaps it;
   * -1 when that would take the GOP this frame belongs to (the ring is smaller than one GOP).
   */
  private makeRoom(length: number, startsGop: boolean): number {
    const wraps = this.head + length > this.capacityBytes;
    const offset = wraps ? 0 : this.head;
    const end = offset + length;
    for (;;) {
      const oldest = this.records[0];
      if (oldest === undefined) return offset;
      const overlaps = oldest.offset < end && oldest.offset + oldest.length > offset;
      // Wrapping to 0 skips the end of the array: anything still there is older than what sits at
      // the start, so it goes first (eviction stays oldest first).
      const skipped = wraps && oldest.offset >= this.head;
      if (!overlaps && !skipped) return offset;
      const gopLength = this.oldestGopLength();
      if (gopLength === this.records.length && !startsGop) return -1;
      this.evict(gopLength);
    }
  }

  /** Frames in the oldest GOP: its keyframe and everything up to the next one. */
  private oldestGopLength(): number {
    let next = 1;
    while (next < this.records.length && !this.records[next]!.keyframe) next++;
    return next;
  }

  private evict(count: number): void {
    if (this.onEvict !== undefined) {
      const gop: RingFrame[] = [];
      for (let id = this.firstId; id < this.firstId + count; id++) gop.push(this.get(id)!);
      this.onEvict(gop);
    }
    for (let i = 0; i < count; i++) this.heldBytes -= this.records[i]!.length;
    this.records.splice(0, count);
    this.firstId += count;
    this.evictedGops += 1;
  }
}
