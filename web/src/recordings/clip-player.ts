import type { TimeRange } from '@picam/protocol';
import { h } from '../dom.ts';
import { formatClockTime } from '../format.ts';

/**
 * Plays a stretch of a camera's recording: the relay's clip.mp4 for a time range in a plain <video>
 * (every browser plays MP4 natively, seeking included, through HTTP Range), with the wall-clock time
 * of the picture on screen beside it. It looks like the live player (same frame, same bar) with a
 * "recording" badge instead of "LIVE".
 *
 * A clip starts on the keyframe at or before the time asked for, so its first picture may be a
 * little earlier. The relay says where it really starts (X-Clip-Start, asked with a HEAD request
 * while the video loads); without that answer, when the whole range is recorded, the clip's length
 * tells (it ends at the range's end). The player then starts at the moment asked for.
 */

export interface ClipPlayerOptions {
  /** The clip's address for a range (async: a share page may need a fresh token first). */
  clipUrl(range: TimeRange): string | Promise<string>;
  /** extra buttons on the bar, after the time (the camera page's "Back to live") */
  controls?: Node[];
  /** the wall-clock time of the picture on screen, as it plays */
  onTime?(at: number): void;
  /** the clip played to its end; `at` is the last wall-clock time shown */
  onEnded?(at: number): void;
}

export class ClipPlayer {
  readonly root: HTMLElement;
  readonly video: HTMLVideoElement;
  private readonly overlay: HTMLElement;
  private readonly overlayText: HTMLElement;
  private readonly timeEl: HTMLElement;
  private readonly options: ClipPlayerOptions;
  private range: TimeRange | null = null;
  private wholeRangeRecorded = false;
  /** wall-clock time of the clip's time 0 */
  private clipStart = 0;
  /** the relay's word on where the clip starts (X-Clip-Start), null when it did not say */
  private announcedStart: Promise<number | null> = Promise.resolve(null);
  private loadToken = 0;
  /** reloads after an error in this clip (a clip token that ran out while seeking) */
  private retries = 0;
  /** where a reloaded clip goes on from (seconds), instead of the moment asked for */
  private resumeAt: number | null = null;
  private destroyed = false;

  constructor(options: ClipPlayerOptions) {
    this.options = options;
    this.video = h('video', { class: 'player-media', testid: 'clip-video', playsinline: true, controls: true, preload: 'auto' });
    // iOS needs the property as well as the attribute for inline playback.
    this.video.playsInline = true;
    this.overlayText = h('span', { class: 'player-overlay-text', testid: 'clip-overlay-text' });
    this.overlay = h('div', { class: 'player-overlay', testid: 'clip-overlay' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), this.overlayText);
    this.timeEl = h('span', { class: 'clip-time', testid: 'clip-time', 'aria-live': 'off' }, '–');
    this.root = h(
      'div',
      { class: 'player clip-player', testid: 'clip-player' },
      h('div', { class: 'player-stage' }, this.video, this.overlay),
      h(
        'div',
        { class: 'player-controls' },
        h('span', { class: 'live-badge recording-badge', testid: 'clip-badge' }, 'RECORDING'),
        this.timeEl,
        h('span', { class: 'spacer' }),
        options.controls ?? [],
      ),
    );

    this.video.addEventListener('loadedmetadata', () => void this.onMetadata());
    this.video.addEventListener('timeupdate', () => this.showTime());
    this.video.addEventListener('seeked', () => this.showTime());
    this.video.addEventListener('playing', () => this.setOverlay(null));
    this.video.addEventListener('waiting', () => this.setOverlay('loading', 'Loading the recording…'));
    this.video.addEventListener('ended', () => this.options.onEnded?.(this.wallTime() ?? this.range?.end ?? Date.now()));
    this.video.addEventListener('error', () => void this.onError());
  }

