import type { TimeRange } from '@picam/protocol';
import { h, replaceChildren } from '../dom.ts';
import { formatClockTime, formatTickLabel } from '../format.ts';
import { fractionOf, rangeFromDrag, spansOnBar, thumbnailMoments, ticks, timeAt, type Zoom } from './timeline-scale.ts';
import type { ThumbnailLoader } from './thumbnails.ts';

/**
 * The recordings bar: the recorded spans of a time window drawn over a strip of keyframe thumbnails,
 * hour/day ticks under it, the playhead and the chosen range on it. A click (or tap) picks a moment;
 * a drag (mouse or finger) picks a range. Horizontal drags are the bar's, vertical swipes still
 * scroll the page (touch-action: pan-y).
 */

/** How far a pointer may wander before a press is a drag, in CSS pixels (a finger wobbles). */
const DRAG_THRESHOLD_PX = 8;
/** Thumbnails are about this wide on the bar; at most `MAX_THUMBS` of them. */
const THUMB_SLOT_PX = 96;
const MAX_THUMBS = 12;
/** How long the arrow keys must rest before the moment they reached plays. */
const KEY_SETTLE_MS = 350;
/** Half a tick label's width ("20:10", "Sat 5"), for keeping labels whole at the bar's ends. */
const TICK_LABEL_HALF_PX = 20;

export type TimelinePick = { kind: 'moment'; at: number } | { kind: 'range'; range: TimeRange };

export interface TimelineOptions {
  onPick(pick: TimelinePick): void;
  /** the URL of a short clip whose first picture is the thumbnail at `moment` */
  thumbnailUrl(moment: number): string;
  thumbnails: ThumbnailLoader;
  /** the key thumbnails are cached under (the camera) */
  cacheKey: string;
}

export class Timeline {
  readonly el: HTMLElement;
  private readonly track: HTMLElement;
  private readonly thumbs: HTMLElement;
  private readonly spansEl: HTMLElement;
  private readonly ticksEl: HTMLElement;
  private readonly selectionEl: HTMLElement;
  private readonly playheadEl: HTMLElement;
  private readonly hoverEl: HTMLElement;
  private readonly options: TimelineOptions;

  private window: TimeRange = { start: 0, end: 1 };
  private zoom: Zoom | null = null;
  private spans: readonly TimeRange[] = [];
  private selection: TimeRange | null = null;
  private playhead: number | null = null;
  private thumbsDrawn = '';
  private visible = false;
  private readonly resize: ResizeObserver;
  private readonly intersection: IntersectionObserver;
  private keyTimer = 0;
  private press: { pointerId: number; x: number; at: number; dragging: boolean } | null = null;

