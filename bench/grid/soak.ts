import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { sleep, type Helper } from '../lib/children.ts';
import { rssKiB } from '../lib/proc.ts';
import { startBenchRelay, type BenchRelay } from '../lib/relay.ts';
import { mib, ratio, verdict, type Row } from '../lib/table.ts';
import { BYTE_COUNTER, GRID_VIEWPORT, chromiumProcesses, gridContext, launchGridBrowser, startCameras } from './grid-bench.ts';

// The page's test hook, `window.__picam.players`.
import type {} from '../../web/src/player/test-hook.ts';

/**
 * The memory of a long-open grid (issue #21): 16 cameras in one tab, all tiles in view, for what
 * stands for hours of a user. What grows in a page is driven by events, not by wall time: sockets
 * opened and closed, decoders made and closed, frames decoded, tiles scrolled away and back, tiles
 * clicked to full rate and released, the tab hidden and shown. So the soak runs those events far
 * faster than a user would, counts them, and says how many hours of a user they stand for
 * (USER_EVENTS_PER_HOUR). Every `sampleEveryMs`, with the grid back at rest (every tile in view and
 * live, the tab shown), it samples the JS heap after a forced GC, the live VideoDecoders and open
 * WebSockets (counted by an init script around the constructors), the DOM counters and the
 * renderer's RSS; the table holds the first sample after warm-up against the last, the slope per
 * simulated hour and its extrapolation to 8 hours.
 *
 * The hidden tab: headless Chromium keeps every page visible (a second tab, a minimized window,
 * Page.setWebLifecycleState leave `document.visibilityState` at 'visible'), so the init script
 * stands in for the browser there: `document.visibilityState` / `hidden` read a flag, and a
 * `visibilitychange` event is sent when it flips, which is all the player listens to
 * (web/src/player/visibility.ts). A real hidden tab also throttles timers and animation frames.
 */

/** A user at a grid on a desk or wall for a working day: a click and a scroll a minute, a tab switch every 5 minutes. */
const USER_EVENTS_PER_HOUR = { click: 60, scroll: 60, hide: 12 } as const;
const SIMULATED_HOURS = 8;
/** A tile not in focus gets a keyframe every 2 s (web/src/player/grid-tiles.ts): 8 h are 14 400. */
const TILE_KEYFRAMES_PER_HOUR = 1800;
const CAMERAS = 16;
/** The order of events, in the user's proportions (USER_EVENTS_PER_HOUR: 5 clicks, 5 scrolls, 1 hide). */
const PATTERN: ReadonlyArray<SoakEventKind> = ['click', 'scroll', 'click', 'scroll', 'click', 'scroll', 'click', 'scroll', 'click', 'scroll', 'hide'];
/** A clicked tile plays at full rate this long before the next event (which releases it, or leaves it focused behind a scroll). */
const CLICK_DWELL_MS = 1000;
/** Scrolling: a laptop-high window, so that part of the grid is out of view at either end. */
const SHORT_VIEWPORT = { width: GRID_VIEWPORT.width, height: 600 } as const;
/** How long tiles may take to be live again (or paused) after an event, on a busy 2-core machine. */
const SETTLE_TIMEOUT_MS = 15_000;
/** Heap within this share of the first sample after warm-up over 8 hours (or HEAP_SLACK_MB, whichever is more). */
const HEAP_GROWTH_SHARE = 0.1;
const HEAP_SLACK_MB = 2;
const DOM_GROWTH_SHARE = 0.1;

type SoakEventKind = keyof typeof USER_EVENTS_PER_HOUR;

export interface SoakOptions {
  /** length of the event run, warm-up included */
  minutes: number;
  warmupMs: number;
  sampleEveryMs: number;
  /** the publishers' pace: a clicked tile decodes this many frames a second */
  fps: number;
  log?: (line: string) => void;
}

