/**
 * Whether this browser gets the WebCodecs path's pictures onto the screen: live pictures decoded vs
 * pictures painted, per window. Where each changed canvas is costly to composite, the decoder keeps
 * up but the paints fall far behind: WebKitGTK with no GPU composites through an emulated one (Mesa
 * llvmpipe, ~40 ms of CPU a 720p picture) and painted 0.4-1.4 of 17-30 decoded pictures a second on a
 * loaded machine, while the same page with the draw removed painted 28 (bench/README.md, "Browser
 * engines"). No other paint path of the page (WebGL, ImageBitmap, putImageData) was cheaper there.
 * Its <video> (MSE) path hands frames to the compositor without that draw. Two windows in a row
 * with fewer than half the pictures painted is the verdict; one slow window (a busy machine, a
 * catch-up burst) is not.
 */

const WINDOW_MS = 2000;
/** below this many live pictures decoded in a window, it says nothing (a stalled or slow stream) */
const MIN_DECODED = 20;
const MIN_SHOWN_SHARE = 0.5;
const BAD_WINDOWS = 2;

export class PaintPace {
  private windowStart = -1;
  private decoded = 0;
  private shown = 0;
  private badWindows = 0;

  /** a live (not catch-up) picture came out of the decoder; returns a reason once painting is hopeless */
  decodedOne(now: number): string | null {
    // A hidden page gets no animation frames (sound may keep the decoder running): not a verdict.
    if (document.visibilityState !== 'visible') {
      this.reset();
      return null;
    }
    if (this.windowStart < 0) this.windowStart = now;
    this.decoded++;
    if (now - this.windowStart < WINDOW_MS) return null;
    const { decoded, shown } = this;
    this.windowStart = now;
    this.decoded = 0;
    this.shown = 0;
    if (decoded < MIN_DECODED) return null;
    this.badWindows = shown < decoded * MIN_SHOWN_SHARE ? this.badWindows + 1 : 0;
    if (this.badWindows < BAD_WINDOWS) return null;
    return `pictures are decoded but not painted: ${shown} of ${decoded} shown in ${WINDOW_MS / 1000} s`;
  }

  shownOne(): void {
    this.shown++;
  }

  reset(): void {
    this.windowStart = -1;
    this.decoded = 0;
    this.shown = 0;
    this.badWindows = 0;
  }
}