  constructor(options: TimelineOptions) {
    this.options = options;
    this.thumbs = h('div', { class: 'timeline-thumbs', 'aria-hidden': 'true' });
    this.spansEl = h('div', { class: 'timeline-spans' });
    this.selectionEl = h('div', { class: 'timeline-selection', testid: 'timeline-selection', hidden: true });
    this.playheadEl = h('div', { class: 'timeline-playhead', testid: 'timeline-playhead', hidden: true });
    this.hoverEl = h('div', { class: 'timeline-hover', 'aria-hidden': 'true', hidden: true });
    this.track = h(
      'div',
      {
        class: 'timeline-track',
        testid: 'timeline-track',
        role: 'slider',
        tabindex: 0,
        'aria-label': 'Recordings: click or tap to play a moment, drag to choose a clip',
      },
      this.thumbs,
      this.spansEl,
      this.selectionEl,
      this.playheadEl,
      this.hoverEl,
    );
    this.ticksEl = h('div', { class: 'timeline-ticks', 'aria-hidden': 'true' });
    this.el = h('div', { class: 'timeline', testid: 'timeline' }, this.track, this.ticksEl);

    this.track.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    this.track.addEventListener('pointermove', (e) => this.onPointerMove(e));
    this.track.addEventListener('pointerup', (e) => this.onPointerUp(e));
    this.track.addEventListener('pointercancel', () => this.cancelPress());
    this.track.addEventListener('pointerleave', () => (this.hoverEl.hidden = true));
    this.track.addEventListener('keydown', (e) => this.onKey(e));
    this.resize = new ResizeObserver(() => this.render());
    this.resize.observe(this.track);
    // Thumbnails are only loaded once the bar is on screen.
    this.intersection = new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
      if (this.visible) this.drawThumbnails();
    });
    this.intersection.observe(this.track);
  }

  setView(window: TimeRange, zoom: Zoom, spans: readonly TimeRange[]): void {
    this.window = window;
    this.zoom = zoom;
    this.spans = spans;
    this.render();
  }

  setSelection(range: TimeRange | null): void {
    this.selection = range;
    this.placeSelection();
  }

  setPlayhead(at: number | null): void {
    this.playhead = at;
    this.placePlayhead();
  }

  destroy(): void {
    window.clearTimeout(this.keyTimer);
    this.resize.disconnect();
    this.intersection.disconnect();
  }

  private render(): void {
    replaceChildren(
      this.spansEl,
      spansOnBar(this.spans, this.window).map(({ left, width, span }) => {
        const el = h('div', { class: 'timeline-span', testid: 'timeline-span', title: `${formatClockTime(span.start)} – ${formatClockTime(span.end)}` });
        el.style.left = percent(left);
        // A few seconds on a 7-day bar would be invisible: at least a hairline.
        el.style.width = `max(2px, ${percent(width)})`;
        el.dataset.start = String(span.start);
        el.dataset.end = String(span.end);
        return el;
      }),
    );
    // A label centred on a tick at the very edge would be cut in half: those go unlabelled.
    const width = this.track.clientWidth;
    const fits = (f: number) => width === 0 || (f * width >= TICK_LABEL_HALF_PX && (1 - f) * width >= TICK_LABEL_HALF_PX);
    replaceChildren(
      this.ticksEl,
      this.zoom
        ? ticks(this.window, this.zoom)
            .filter((t) => fits(fractionOf(this.window, t)))
            .map((t) => {
              const el = h('span', { class: 'timeline-tick' }, formatTickLabel(t, this.zoom!.tickMs));
              el.style.left = percent(fractionOf(this.window, t));
              return el;
            })
        : [],
    );
    this.track.setAttribute('aria-valuemin', String(this.window.start));
    this.track.setAttribute('aria-valuemax', String(this.window.end));
    this.placeSelection();
    this.placePlayhead();
    this.drawThumbnails();
  }

  private placeSelection(): void {
    const s = this.selection;
    const on = s ? spansOnBar([s], this.window)[0] : undefined;
    this.selectionEl.hidden = !on;
    if (on) {
      this.selectionEl.dataset.start = String(on.span.start);
      this.selectionEl.dataset.end = String(on.span.end);
      this.selectionEl.style.left = percent(on.left);
      this.selectionEl.style.width = `max(3px, ${percent(on.width)})`;
    }
  }

  private placePlayhead(): void {
    const at = this.playhead;
    const f = at === null ? -1 : fractionOf(this.window, at);
    this.playheadEl.hidden = f < 0 || f > 1;
    if (f >= 0 && f <= 1) this.playheadEl.style.left = percent(f);
    if (at !== null) {
      this.track.setAttribute('aria-valuenow', String(Math.round(at)));
      this.track.setAttribute('aria-valuetext', formatClockTime(at));
    }
  }

  /** Thumbnails along the bar: only when it is visible, and only when the set of moments changed. */
  private drawThumbnails(): void {
    if (!this.visible) return;
    const width = this.track.clientWidth;
    const count = Math.max(1, Math.min(MAX_THUMBS, Math.floor(width / THUMB_SLOT_PX)));
    const moments = thumbnailMoments(this.spans, this.window, count);
    const signature = `${this.window.start}:${this.window.end}:${moments.join(',')}`;
    if (signature === this.thumbsDrawn) return;
    this.thumbsDrawn = signature;
    const keyOf = (m: number) => `${this.options.cacheKey}@${m}`;
    this.options.thumbnails.retain(new Set(moments.map(keyOf)));
    const slots = moments.map((m) => {
      const slot = h('div', { class: 'timeline-thumb', testid: 'timeline-thumb' });
      slot.style.left = percent(fractionOf(this.window, m));
      slot.style.width = percent(1 / count);
      slot.dataset.at = String(m);
      void this.options.thumbnails.get(keyOf(m), this.options.thumbnailUrl(m)).then((canvas) => {
        if (canvas && slot.isConnected) {
          slot.appendChild(canvas);
          slot.dataset.loaded = 'true';
        }
      });
      return slot;
    });
    replaceChildren(this.thumbs, slots);
  }

  private timeAtClientX(clientX: number): number {
    const rect = this.track.getBoundingClientRect();
    return timeAt(this.window, rect.width > 0 ? (clientX - rect.left) / rect.width : 0);
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.track.setPointerCapture(e.pointerId);
    this.press = { pointerId: e.pointerId, x: e.clientX, at: this.timeAtClientX(e.clientX), dragging: false };
  }

  private onPointerMove(e: PointerEvent): void {
    const at = this.timeAtClientX(e.clientX);
    if (e.pointerType === 'mouse') this.showHover(e.clientX, at);
    const press = this.press;
    if (!press || press.pointerId !== e.pointerId) return;
    if (!press.dragging && Math.abs(e.clientX - press.x) < DRAG_THRESHOLD_PX) return;
    press.dragging = true;
    this.setSelection(rangeFromDrag(press.at, at, this.window.end, 0));
  }

  private onPointerUp(e: PointerEvent): void {
    const press = this.press;
    if (!press || press.pointerId !== e.pointerId) return;
    this.press = null;
    const at = this.timeAtClientX(e.clientX);
    if (press.dragging) this.options.onPick({ kind: 'range', range: rangeFromDrag(press.at, at, Date.now()) });
    else this.options.onPick({ kind: 'moment', at: press.at });
  }

  private cancelPress(): void {
    if (this.press?.dragging) this.setSelection(null);
    this.press = null;
  }

  private showHover(clientX: number, at: number): void {
    const rect = this.track.getBoundingClientRect();
    this.hoverEl.hidden = false;
    this.hoverEl.textContent = formatClockTime(at);
    // Centred on the pointer, but never half off the bar at either end.
    const half = this.hoverEl.offsetWidth / 2 + 2;
    this.hoverEl.style.left = `${Math.min(Math.max(clientX - rect.left, half), rect.width - half)}px`;
  }

  /**
   * Arrow keys move the playhead by a sixtieth of the bar; it plays from there once the keys rest
   * (holding a key down is one clip request, not one per step).
   */
  private onKey(e: KeyboardEvent): void {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    e.preventDefault();
    const step = (this.window.end - this.window.start) / 60;
    const from = this.playhead ?? this.selection?.start ?? this.window.end - step;
    const at = Math.min(this.window.end, Math.max(this.window.start, from + (e.key === 'ArrowLeft' ? -step : step)));
    this.setPlayhead(at);
    window.clearTimeout(this.keyTimer);
    this.keyTimer = window.setTimeout(() => this.options.onPick({ kind: 'moment', at }), KEY_SETTLE_MS);
  }
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(3)}%`;
}