export function soakOptions(quick: boolean, minutes?: number, fps?: number): SoakOptions {
  return quick
    ? { minutes: minutes ?? 1.5, warmupMs: 20_000, sampleEveryMs: 10_000, fps: fps ?? 30 }
    : // The heap settles over the first ~half simulated hour (the first tiles' rejoins): the baseline comes after it.
      { minutes: minutes ?? 10, warmupMs: 120_000, sampleEveryMs: 30_000, fps: fps ?? 30 };
}

interface SoakSample {
  /** seconds since the events started */
  atSeconds: number;
  events: Record<SoakEventKind, number>;
  simulatedHours: number;
  heapUsedMB: number;
  heapTotalMB: number;
  domNodes: number;
  jsEventListeners: number;
  documents: number;
  rendererRssMB: number;
  rendererAnonMB: number;
  gpuRssMB: number;
  players: number;
  tilesPlaying: number;
  tilesLive: number;
  liveDecoders: number;
  decodersCreated: number;
  openSockets: number;
  socketsOpened: number;
  keyframeDecodes: number;
  deltaDecodes: number;
  picturesDecoded: number;
  bytesReceived: number;
  /** the grid was at rest (every tile in view live) when sampled */
  settled: boolean;
}

export interface SoakResult {
  rows: Row[];
  samples: SoakSample[];
  /** index in `samples` of the first sample after warm-up */
  baseline: number;
  events: Record<SoakEventKind, number>;
  /** time spent in each kind of event, waiting for the tiles included */
  eventMs: Record<SoakEventKind, number>;
  tilesOutAndBack: number;
  /** the most live decoders beyond the tiles playing, and live decoders, seen at any check */
  maxExtraDecoders: number;
  maxLiveDecoders: number;
  unsettled: number;
  warnings: string[];
}

/**
 * Counts, before the page's own scripts run: VideoDecoders made and closed (by close() or by an
 * error, which closes one too), chunks decoded (keyframes apart) and pictures out, WebSockets
 * opened and closed; and the visibility stand-in (see the module comment).
 */
const SOAK_COUNTERS = `(() => {
  const s = { decodersCreated: 0, decodersClosed: 0, keyDecodes: 0, deltaDecodes: 0, pictures: 0, socketsOpened: 0, socketsClosed: 0 };
  window.__soak = s;
  const NativeDecoder = window.VideoDecoder;
  if (NativeDecoder) {
    window.VideoDecoder = class extends NativeDecoder {
      #closed = false;
      constructor(init) {
        let self = null;
        super({
          output: (frame) => { s.pictures++; init.output(frame); },
          error: (err) => { self?.#count(); init.error(err); },
        });
        self = this;
        s.decodersCreated++;
      }
      #count() {
        if (this.#closed) return;
        this.#closed = true;
        s.decodersClosed++;
      }
      close() {
        if (this.state !== 'closed') this.#count();
        super.close();
      }
      decode(chunk) {
        if (chunk.type === 'key') s.keyDecodes++;
        else s.deltaDecodes++;
        super.decode(chunk);
      }
    };
  }
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      s.socketsOpened++;
      this.addEventListener('close', () => { s.socketsClosed++; });
    }
  };
  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  window.__soakSetHidden = (h) => {
    if (h === hidden) return;
    hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  };
})();`;

interface SoakCounters {
  decodersCreated: number;
  decodersClosed: number;
  keyDecodes: number;
  deltaDecodes: number;
  pictures: number;
  socketsOpened: number;
  socketsClosed: number;
}

declare global {
  interface Window {
    __soak?: SoakCounters;
    __soakSetHidden?: (hidden: boolean) => void;
  }
}

/** What the page says now: its counters and its players' states. */
const pageCounts = (page: Page) =>
  page.evaluate(() => {
    // No named functions in here: the bench's loader would wrap them in a helper the page lacks.
    const s = window.__soak!;
    const players = window.__picam?.players ?? [];
    let playing = 0;
    let live = 0;
    for (const p of players) {
      const state = p.stats().state;
      if (state === 'live') live++;
      if (state === 'connecting' || state === 'waiting' || state === 'live' || state === 'stalled') playing++;
    }
    return {
      ...s,
      liveDecoders: s.decodersCreated - s.decodersClosed,
      openSockets: s.socketsOpened - s.socketsClosed,
      players: players.length,
      playing,
      live,
      bytes: window.__gridBytes?.() ?? 0,
    };
  });

