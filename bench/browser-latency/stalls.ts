/**
 * Where the picture's tail comes from: the camera's writes that never reached the screen, and for
 * each late picture (latency over p50 + STALL_OVER_P50_MS) what each stage of the page did between
 * the camera's write of that picture and its presentation: the socket's binary messages, the
 * decoder's input (queue depth) and output, the rendering updates (rAF) and the main thread's long
 * tasks (> 50 ms), all stamped by probe.js in the page.
 */

/** epoch ms throughout */
export interface PageEvents {
  /** [start, duration ms] */
  longTasks: Array<[number, number]>;
  binary: number[];
  /** [when, decodeQueueSize before that chunk] */
  decodes: Array<[number, number]>;
  outputs: number[];
  /** rendering updates (rAF time) */
  ticks: number[];
}

export const emptyEvents = (): PageEvents => ({ longTasks: [], binary: [], decodes: [], outputs: [], ticks: [] });

export function appendEvents(into: PageEvents, more: PageEvents): void {
  into.longTasks.push(...more.longTasks);
  into.binary.push(...more.binary);
  into.decodes.push(...more.decodes);
  into.outputs.push(...more.outputs);
  into.ticks.push(...more.ticks);
}

export const STALL_OVER_P50_MS = 30;

export interface Shown {
  shownAt: number;
  latency: number;
  /** the camera's write this picture was matched to */
  writtenAt: number;
}

export interface Stall {
  shownAt: number;
  latency: number;
  /** the longest gap in each stage's events between the write and the presentation, ms */
  socketGap: number;
  outputGap: number;
  tickGap: number;
  longTaskMs: number;
  maxQueue: number;
  /** the stage whose gap is the longest */
  stage: 'socket' | 'decoder' | 'paint' | 'main thread' | 'none';
}

export interface StallReport {
  writes: number;
  neverShown: number;
  /** longest run of consecutive writes never shown */
  longestUnshownRun: number;
  longTasks: { count: number; totalMs: number; maxMs: number };
  /** rendering updates more than 2 display frames apart */
  tickGaps: { over40ms: number; maxMs: number };
  socketGaps: { over100ms: number; maxMs: number };
  maxDecodeQueue: number;
  stalls: Stall[];
}

