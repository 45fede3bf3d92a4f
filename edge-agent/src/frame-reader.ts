import { AccessUnitSplitter, type ProtocolError } from '@picam/protocol';
import type { CaptureClock } from './clock.ts';
import type { AgentStats } from './stats.ts';

/** One access unit as read from the camera, stamped when its bytes were read. */
export interface CapturedFrame {
  /**
   * Annex-B bytes, byte-identical to what the camera wrote. With `reusedChunks`, valid only
   * during the onFrame call (copy to keep).
   */
  data: Uint8Array;
  keyframe: boolean;
  /** microseconds since the Unix epoch */
  captureTimeUs: number;
}

export interface FrameReaderOptions {
  clock: CaptureClock;
  stats: AgentStats;
  onFrame: (frame: CapturedFrame) => void;
  /** pipe silence that completes a unit when completing on drain is off or cannot be trusted */
  flushDelayMs: number;
  /** complete a unit as soon as the pipe is drained (default true); see the class comment */
  drainFlush?: boolean;
  /** completing on drain tore a frame and is off for the rest of this camera run */
  onDrainFlushOff?: () => void;
  maxAccessUnitBytes?: number;
  onOversize?: (error: ProtocolError) => void;
  /** pushed chunks are views of one reused read buffer (see AccessUnitSplitter) */
  reusedChunks?: boolean;
}

/**
 * stdio writes a big fwrite() in whole blocks of this size, then the tail: a unit whose length so
 * far is a multiple of it is likely mid-write, so it waits for the silence timer instead.
 */
const STDIO_BLOCK_BYTES = 4096;

/**
 * Camera stdout -> access units. One reader per camera process, so a restart never glues the
 * tail of the old stream onto the new one.
 *
 * Latency: the splitter only knows a frame is complete when the next one starts, a whole frame
 * interval later. rpicam-vid (`--flush`) writes each frame at once, so the reader completes the
 * unit as soon as the pipe is drained: once it holds a picture, two event-loop turns (one more
 * poll of the pipe) have passed with no new byte, and its length is not a whole number of stdio
 * blocks (glibc's fwrite sends a big frame as blocks plus a tail, microseconds apart). That costs
 * tens of microseconds instead of the ~2-3 ms a 2 ms timer costs. Where draining cannot be trusted
 * (drainFlush off, or a block-sized unit), a short pipe silence (flushDelayMs) completes it.
 *
 * If the completion lied (a loaded Pi paused the camera mid-frame), the splitter reports the late
 * bytes as a torn frame; the frame already went out damaged, so everything up to the next keyframe
 * is dropped rather than decoded against it, and this camera run falls back to the silence timer.
 */
export class FrameReader {
  private readonly splitter: AccessUnitSplitter;
  private readonly options: FrameReaderOptions;
  private drainFlush: boolean;
  private timer: NodeJS.Timeout | undefined;
  /** when the first byte of the unit still pending in the splitter was read; null: nothing pending */
  private pendingSinceUs: number | null = null;
  private lastStampUs = 0;
  private waitingForKeyframe = false;
  private closed = false;
  /** chunks pushed so far: tells the drain check whether bytes came in while it waited */
  private chunks = 0;
  private chunksAtCheck = 0;
  /** 0: no drain check scheduled; 1, 2: its first or second event-loop turn is scheduled */
  private drainTurn = 0;

  constructor(options: FrameReaderOptions) {
    this.options = options;
    this.drainFlush = options.drainFlush ?? true;
    this.splitter = new AccessUnitSplitter({
      ...(options.maxAccessUnitBytes === undefined ? {} : { maxAccessUnitBytes: options.maxAccessUnitBytes }),
      reusedChunks: options.reusedChunks ?? false,
      onError: (error) => options.onOversize?.(error),
      onTorn: () => {
        options.stats.tornFrames += 1;
        this.waitingForKeyframe = true;
        if (this.drainFlush) {
          this.drainFlush = false;
          options.onDrainFlushOff?.();
        }
      },
    });
  }

  push(chunk: Uint8Array): void {
    if (this.closed) return;
    const now = this.options.clock.nowUs();
    const units = this.splitter.push(chunk);
    for (let i = 0; i < units.length; i++) {
      const unit = units[i]!;
      // Only the first completed unit can have begun in an earlier chunk.
      this.emit(unit.data, unit.keyframe, i === 0 && this.pendingSinceUs !== null ? this.pendingSinceUs : now);
    }
    if (units.length > 0 || this.pendingSinceUs === null) this.pendingSinceUs = now;
    this.chunks++;
    this.scheduleCompletion();
  }

  /** The camera's stdout ended: whatever is pending is complete. */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.close();
  }

  /** Stops the timer; pending bytes are discarded (the process is being killed). */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private scheduleCompletion(): void {
    const splitter = this.splitter;
    if (this.drainFlush && splitter.pendingHasPicture && splitter.pendingBytes % STDIO_BLOCK_BYTES !== 0) {
      if (this.drainTurn === 0) {
        this.drainTurn = 1;
        setImmediate(this.drainCheck);
      }
      return;
    }
    // Re-armed on every chunk with refresh() (no allocation): it fires after a quiet pipe.
    if (this.timer === undefined) this.timer = setTimeout(this.flush, this.options.flushDelayMs);
    else this.timer.refresh();
  }

  /**
   * First turn: the poll phase that read the chunk is over; note the chunk count and wait one
   * more turn, whose poll phase reads anything the camera wrote meanwhile. Second turn: nothing
   * came, so the unit is complete; something came, so decide again.
   */
  private readonly drainCheck = (): void => {
    if (this.closed) return;
    if (this.drainTurn === 1) {
      this.drainTurn = 2;
      this.chunksAtCheck = this.chunks;
      setImmediate(this.drainCheck);
      return;
    }
    this.drainTurn = 0;
    if (this.chunks !== this.chunksAtCheck) this.scheduleCompletion();
    else if (this.drainFlush) this.flush();
  };

  private readonly flush = (): void => {
    if (this.closed) return;
    const since = this.pendingSinceUs ?? this.options.clock.nowUs();
    this.pendingSinceUs = null;
    for (const unit of this.splitter.flush()) this.emit(unit.data, unit.keyframe, since);
  };

  private emit(data: Uint8Array, keyframe: boolean, stampUs: number): void {
    const stats = this.options.stats;
    stats.framesCaptured += 1;
    if (this.waitingForKeyframe) {
      if (!keyframe) {
        stats.framesDropped += 1;
        return;
      }
      this.waitingForKeyframe = false;
    }
    // Strictly increasing, even for several units read in one chunk.
    const captureTimeUs = stampUs > this.lastStampUs ? stampUs : this.lastStampUs + 1;
    this.lastStampUs = captureTimeUs;
    this.options.onFrame({ data, keyframe, captureTimeUs });
  }
}
