import { clipPath, MAX_CLIP_MS, type TimeRange } from '@picam/protocol';
import { api, ApiRequestError, errorText, type Camera } from '../api.ts';
import { h, messageLine } from '../dom.ts';
import { ClipPlayer, type ClipPlayerOptions } from './clip-player.ts';
import { ClipShareForm } from './clip-share.ts';
import { Timeline, type TimelinePick } from './timeline.ts';
import { fittingZoom, recordedMomentAt, spanAt, zoomById, ZOOMS, type Zoom } from './timeline-scale.ts';
import { ThumbnailLoader } from './thumbnails.ts';

/**
 * A camera page's recordings: the timeline (zoom 1 h to 7 d, earlier/later), playing a chosen moment
 * in the live player's place, "Back to live", and (for admins) "Share this clip". Which of the two
 * plays is this panel's call, so it starts and stops the page's live player (`live`): while a
 * recording plays, the live stream is closed rather than hidden (no bandwidth for a picture nobody sees).
 */

/** How much of the recording one clip request asks for; playback goes on clip after clip. */
const CHUNK_MS = 20 * 60_000;
/**
 * A thumbnail clip: the keyframe at or before the moment and nothing after the moment (the clip runs
 * from that keyframe to `to`), so each thumbnail costs about one keyframe of download.
 */
const THUMB_CLIP_MS = 1;
/** Within this of the newest recorded moment, "next" is the live picture. */
const LIVE_EDGE_MS = 30_000;
const REFRESH_MS = 15_000;
const ZOOM_KEY = 'picam.timeline.zoom';

type ViewMode = 'live' | 'recording';

export interface RecordingsPanelOptions {
  cameraId: string;
  /** share links are an admin's */
  canShare: boolean;
  /** the page's live player: where it sits, and how to start one */
  live: { stage: HTMLElement; start(): { destroy(): void } };
}

export class RecordingsPanel {
  /** the panel: timeline, zoom, share form; hidden while the camera has no recording */
  readonly el: HTMLElement;
  /** where a recording plays, in the live player's place: hidden while live */
  readonly playback: HTMLElement;
  private readonly options: RecordingsPanelOptions;
  private readonly timeline: Timeline;
  private readonly thumbnails = new ThumbnailLoader();
  /** made on the first recorded playback: a page that only watches live holds no media element for it */
  private player: ClipPlayer | null = null;
  private readonly clipOptions: ClipPlayerOptions;
  private readonly share: ClipShareForm | null;
  private readonly message = messageLine('recordings-message');
  private readonly laterButton = navButton('timeline-later', 'Later', '›');
  private readonly nowButton = navButton('timeline-now', 'Back to the newest recording', 'Now');

  private zoom: Zoom;
  /** the zoom chips, to show a zoom the panel chose itself */
  private readonly zoomInputs = new Map<string, HTMLInputElement>();
  /**
   * The zoom is the user's (stored, chosen, or the bar used) or was fitted to the first recording
   * listed (fittingZoom); until then the panel may still zoom in to fit.
   */
  private zoomSettled: boolean;
  /** the window's end; null: it follows the clock */
  private windowEnd: number | null = null;
  private spans: TimeRange[] = [];
  private mode: ViewMode = 'live';
  private livePlayer: { destroy(): void } | null;
  private playing: TimeRange | null = null;
  private records = false;
  /** something is recorded (in the window, or in the last week): the panel shows even with recording off */
  private everRecorded = false;
  private probed = false;
  private refreshTimer = 0;
  private fetchToken = 0;
  private disposed = false;

