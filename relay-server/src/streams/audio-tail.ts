import type { HubFrame } from './frame.ts';

const AUDIO_TAIL_US = 500_000;
/** AAC at 48 kHz is ~47 frames/s: this is far above any sane 0.5 s, a guard against a flood of tiny frames. */
const MAX_TAIL_FRAMES = 256;

/**
 * The last ~0.5 s of audio frames, replayed to a joining viewer with the GOP so sound starts with
 * the picture. A short tail rather than a whole GOP of audio: audio needs no keyframe, and older
 * sound would only be played late or thrown away by the player.
 */
export class AudioTail {
  private frames: HubFrame[] = [];
  private readonly spanUs: number;

  constructor(spanUs = AUDIO_TAIL_US) {
    this.spanUs = spanUs;
  }

  add(frame: HubFrame): void {
    this.frames.push(frame);
    const oldest = frame.captureTimeUs - this.spanUs;
    let drop = 0;
    while (drop < this.frames.length && (this.frames[drop]!.captureTimeUs < oldest || this.frames.length - drop > MAX_TAIL_FRAMES)) drop++;
    if (drop > 0) this.frames = this.frames.slice(drop);
  }

  current(): readonly HubFrame[] {
    return this.frames;
  }

  clear(): void {
    this.frames = [];
  }
}
