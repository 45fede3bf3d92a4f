/**
 * How the WebCodecs path puts a decoded picture on its <canvas>, chosen by what it costs the page's
 * main thread, measured on the first pictures:
 *
 * - 'draw': `drawImage(videoFrame)` in the animation frame. Where the browser composites on a GPU
 *   this hands the frame over without a copy, and costs well under a millisecond.
 * - 'copy': `videoFrame.copyTo(rgba)` as soon as the picture is decoded, `putImageData` in the
 *   animation frame. Chromium with no GPU (software compositing, a headless browser, a machine
 *   with its GPU blocklisted) spends 15-20 ms of main thread on each `drawImage` of a 720p
 *   VideoFrame, half-size draws as much, while `copyTo` converts the same picture in ~1 ms and
 *   `putImageData` puts it up in ~0.3 ms (bench/README.md, "The tail of the live picture"). At
 *   30 pictures a second those draws took half the main thread: a 2-core machine that also runs
 *   the relay and the camera left every other task of the page (the socket, the decoder's output)
 *   queued behind them, and the picture came in bursts, 100-300 ms late.
 *
 * 'draw' first; after SAMPLES pictures, if they cost more than SLOW_DRAW_MS at the median, 'copy'
 * is tried for SAMPLES pictures and kept only if it costs less. A browser whose copyTo cannot
 * convert to RGBA (copyFailed) draws.
 */

export type PaintMethod = 'draw' | 'copy';

/** pictures measured per method before choosing */
export const SAMPLES = 8;
/** a median drawImage above this (ms of main thread a picture) is worth trying the copy for */
export const SLOW_DRAW_MS = 4;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export class PaintMethodChoice {
  private method: PaintMethod = 'draw';
  private settled = false;
  private samples: number[] = [];
  private drawMs = Number.NaN;
  private readonly copyAvailable: boolean;

  /** `copyAvailable`: the browser has VideoFrame.copyTo and ImageData at all */
  constructor(copyAvailable: boolean) {
    this.copyAvailable = copyAvailable;
  }

  get current(): PaintMethod {
    return this.method;
  }

  /** the median main-thread cost of a drawImage, once measured (ms) */
  get drawCostMs(): number {
    return this.drawMs;
  }

  /** One picture put up with the current method cost this much of the main thread (ms). */
  sample(ms: number): void {
    if (this.settled) return;
    this.samples.push(ms);
    if (this.samples.length < SAMPLES) return;
    const cost = median(this.samples);
    this.samples = [];
    if (this.method === 'draw') {
      this.drawMs = cost;
      if (cost > SLOW_DRAW_MS && this.copyAvailable) this.method = 'copy';
      else this.settled = true;
      return;
    }
    if (cost >= this.drawMs) this.method = 'draw';
    this.settled = true;
  }

  /** copyTo refused the conversion (or ignored it): draw from now on. */
  copyFailed(): void {
    this.method = 'draw';
    this.settled = true;
    this.samples = [];
  }
}