  constructor(options: RecordingsPanelOptions) {
    this.options = options;
    this.livePlayer = options.live.start();
    const storedZoom = readZoom();
    this.zoom = zoomById(storedZoom);
    this.zoomSettled = storedZoom !== null;
    const id = options.cameraId;
    this.timeline = new Timeline({
      onPick: (pick) => this.onPick(pick),
      thumbnailUrl: (m) => clipPath(id, m, m + THUMB_CLIP_MS),
      thumbnails: this.thumbnails,
      cacheKey: id,
    });
    const backToLive = h('button', { type: 'button', class: 'player-button back-to-live', testid: 'back-to-live', title: 'Back to the live picture' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Back to live');
    backToLive.addEventListener('click', () => this.goLive());
    this.clipOptions = {
      clipUrl: (range) => clipPath(id, range.start, range.end),
      controls: [backToLive],
      onTime: (at) => this.timeline.setPlayhead(at),
      onEnded: (at) => void this.playOnFrom(at),
    };
    this.playback = h('div', { class: 'camera-stage recording-stage', testid: 'recording-stage', hidden: true });

    this.share = options.canShare ? new ClipShareForm(id) : null;
    this.el = h(
      'section',
      { class: 'recordings', testid: 'recordings', hidden: true, 'aria-label': 'Recordings' },
      this.head(id),
      this.timeline.el,
      this.message.el,
      this.share?.el,
    );
    this.showNav();
  }

  /** The title, the zoom chips and the earlier / later / now buttons. */
  private head(id: string): HTMLElement {
    const zoomChips = ZOOMS.map((z) => {
      const input = h('input', { type: 'radio', name: `timeline-zoom-${id}`, value: z.id, checked: z.id === this.zoom.id, testid: `timeline-zoom-${z.id}` });
      input.addEventListener('change', () => this.setZoom(z));
      this.zoomInputs.set(z.id, input);
      return h('label', { class: 'chip' }, input, z.label);
    });
    const earlier = navButton('timeline-earlier', 'Earlier', '‹', () => this.pan(-0.5));
    this.laterButton.addEventListener('click', () => this.pan(0.5));
    this.nowButton.addEventListener('click', () => this.follow());
    return h(
      'div',
      { class: 'recordings-head' },
      h('h2', {}, 'Recordings'),
      h('fieldset', { class: 'chips timeline-zoom' }, h('legend', { class: 'visually-hidden' }, 'Show the last'), zoomChips),
      h('span', { class: 'spacer' }),
      h('div', { class: 'timeline-nav' }, earlier, this.laterButton, this.nowButton),
    );
  }

  /** The camera as the page last loaded it: whether it records decides whether the panel shows. */
  update(camera: Camera): void {
    const records = camera.record === 'continuous';
    const first = this.refreshTimer === 0 && this.fetchToken === 0;
    this.records = records;
    this.showPanel();
    if (first) void this.refresh();
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.refreshTimer);
    this.livePlayer?.destroy();
    this.livePlayer = null;
    this.player?.destroy();
    this.timeline.destroy();
    this.thumbnails.destroy();
  }

  // ---- the window and its spans -------------------------------------------------------------

  private window(): TimeRange {
    const end = this.windowEnd ?? Date.now();
    return { start: end - this.zoom.spanMs, end };
  }

  private async refresh(): Promise<void> {
    window.clearTimeout(this.refreshTimer);
    const token = ++this.fetchToken;
    let win = this.window();
    try {
      const { spans } = await api.recordings(this.options.cameraId, win.start, win.end);
      if (this.disposed || token !== this.fetchToken) return;
      this.spans = spans;
      if (!this.zoomSettled && spans.length > 0) win = this.fitZoom(spans, win);
      if (spans.length > 0) this.everRecorded = true;
      else if (!this.records && !this.probed) await this.probeOlder();
      this.message.clear();
      this.showPanel();
      this.timeline.setView(win, this.zoom, spans);
    } catch (err) {
      if (this.disposed || token !== this.fetchToken) return;
      // A viewer without the grant, or a relay without recordings: no panel, no noise.
      if (err instanceof ApiRequestError && (err.status === 403 || err.status === 404)) {
        this.everRecorded = false;
        this.records = false;
        this.showPanel();
      } else {
        this.message.error(errorText(err));
      }
    }
    if (!this.disposed) this.refreshTimer = window.setTimeout(() => void this.refresh(), REFRESH_MS);
  }

  /** A camera that no longer records may still have last week's recording to show. */
  private async probeOlder(): Promise<void> {
    this.probed = true;
    const now = Date.now();
    const { spans } = await api.recordings(this.options.cameraId, now - ZOOMS[ZOOMS.length - 1]!.spanMs, now);
    if (spans.length > 0) this.everRecorded = true;
  }

  private showPanel(): void {
    this.el.hidden = !(this.records || this.everRecorded || this.mode === 'recording');
  }

  /** The first recording listed: zoom in as far as still shows all of it (not stored: it is no choice of the user's). */
  private fitZoom(spans: readonly TimeRange[], win: TimeRange): TimeRange {
    this.zoomSettled = true;
    const fit = fittingZoom(spans, win.end, this.zoom);
    if (fit === this.zoom) return win;
    this.zoom = fit;
    const input = this.zoomInputs.get(fit.id);
    if (input) input.checked = true;
    return { start: win.end - fit.spanMs, end: win.end };
  }

  private setZoom(zoom: Zoom): void {
    this.zoomSettled = true;
    this.zoom = zoom;
    try {
      localStorage.setItem(ZOOM_KEY, zoom.id);
    } catch {
      // storage off: the zoom lasts for this page
    }
    // Keep what is playing in view.
    const at = this.player?.wallTime() ?? null;
    if (this.mode === 'recording' && at !== null && this.windowEnd !== null) this.windowEnd = Math.min(Date.now(), at + zoom.spanMs / 2);
    this.showNav();
    void this.refresh();
  }

  /** Moves the window by `fraction` of its width (negative: earlier); never past now. */
  private pan(fraction: number): void {
    this.zoomSettled = true;
    const end = (this.windowEnd ?? Date.now()) + fraction * this.zoom.spanMs;
    this.windowEnd = end >= Date.now() ? null : end;
    this.showNav();
    void this.refresh();
  }

  private follow(): void {
    this.windowEnd = null;
    this.showNav();
    void this.refresh();
  }

  private showNav(): void {
    this.laterButton.disabled = this.windowEnd === null;
    this.nowButton.disabled = this.windowEnd === null;
  }

  // ---- playing ------------------------------------------------------------------------------

  private onPick(pick: TimelinePick): void {
    this.zoomSettled = true;
    if (pick.kind === 'range') {
      let range = pick.range;
      if (range.end - range.start > MAX_CLIP_MS) {
        range = { start: range.start, end: range.start + MAX_CLIP_MS };
        this.message.info(`A clip is at most ${MAX_CLIP_MS / 60_000} minutes: the choice was shortened to its beginning.`);
      } else {
        this.message.clear();
      }
      // The clip is what is recorded of the range: a drag that began in a gap starts where the recording does.
      const from = recordedMomentAt(this.spans, range.start);
      const newest = this.spans.at(-1)?.end ?? 0;
      if (from === null || from >= Math.min(range.end, newest)) return this.nothingHere();
      const clip = { start: Math.round(from), end: Math.round(Math.min(range.end, newest)) };
      this.choose(clip);
      this.playFrom(clip.start, clip.end);
      return;
    }
    const from = recordedMomentAt(this.spans, pick.at);
    if (from === null) return this.nothingHere();
    this.message.clear();
    const played = this.playFrom(from, from + CHUNK_MS);
    this.choose(played);
  }

  private nothingHere(): void {
    this.message.info('Nothing is recorded there yet.');
  }

  private choose(range: TimeRange): void {
    this.timeline.setSelection(range);
    this.share?.setRange(range);
  }

  /**
   * Plays from `from` up to `until`, within the span that holds `from` (a clip never crosses a gap:
   * the next span is the next clip). Returns the stretch played.
   */
  private playFrom(from: number, until: number): TimeRange {
    const span = spanAt(this.spans, from);
    const end = Math.min(until, span?.end ?? until, Date.now());
    const range = { start: Math.round(from), end: Math.round(Math.max(end, from + 1000)) };
    this.playing = range;
    this.setMode('recording');
    this.timeline.setPlayhead(range.start);
    void this.clipPlayer().play(range, span !== null && range.end <= span.end);
    return range;
  }

  /** A clip ended at `at`: on to what was recorded next, or live when that is where the recording ends. */
  private async playOnFrom(at: number): Promise<void> {
    const playing = this.playing;
    if (!playing || this.mode !== 'recording') return;
    await this.refresh();
    if (this.disposed || this.playing !== playing) return;
    const after = Math.max(at, playing.end);
    const next = this.spans.find((s) => s.end > after + 500);
    const newest = this.spans.at(-1)?.end ?? 0;
    if (!next || Math.max(next.start, after) > newest - LIVE_EDGE_MS) {
      this.goLive();
      return;
    }
    this.playFrom(Math.max(next.start, after), Math.max(next.start, after) + CHUNK_MS);
  }

  private clipPlayer(): ClipPlayer {
    if (!this.player) {
      this.player = new ClipPlayer(this.clipOptions);
      this.playback.append(this.player.root);
    }
    return this.player;
  }

  private goLive(): void {
    this.playing = null;
    this.player?.stop();
    this.timeline.setPlayhead(null);
    this.setMode('live');
  }

  private setMode(mode: ViewMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.playback.hidden = mode !== 'recording';
    this.el.dataset.mode = mode;
    this.showPanel();
    this.options.live.stage.hidden = mode === 'recording';
    if (mode === 'recording') {
      this.livePlayer?.destroy();
      this.livePlayer = null;
    } else {
      this.livePlayer ??= this.options.live.start();
    }
  }
}

function navButton(testid: string, title: string, label: string, onClick?: () => void): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'secondary small', testid, title, 'aria-label': title }, label);
  if (onClick) button.addEventListener('click', onClick);
  return button;
}

function readZoom(): string | null {
  try {
    return localStorage.getItem(ZOOM_KEY);
  } catch {
    return null;
  }
}