/**
 * Waits until the page is at rest: every player whose tile is in view is live (with the tab shown),
 * every other one paused. False when it was not so within SETTLE_TIMEOUT_MS.
 */
async function settle(page: Page): Promise<boolean> {
  try {
    await page.waitForFunction(
      () => {
        const hidden = document.visibilityState === 'hidden';
        for (const p of window.__picam?.players ?? []) {
          const rect = p.root.getBoundingClientRect();
          const inView = !hidden && rect.bottom > 0 && rect.top < window.innerHeight && rect.right > 0 && rect.left < window.innerWidth;
          const state = p.stats().state;
          if (inView ? state !== 'live' : state !== 'paused') return false;
        }
        return true;
      },
      undefined,
      { timeout: SETTLE_TIMEOUT_MS, polling: 200 },
    );
    return true;
  } catch {
    return false;
  }
}

/** Players of the page that are paused: tiles out of view (or all, hidden). */
const pausedCount = (page: Page) => page.evaluate(() => (window.__picam?.players ?? []).filter((p) => p.stats().state === 'paused').length);

/** A /proc/<pid>/status figure in kB (0 when gone). */
function statusKiB(pid: number, key: string): number {
  try {
    return Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * The renderer's RSS, and of it the anonymous memory (the decoders' frame pools, the heaps; the
 * rest is shared memory with the GPU process, and mapped files), and the GPU process's RSS, MB.
 */
function processMemoryMB(): { renderer: number; rendererAnon: number; gpu: number } {
  const out = { renderer: 0, rendererAnon: 0, gpu: 0 };
  for (const p of chromiumProcesses()) {
    if (p.type === 'renderer') {
      out.renderer += rssKiB(p.pid) || 0;
      out.rendererAnon += statusKiB(p.pid, 'RssAnon');
    } else if (p.type === 'gpu-process') out.gpu += rssKiB(p.pid) || 0;
  }
  return { renderer: out.renderer / 1024, rendererAnon: out.rendererAnon / 1024, gpu: out.gpu / 1024 };
}

/** Least-squares slope of y over x (NaN with fewer than two distinct x). */
function slope(points: ReadonlyArray<{ x: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den > 0 ? num / den : Number.NaN;
}

const userHours = (events: Record<SoakEventKind, number>) =>
  (events.click + events.scroll + events.hide) / (USER_EVENTS_PER_HOUR.click + USER_EVENTS_PER_HOUR.scroll + USER_EVENTS_PER_HOUR.hide);

export async function runGridSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {});
  let relay: BenchRelay | undefined;
  let browser: Browser | undefined;
  let publisher: Helper | undefined;
  const warnings: string[] = [];
  try {
    relay = await startBenchRelay();
    const cameras = await startCameras(relay, CAMERAS, options.fps);
    publisher = cameras.publisher;
    browser = await launchGridBrowser();
    const context = await gridContext(browser, relay);
    const page = await context.newPage();
    page.on('console', (m) => {
      if ((m.type() === 'warning' || m.type() === 'error') && warnings.length < 50) warnings.push(m.text());
    });
    await page.addInitScript(BYTE_COUNTER);
    await page.addInitScript(SOAK_COUNTERS);
    await page.goto(`${relay.url}/`);
    await page.waitForFunction((n) => (window.__picam?.players ?? []).length >= n, CAMERAS, { timeout: 60_000 });
    // The first start of 16 decoders on a busy machine takes longer than a return to view.
    let ready = false;
    for (let i = 0; i < 4 && !ready; i++) ready = await settle(page);
    if (!ready) warnings.push('not all 16 tiles live before the events started');
    const cdp = await context.newCDPSession(page);
    const events: Record<SoakEventKind, number> = { click: 0, scroll: 0, hide: 0 };
    /** time spent in each kind of event, settling included */
    const eventMs: Record<SoakEventKind, number> = { click: 0, scroll: 0, hide: 0 };
    const samples: SoakSample[] = [];
    let tilesOutAndBack = 0;
    let unsettled = 0;
    let maxExtraDecoders = Number.NEGATIVE_INFINITY;
    let maxLiveDecoders = 0;
    let clicked = -1;
    const started = performance.now();
    const check = async () => {
      const c = await pageCounts(page);
      maxExtraDecoders = Math.max(maxExtraDecoders, c.liveDecoders - c.playing);
      maxLiveDecoders = Math.max(maxLiveDecoders, c.liveDecoders);
      return c;
    };
    const settled = async (what: string) => {
      if (await settle(page)) return true;
      unsettled++;
      const c = await check();
      log(`soak: not at rest ${SETTLE_TIMEOUT_MS / 1000} s after ${what}: ${c.live} live, ${c.playing} playing`);
      return false;
    };

    const run: Record<SoakEventKind, () => Promise<void>> = {
      click: async () => {
        clicked = (clicked + 5) % CAMERAS; // a different tile each time, over the whole grid
        await page.evaluate((i) => document.querySelectorAll<HTMLElement>('[data-testid="camera-tile"] [data-testid="player"]')[i]?.click(), clicked);
        await sleep(CLICK_DWELL_MS);
        await check();
      },
      scroll: async () => {
        await page.setViewportSize(SHORT_VIEWPORT);
        await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
        await settled('scrolling down');
        const pausedAtBottom = await pausedCount(page);
        await check();
        await page.evaluate(() => window.scrollTo(0, 0));
        await settled('scrolling up');
        const pausedAtTop = await pausedCount(page);
        await check();
        await page.setViewportSize(GRID_VIEWPORT);
        await settled('the window back to full height');
        // Each tile left the view once (at the top or the bottom) and came back.
        tilesOutAndBack += Math.min(CAMERAS, pausedAtBottom + pausedAtTop);
      },
      hide: async () => {
        await page.evaluate(() => window.__soakSetHidden?.(true));
        await settled('hiding the tab');
        await check();
        await page.evaluate(() => window.__soakSetHidden?.(false));
        await settled('showing the tab');
      },
    };

    const sample = async (): Promise<SoakSample> => {
      const rest = await settle(page);
      // Twice: DOM nodes let go of in one collection (a tile's replaced footer) are freed by the next.
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('HeapProfiler.collectGarbage');
      const heap = await cdp.send('Runtime.getHeapUsage');
      const dom = await cdp.send('Memory.getDOMCounters');
      const c = await check();
      const memory = processMemoryMB();
      return {
        atSeconds: (performance.now() - started) / 1000,
        events: { ...events },
        simulatedHours: userHours(events),
        heapUsedMB: heap.usedSize / 1e6,
        heapTotalMB: heap.totalSize / 1e6,
        domNodes: dom.nodes,
        jsEventListeners: dom.jsEventListeners,
        documents: dom.documents,
        rendererRssMB: memory.renderer,
        rendererAnonMB: memory.rendererAnon,
        gpuRssMB: memory.gpu,
        players: c.players,
        tilesPlaying: c.playing,
        tilesLive: c.live,
        liveDecoders: c.liveDecoders,
        decodersCreated: c.decodersCreated,
        openSockets: c.openSockets,
        socketsOpened: c.socketsOpened,
        keyframeDecodes: c.keyDecodes,
        deltaDecodes: c.deltaDecodes,
        picturesDecoded: c.pictures,
        bytesReceived: c.bytes,
        settled: rest,
      };
    };
    const logSample = (s: SoakSample) =>
      log(
        `soak: ${s.atSeconds.toFixed(0).padStart(4)} s, ${s.simulatedHours.toFixed(2)} h of a user: heap ${s.heapUsedMB.toFixed(2)} MB, ` +
          `${s.domNodes} nodes, ${s.jsEventListeners} listeners, renderer RSS ${s.rendererRssMB.toFixed(0)} MB (anon ${s.rendererAnonMB.toFixed(0)}), GPU process ${s.gpuRssMB.toFixed(0)} MB, ` +
          `decoders ${s.liveDecoders} live / ${s.tilesPlaying} playing (${s.decodersCreated} made), sockets ${s.openSockets} open (${s.socketsOpened} opened), ` +
          `${s.tilesLive}/${s.players} live${s.settled ? '' : ' (not at rest)'}`,
      );

    samples.push(await sample());
    logSample(samples[0]!);
    let baseline = -1;
    let lastSampleAt = performance.now();
    const endAt = started + options.minutes * 60_000;
    for (let i = 0; performance.now() < endAt; i++) {
      const kind = PATTERN[i % PATTERN.length]!;
      const t0 = performance.now();
      await run[kind]();
      events[kind]++;
      eventMs[kind] += performance.now() - t0;
      const now = performance.now();
      const warm = now - started >= options.warmupMs;
      if ((warm && baseline < 0) || now - lastSampleAt >= options.sampleEveryMs) {
        samples.push(await sample());
        logSample(samples.at(-1)!);
        if (warm && baseline < 0) baseline = samples.length - 1;
        lastSampleAt = performance.now();
      }
    }
    // The last one at the end, at rest.
    if (performance.now() - lastSampleAt > 1000 || baseline < 0) {
      samples.push(await sample());
      logSample(samples.at(-1)!);
    }
    if (baseline < 0) baseline = samples.length - 1;
    await cdp.detach();
    await context.close();
    const result = { samples, baseline, events: { ...events }, eventMs, tilesOutAndBack, maxExtraDecoders, maxLiveDecoders, unsettled, warnings };
    return { ...result, rows: toRows(result) };
  } finally {
    await browser?.close();
    await publisher?.stop();
    await relay?.stop();
  }
}

