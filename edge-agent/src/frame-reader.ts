import { AccessUnitSplitter, type ProtocolError } from '@picam/protocol';
import type { CaptureClock } from './clock.ts';
import type { AgentStats } from './stats.ts';

/** One access unit as read from the camera, stamped when its bytes were read. */
export interface CapturedFrame {
  /** Annex-B bytes, byte-identical to what the camera wrote. */
  data: Uint8Array;
  keyframe: boolean;
  /** microseconds since the Unix epoch */
  captureTimeUs: number;
}

export interface FrameReaderOptions {
  clock: CaptureClock;
  stats: AgentStats;
  onFrame: (frame: CapturedFrame) => void;
  /** pipe silence that completes a unit; the camera writes one frame per write (`--flush`) */
  flushDelayMs: number;
  maxAccessUnitBytes?: number;
  onOversize?: (error: ProtocolError) => void;
}

/**
 * Camera stdout -> access units. One reader per camera process, so a restart never glues the
 * tail of the old stream onto the new one.
 *
 * Latency: the splitter only knows a frame is complete when the next one starts, a whole frame
 * interval later. Since rpicam-vid writes each frame in one write, a short pipe silence means the
 * frame is complete: a single timer, re-armed on every chunk with `refresh()` (no allocation),
 * flushes the splitter then.
 *
 * If the silence lied (a big frame written in pieces with a pause in between), the splitter
 * reports the late bytes as a torn frame; the frame already went out damaged, so everything up to
 * the next keyframe is dropped rather than decoded against it.
 */
export class FrameReader {
  private readonly splitter: AccessUnitSplitter;
  private readonly options: FrameReaderOptions;
  private timer: NodeJS.Timeout | undefined;
  /** when the first byte of the unit still pending in the splitter was read; null: nothing pending */
  private pendingSinceUs: number | null = null;
  private lastStampUs = 0;
  private waitingForKeyframe = false;
  private closed = false;

  constructor(options: FrameReaderOptions) {
    this.options = options;
    this.splitter = new AccessUnitSplitter({
      ...(options.maxAccessUnitBytes === undefined ? {} : { maxAccessUnitBytes: options.maxAccessUnitBytes }),
      onError: (error) => options.onOversize?.(error),
      onTorn: () => {
        options.stats.tornFrames += 1;
        this.waitingForKeyframe = true;
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
    if (this.timer === undefined) this.timer = setTimeout(this.flush, this.options.flushDelayMs);
    else this.timer.refresh();
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
