import type { TimeRange } from '@picam/protocol';

/**
 * The recordings timeline's arithmetic, apart from the DOM so it can be tested under Node: the zoom
 * levels, where a time sits on the bar and back, which spans and ticks fall in the window, what a
 * click or a drag chooses, and where thumbnails go. Times are epoch milliseconds throughout.
 */

type ZoomId = '1h' | '6h' | '24h' | '7d';

export interface Zoom {
  id: ZoomId;
  label: string;
  /** how much time the bar shows */
  spanMs: number;
  /** the distance between two labelled ticks */
  tickMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const ZOOMS: readonly Zoom[] = [
  { id: '1h', label: '1 h', spanMs: HOUR, tickMs: 10 * MINUTE },
  { id: '6h', label: '6 h', spanMs: 6 * HOUR, tickMs: HOUR },
  { id: '24h', label: '24 h', spanMs: DAY, tickMs: 3 * HOUR },
  { id: '7d', label: '7 d', spanMs: 7 * DAY, tickMs: DAY },
];

export function zoomById(id: string | null | undefined): Zoom {
  return ZOOMS.find((z) => z.id === id) ?? ZOOMS[1]!;
}

/**
 * The zoom to open a timeline at when the user has not chosen one: the closest zoom, no wider than
 * `preferred`, that still shows everything recorded in the window ending at `end` (`spans` as listed
 * for `preferred`'s window). A camera recording for a few minutes is a sliver of 6 h and a finger's
 * width of 1 h. `preferred` when nothing is recorded yet.
 */
export function fittingZoom(spans: readonly TimeRange[], end: number, preferred: Zoom): Zoom {
  const first = spans[0];
  if (!first) return preferred;
  const needed = end - Math.max(first.start, end - preferred.spanMs);
  return ZOOMS.find((z) => z.spanMs <= preferred.spanMs && z.spanMs >= needed) ?? preferred;
}

/** Where `t` sits on the bar, 0 (window start) to 1 (window end), not clamped. */
export function fractionOf(window: TimeRange, t: number): number {
  return (t - window.start) / (window.end - window.start);
}

/** The time at a fraction of the bar, clamped to the window. */
export function timeAt(window: TimeRange, fraction: number): number {
  const f = Math.min(1, Math.max(0, fraction));
  return window.start + f * (window.end - window.start);
}

/** The spans' parts inside the window, as fractions of the bar (left edge and width). */
export function spansOnBar(spans: readonly TimeRange[], window: TimeRange): { left: number; width: number; span: TimeRange }[] {
  const out: { left: number; width: number; span: TimeRange }[] = [];
  for (const span of spans) {
    const start = Math.max(span.start, window.start);
    const end = Math.min(span.end, window.end);
    if (end <= start) continue;
    out.push({ left: fractionOf(window, start), width: fractionOf(window, end) - fractionOf(window, start), span });
  }
  return out;
}

/**
 * Tick times inside the window, on local-time boundaries (whole hours, midnights) so the labels read
 * "14:00", not "14:07". The step is the zoom's `tickMs`.
 */
export function ticks(window: TimeRange, zoom: Zoom): number[] {
  const out: number[] = [];
  const first = new Date(window.start);
  if (zoom.tickMs >= DAY) {
    first.setHours(0, 0, 0, 0);
    while (first.getTime() < window.start) first.setDate(first.getDate() + 1);
    for (const d = first; d.getTime() <= window.end; d.setDate(d.getDate() + 1)) out.push(d.getTime());
    return out;
  }
  const stepMinutes = zoom.tickMs / MINUTE;
  first.setSeconds(0, 0);
  if (stepMinutes >= 60) {
    first.setMinutes(0);
    const stepHours = stepMinutes / 60;
    first.setHours(Math.floor(first.getHours() / stepHours) * stepHours);
  } else {
    first.setMinutes(Math.floor(first.getMinutes() / stepMinutes) * stepMinutes);
  }
  // Step in wall-clock units (setMinutes), so a daylight-saving change does not shift the labels.
  for (const d = first; d.getTime() <= window.end; d.setMinutes(d.getMinutes() + stepMinutes)) {
    if (d.getTime() >= window.start) out.push(d.getTime());
  }
  return out;
}

/**
 * The recorded moment a click at `t` means: `t` itself when recorded; in a gap, the start of the
 * next span (what happened next); after the last span, a little before its end. null: nothing recorded.
 */
export function recordedMomentAt(spans: readonly TimeRange[], t: number, tailMs = 10_000): number | null {
  if (spans.length === 0) return null;
  for (const span of spans) {
    if (t < span.start) return span.start;
    if (t < span.end) return t;
  }
  const last = spans[spans.length - 1]!;
  return Math.max(last.start, last.end - tailMs);
}

/** Which span holds `t` (start inclusive, end exclusive), if any. */
export function spanAt(spans: readonly TimeRange[], t: number): TimeRange | null {
  return spans.find((s) => s.start <= t && t < s.end) ?? null;
}

/**
 * What a drag from `a` to `b` chooses: the range between them, at least `minMs` long (a short drag
 * on a phone is a tap with a wobble, not a two-second clip), kept inside [0, `latest`].
 */
export function rangeFromDrag(a: number, b: number, latest: number, minMs = 5000): TimeRange {
  let start = Math.min(a, b);
  let end = Math.max(a, b);
  if (end - start < minMs) end = start + minMs;
  if (end > latest) {
    start = Math.max(0, start - (end - latest));
    end = latest;
  }
  return { start: Math.round(start), end: Math.round(end) };
}

/**
 * Where thumbnails go: the bar is cut into `count` cells on a grid fixed in absolute time (so as the
 * window moves with the clock, the same moments come back and a cache keeps them), and each cell
 * whose time is partly recorded gets the first recorded moment in it.
 */
export function thumbnailMoments(spans: readonly TimeRange[], window: TimeRange, count: number): number[] {
  if (count <= 0 || window.end <= window.start) return [];
  const cell = Math.max(1000, Math.round((window.end - window.start) / count));
  const out: number[] = [];
  for (let start = Math.floor(window.start / cell) * cell; start < window.end; start += cell) {
    const end = start + cell;
    const first = spans.find((s) => s.end > start && s.start < end);
    if (!first) continue;
    const moment = Math.max(first.start, start);
    if (moment >= window.start && moment < window.end) out.push(moment);
  }
  return out;
}