function toRows(r: Omit<SoakResult, 'rows'>): Row[] {
  const first = r.samples[r.baseline]!;
  const last = r.samples.at(-1)!;
  const after = r.samples.slice(r.baseline);
  const hours = last.simulatedHours - first.simulatedHours;
  const perHour = (pick: (s: SoakSample) => number) => slope(after.map((s) => ({ x: s.simulatedHours, y: pick(s) })));
  const span = `first sample after warm-up (${first.simulatedHours.toFixed(2)} h)`;
  const growth = (pick: (s: SoakSample) => number, unit: (x: number) => string) => {
    const h = perHour(pick);
    return { perHour: h, in8h: h * SIMULATED_HOURS, text: `${unit(pick(last))} (${signed(h, unit)} per simulated hour, ${signed(h * SIMULATED_HOURS, unit)} over ${SIMULATED_HOURS} h)` };
  };
  const count = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');

  const heap = growth((s) => s.heapUsedMB, mib);
  const heapAllowed = Math.max(HEAP_GROWTH_SHARE * first.heapUsedMB, HEAP_SLACK_MB);
  /** a page-side count that must stay flat: at most DOM_GROWTH_SHARE more over the simulated day */
  const domRow = (figure: string, pick: (s: SoakSample) => number): Row => {
    const g = growth(pick, count);
    return {
      figure,
      value: g.text,
      target: `+${(DOM_GROWTH_SHARE * 100).toFixed(0)} % over ${SIMULATED_HOURS} h`,
      floor: `${span}: ${pick(first)}`,
      ratio: ratio(pick(last), pick(first)),
      verdict: verdict(Number.isFinite(g.in8h) ? g.in8h <= DOM_GROWTH_SHARE * pick(first) : undefined),
    };
  };
  /** a process's memory from /proc: told, not judged (shared memory swings with the compositor) */
  const memoryRow = (figure: string, pick: (s: SoakSample) => number): Row => ({
    figure,
    value: growth(pick, mib).text,
    target: 'info',
    floor: `${span}: ${mib(pick(first))}`,
    ratio: ratio(pick(last), pick(first)),
    verdict: 'info',
  });
  const restSamples = after.filter((s) => s.settled);
  const decodersAtRest = restSamples.every((s) => s.liveDecoders === s.tilesPlaying);
  const socketsAtRest = restSamples.every((s) => s.openSockets === s.tilesPlaying);
  const playersKept = after.every((s) => s.players === CAMERAS);
  const keyframesPerTile = last.keyframeDecodes / CAMERAS;
  const rows: Row[] = [
    {
      figure: `grid soak, 16 cameras: JS heap after GC`,
      value: heap.text,
      target: `+${(HEAP_GROWTH_SHARE * 100).toFixed(0)} % or +${HEAP_SLACK_MB} MB over ${SIMULATED_HOURS} h`,
      floor: `${span}: ${mib(first.heapUsedMB)}`,
      ratio: ratio(last.heapUsedMB, first.heapUsedMB),
      verdict: verdict(Number.isFinite(heap.in8h) ? heap.in8h <= heapAllowed : undefined),
    },
    {
      figure: 'grid soak: live VideoDecoders (made - closed)',
      value: `${last.liveDecoders} at the end, for ${last.tilesPlaying} tiles playing; at most ${r.maxLiveDecoders} (${signed(r.maxExtraDecoders, count)} beyond the tiles playing) at any check; ${last.decodersCreated} made`,
      target: '== tiles playing, never more',
      floor: `${span}: ${first.liveDecoders} for ${first.tilesPlaying}`,
      ratio: '-',
      verdict: verdict(r.maxExtraDecoders <= 0 && decodersAtRest && playersKept),
    },
    {
      figure: 'grid soak: open WebSockets',
      value: `${last.openSockets} at the end, for ${last.tilesPlaying} tiles playing; ${last.socketsOpened} opened`,
      target: '== tiles playing',
      floor: `${span}: ${first.openSockets}`,
      ratio: '-',
      verdict: verdict(socketsAtRest),
    },
    domRow('grid soak: DOM nodes', (x) => x.domNodes),
    domRow('grid soak: JS event listeners', (x) => x.jsEventListeners),
    memoryRow('grid soak: renderer RSS', (x) => x.rendererRssMB),
    memoryRow('grid soak: renderer anonymous memory (RssAnon)', (x) => x.rendererAnonMB),
    memoryRow('grid soak: GPU process RSS', (x) => x.gpuRssMB),
    {
      figure: 'grid soak: hours of a user the events stand for',
      value:
        `${last.simulatedHours.toFixed(2)} h (${hours.toFixed(2)} h after warm-up) in ${(last.atSeconds / 60).toFixed(1)} min: ` +
        `${r.events.click} clicks, ${r.events.scroll} scrolls (${r.tilesOutAndBack} tiles out of view and back), ${r.events.hide} tab hides; ` +
        `${last.socketsOpened} sockets, ${last.decodersCreated} decoders`,
      target: `a user: ${USER_EVENTS_PER_HOUR.click} clicks, ${USER_EVENTS_PER_HOUR.scroll} scrolls, ${USER_EVENTS_PER_HOUR.hide} tab switches an hour`,
      floor: '-',
      ratio: '-',
      verdict: 'info',
    },
    {
      figure: 'grid soak: frames decoded',
      value:
        `${keyframesPerTile.toFixed(0)} keyframes a tile (${((100 * keyframesPerTile) / (TILE_KEYFRAMES_PER_HOUR * SIMULATED_HOURS)).toFixed(1)} % of ${SIMULATED_HOURS} h's ` +
        `${TILE_KEYFRAMES_PER_HOUR * SIMULATED_HOURS}), ${last.deltaDecodes} delta frames at full rate, ${last.picturesDecoded} pictures out; ` +
        `${r.unsettled} events left tiles not at rest after ${SETTLE_TIMEOUT_MS / 1000} s`,
      target: 'info',
      floor: '-',
      ratio: '-',
      verdict: 'info',
    },
  ];
  return rows;
}

function signed(x: number, unit: (x: number) => string): string {
  if (!Number.isFinite(x)) return '-';
  return `${x >= 0 ? '+' : '-'}${unit(Math.abs(x))}`;
}