/** Longest gap between consecutive events in [from, to] (the bounds count as events). */
export function longestGap(times: readonly number[], from: number, to: number): number {
  let prev = from;
  let gap = 0;
  for (const t of times) {
    if (t <= from) continue;
    if (t >= to) break;
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return Math.max(gap, to - prev);
}

function gapsIn(times: readonly number[], from: number, to: number, over: number): { count: number; maxMs: number } {
  let count = 0;
  let maxMs = 0;
  let prev = Number.NaN;
  for (const t of times) {
    if (t < from || t > to) continue;
    if (!Number.isNaN(prev)) {
      const gap = t - prev;
      if (gap > over) count++;
      maxMs = Math.max(maxMs, gap);
    }
    prev = t;
  }
  return { count, maxMs };
}

/**
 * `writes`: the camera's writes in the window (epoch ms, in order); `shown`: pictures matched to a
 * write; `events`: the page's timeline (sorted by time within each list).
 */
export function stallReport(writes: readonly number[], shown: readonly Shown[], events: PageEvents, window: { from: number; to: number }, p50: number): StallReport {
  const shownWrites = new Set(shown.map((s) => s.writtenAt));
  let neverShown = 0;
  let run = 0;
  let longestUnshownRun = 0;
  for (const w of writes) {
    if (shownWrites.has(w)) {
      run = 0;
      continue;
    }
    neverShown++;
    run++;
    longestUnshownRun = Math.max(longestUnshownRun, run);
  }
  const tasks = events.longTasks.filter(([start]) => start >= window.from && start <= window.to);
  const ticks = gapsIn(events.ticks, window.from, window.to, 40);
  const socket = gapsIn(events.binary, window.from, window.to, 100);
  const outputTimes = events.outputs;
  const decodeTimes = events.decodes.map(([t]) => t);
  const stalls: Stall[] = [];
  for (const s of shown) {
    if (s.shownAt < window.from || s.shownAt > window.to || s.latency <= p50 + STALL_OVER_P50_MS) continue;
    const from = s.writtenAt;
    const to = s.shownAt;
    const overlapping = events.longTasks.filter(([start, d]) => start < to && start + d > from);
    const longTaskMs = overlapping.reduce((sum, [start, d]) => sum + Math.min(to, start + d) - Math.max(from, start), 0);
    const queues = events.decodes.filter(([t]) => t >= from && t <= to).map(([, q]) => q);
    const stall: Stall = {
      shownAt: s.shownAt,
      latency: s.latency,
      socketGap: longestGap(events.binary, from, to),
      outputGap: longestGap(outputTimes, from, to),
      tickGap: longestGap(events.ticks, from, to),
      longTaskMs,
      maxQueue: queues.length ? Math.max(...queues) : 0,
      stage: 'none',
    };
    stall.stage = stageOf(stall, longestGap(decodeTimes, from, to));
    stalls.push(stall);
  }
  return {
    writes: writes.length,
    neverShown,
    longestUnshownRun,
    longTasks: { count: tasks.length, totalMs: tasks.reduce((sum, [, d]) => sum + d, 0), maxMs: tasks.reduce((m, [, d]) => Math.max(m, d), 0) },
    tickGaps: { over40ms: ticks.count, maxMs: ticks.maxMs },
    socketGaps: { over100ms: socket.count, maxMs: socket.maxMs },
    maxDecodeQueue: events.decodes.filter(([t]) => t >= window.from && t <= window.to).reduce((m, [, q]) => Math.max(m, q), 0),
    stalls,
  };
}

/**
 * The stage that held the picture back: a main thread blocked (long tasks cover most of the wait),
 * rendering updates that stopped (paint), nothing arriving (socket), or frames arriving and going
 * to the decoder with nothing coming out (decoder).
 */
function stageOf(s: Stall, decodeGap: number): Stall['stage'] {
  const late = s.latency;
  if (s.longTaskMs > late / 2) return 'main thread';
  const candidates: Array<[Stall['stage'], number]> = [
    ['socket', s.socketGap],
    ['decoder', s.outputGap - Math.max(s.socketGap, decodeGap)],
    ['paint', s.tickGap],
  ];
  candidates.sort((a, b) => b[1] - a[1]);
  return candidates[0]![1] > 50 ? candidates[0]![0] : 'none';
}

export function formatStallReport(r: StallReport): string {
  const stages = new Map<string, number>();
  for (const s of r.stalls) stages.set(s.stage, (stages.get(s.stage) ?? 0) + 1);
  return (
    `never shown ${r.neverShown} of ${r.writes} writes (longest run ${r.longestUnshownRun}), ` +
    `long tasks ${r.longTasks.count} (${r.longTasks.totalMs.toFixed(0)} ms, max ${r.longTasks.maxMs.toFixed(0)}), ` +
    `rAF gaps > 40 ms ${r.tickGaps.over40ms} (max ${r.tickGaps.maxMs.toFixed(0)}), ` +
    `socket gaps > 100 ms ${r.socketGaps.over100ms} (max ${r.socketGaps.maxMs.toFixed(0)}), ` +
    `decode queue max ${r.maxDecodeQueue}, late pictures ${r.stalls.length}` +
    (stages.size ? ` (${[...stages].map(([k, v]) => `${k} ${v}`).join(', ')})` : '')
  );
}

export function formatStall(s: Stall, origin: number): string {
  return (
    `  +${((s.shownAt - origin) / 1000).toFixed(2)} s: ${s.latency.toFixed(0)} ms late -> ${s.stage}; gaps: socket ${s.socketGap.toFixed(0)}, ` +
    `decoder out ${s.outputGap.toFixed(0)}, rAF ${s.tickGap.toFixed(0)} ms; long tasks ${s.longTaskMs.toFixed(0)} ms; queue max ${s.maxQueue}`
  );
}
