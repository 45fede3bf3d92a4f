import { ProtocolError } from '../errors.ts';
import { ByteQueue } from './byte-queue.ts';
import { ADTS_HEADER_BYTES, isAdtsSync, parseAdtsHeader } from './adts.ts';

export interface AdtsSplitterOptions {
  /** Bigger frames are dropped and reported. Default 8191, the largest frame_length ADTS can code. */
  maxFrameBytes?: number;
  /** Called, after the current push/flush is processed, for dropped frames and lost sync. */
  onError?: (err: ProtocolError) => void;
}

export const MAX_ADTS_FRAME_BYTES = 8191;

/**
 * Streaming ADTS splitter: returns whole ADTS frames (header included, copied out) from arbitrary chunks.
 *
 * In sync, a frame is emitted as soon as its last byte arrives. After bytes that are not ADTS, it
 * resynchronises on the 0xFFF syncword, and because any byte pair can look like one, a candidate frame
 * is trusted only once a valid header with the same fixed fields (object type, sampling rate, channels)
 * follows right after it, or flush() is called after a pipe silence. The stream start counts as in sync: a header at offset 0 is taken at its word.
 * push() and flush() never throw; skipped bytes and dropped frames are counted and reported.
 */
export class AdtsSplitter {
  /** Frames dropped for exceeding maxFrameBytes. */
  oversizeDropped = 0;
  /** Times sync was lost (then regained by a search). */
  resyncs = 0;
  /** Bytes skipped while searching for sync. */
  skippedBytes = 0;

  private readonly maxBytes: number;
  private readonly onError: ((err: ProtocolError) => void) | undefined;
  private readonly queue = new ByteQueue();
  private inSync = true;
  private skippedSinceSync = 0;
  private dropRemaining = 0; // bytes of an oversize frame still to discard
  private errors: ProtocolError[] = [];

  constructor(options: AdtsSplitterOptions = {}) {
    const max = options.maxFrameBytes ?? MAX_ADTS_FRAME_BYTES;
    if (!(max > ADTS_HEADER_BYTES)) throw new RangeError(`maxFrameBytes must exceed ${ADTS_HEADER_BYTES}, got ${max}`);
    this.maxBytes = max;
    this.onError = options.onError;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    let input = chunk;
    if (this.dropRemaining > 0) {
      const n = Math.min(this.dropRemaining, input.length);
      this.dropRemaining -= n;
      input = input.subarray(n);
    }
    if (input.length > 0) this.queue.append(input);
    return this.drain(false);
  }

  /** After a pipe silence: also accepts a whole frame found by resync whose successor has not come yet. */
  flush(): Uint8Array[] {
    return this.drain(true);
  }

  private drain(flushing: boolean): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (;;) {
      const bytes = this.queue.view();
      if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0xff)) break; // wait for the sync's 2nd byte
      if (!isAdtsSync(bytes)) {
        this.skipToSync(bytes);
        continue;
      }
      if (bytes.length < ADTS_HEADER_BYTES) break;
      let frameLength: number;
      try {
        frameLength = parseAdtsHeader(bytes).frameLength;
      } catch {
        this.skip(1); // a syncword with an impossible header: not a frame start
        continue;
      }
      if (!this.inSync) {
        // Resync candidate: confirm it with the header of the frame after it.
        if (frameLength > this.maxBytes) {
          this.skip(1);
          continue;
        }
        if (bytes.length < frameLength + ADTS_HEADER_BYTES) {
          if (!(flushing && bytes.length >= frameLength)) break;
        } else if (!continuesStream(bytes, frameLength)) {
          this.skip(1);
          continue;
        }
        this.regainSync();
      }
      if (frameLength > this.maxBytes) {
        this.oversizeDropped++;
        this.errors.push(
          new ProtocolError('ERR_ACCESS_UNIT_TOO_LARGE', `ADTS frame of ${frameLength} bytes dropped (limit ${this.maxBytes})`),
        );
        const held = Math.min(frameLength, bytes.length);
        this.queue.consume(held);
        this.dropRemaining = frameLength - held;
        continue;
      }
      if (bytes.length < frameLength) break;
      frames.push(this.queue.copy(frameLength));
      this.queue.consume(frameLength);
    }
    this.reportErrors();
    return frames;
  }

  /** Skips to the next byte that may begin a syncword (keeping a trailing 0xFF that may). */
  private skipToSync(bytes: Uint8Array): void {
    let i = bytes.indexOf(0xff, 1);
    while (i >= 0 && i + 1 < bytes.length && !isAdtsSync(bytes, i)) i = bytes.indexOf(0xff, i + 1);
    this.skip(i < 0 ? bytes.length : i);
  }

  private skip(n: number): void {
    if (this.inSync) {
      this.inSync = false;
      this.resyncs++;
    }
    this.skippedBytes += n;
    this.skippedSinceSync += n;
    this.queue.consume(n);
  }

  private regainSync(): void {
    this.inSync = true;
    this.errors.push(new ProtocolError('ERR_ADTS_INVALID', `skipped ${this.skippedSinceSync} bytes of non-ADTS data`));
    this.skippedSinceSync = 0;
  }

  private reportErrors(): void {
    const errors = this.errors;
    this.errors = [];
    for (const err of errors) {
      try {
        this.onError?.(err);
      } catch (thrown) {
        // A throwing callback must not break the splitter or lose this call's frames: report it apart.
        queueMicrotask(() => {
          throw thrown;
        });
      }
    }
  }
}

/**
 * Whether a valid ADTS header with the same fixed-header fields (ISO/IEC 13818-7: they never change
 * within a stream) starts right after the candidate frame at the front of `bytes`.
 */
function continuesStream(bytes: Uint8Array, frameLength: number): boolean {
  if (!isAdtsSync(bytes, frameLength)) return false;
  try {
    const a = parseAdtsHeader(bytes);
    const b = parseAdtsHeader(bytes, frameLength);
    return (
      a.objectType === b.objectType &&
      a.samplingFrequencyIndex === b.samplingFrequencyIndex &&
      a.channelConfiguration === b.channelConfiguration &&
      (bytes[1]! & 0x08) === (bytes[frameLength + 1]! & 0x08) // MPEG version bit
    );
  } catch {
    return false;
  }
}