  /**
   * Plays `range` from its start. `wholeRangeRecorded`: the recording covers all of it, so the clip
   * ends exactly at `range.end` (which lets the player find where the clip really starts).
   */
  async play(range: TimeRange, wholeRangeRecorded: boolean): Promise<void> {
    const token = ++this.loadToken;
    this.range = range;
    this.wholeRangeRecorded = wholeRangeRecorded;
    this.clipStart = range.start;
    this.retries = 0;
    this.resumeAt = null;
    this.setOverlay('loading', 'Loading the recording…');
    this.timeEl.textContent = formatClockTime(range.start);
    const url = await this.urlFor(range, token);
    if (url === null) return;
    this.announcedStart = clipStartOf(url);
    this.video.src = url;
    await this.start(token);
  }

  private async urlFor(range: TimeRange, token: number): Promise<string | null> {
    try {
      const url = await this.options.clipUrl(range);
      return token === this.loadToken && !this.destroyed ? url : null;
    } catch (err) {
      if (token === this.loadToken) this.setOverlay('error', err instanceof Error ? err.message : String(err));
      return null;
    }
  }

  /**
   * The browser asks for the clip in pieces (HTTP Range) as it plays and seeks; a piece refused later
   * (the share page's short-lived clip token ran out) is one fresh address away, at the same place.
   */
  private async onError(): Promise<void> {
    const range = this.range;
    if (!range) return;
    if (this.retries >= 2) {
      this.setOverlay('error', 'This part of the recording could not be played. It may have been deleted: pick another moment.');
      return;
    }
    this.retries++;
    const token = this.loadToken;
    const at = this.video.currentTime;
    const url = await this.urlFor(range, token);
    if (url === null) return;
    this.resumeAt = at > 0 ? at : null;
    this.video.src = url;
    await this.start(token);
  }

  /** The wall-clock time of the picture on screen, or null before a clip is loaded. */
  wallTime(): number | null {
    if (!this.range) return null;
    return this.clipStart + this.video.currentTime * 1000;
  }

  /** Stops and lets go of the clip (the connection, the decoder). */
  stop(): void {
    this.loadToken++;
    this.range = null;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
  }

  destroy(): void {
    this.destroyed = true;
    this.stop();
    this.root.remove();
  }

  /** Plays with sound when the browser allows it (the click that chose the moment usually does), else muted. */
  private async start(token: number): Promise<void> {
    try {
      await this.video.play();
    } catch (err) {
      if (token !== this.loadToken || (err as Error).name !== 'NotAllowedError') return;
      this.video.muted = true;
      await this.video.play().catch(() => this.setOverlay(null)); // the native controls' play button is there
    }
  }

  private async onMetadata(): Promise<void> {
    const range = this.range;
    const token = this.loadToken;
    if (!range) return;
    const announced = await this.announcedStart;
    if (token !== this.loadToken) return;
    const duration = this.video.duration;
    if (announced !== null && announced <= range.start) {
      this.clipStart = announced;
    } else if (this.wholeRangeRecorded && Number.isFinite(duration) && duration > 0) {
      const start = range.end - duration * 1000;
      // A keyframe is never more than a few seconds earlier; anything else is not this estimate's case.
      if (start <= range.start && start >= range.start - 10_000) this.clipStart = start;
    }
    this.root.dataset.clipStart = String(Math.round(this.clipStart));
    const offset = this.resumeAt ?? (range.start - this.clipStart) / 1000;
    this.resumeAt = null;
    if (offset > 0.05 && offset < duration) this.video.currentTime = offset;
    this.showTime();
  }

  private showTime(): void {
    const at = this.wallTime();
    if (at === null) return;
    this.timeEl.textContent = formatClockTime(at);
    this.root.dataset.wallTime = String(Math.round(at));
    this.options.onTime?.(at);
  }

  private setOverlay(state: 'loading' | 'error' | null, text = ''): void {
    this.overlay.hidden = state === null;
    this.overlay.dataset.state = state === 'loading' ? 'connecting' : (state ?? '');
    this.overlayText.textContent = text;
  }
}

/** X-Clip-Start of the clip at `url` (a HEAD request: headers only), or null. */
async function clipStartOf(url: string): Promise<number | null> {
  try {
    const response = await fetch(url, { method: 'HEAD', credentials: 'same-origin', cache: 'no-store' });
    const start = Number(response.headers.get('X-Clip-Start'));
    return response.ok && Number.isFinite(start) && start > 0 ? start : null;
  } catch {
    return null;
  }
}
