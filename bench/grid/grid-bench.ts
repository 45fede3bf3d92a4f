import { readFileSync, readdirSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startHelper, sleep, type Helper } from '../lib/children.ts';
import { FANOUT_CLIP, clipBitrate, loadUnits } from '../lib/clips.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';
import { startBenchRelay, type BenchRelay } from '../lib/relay.ts';
import { pct, ratio, verdict, type BenchOptions, type Row } from '../lib/table.ts';

// The page's test hook, `window.__picam.players`.
import type {} from '../../web/src/player/test-hook.ts';

/**
 * The camera grid in headless Chromium, beside one camera in full view, in the same run and the
 * same browser: page CPU (the renderer and GPU processes' utime+stime from /proc, over a window)
 * and bytes a second received on the page's WebSockets (counted in the page), for the camera page
 * and for a grid of 1, 4 and 16 cameras. The cameras are agent-less: bench/fanout/publisher.ts
 * streams the committed 1080p30 clip (4.3 Mbit/s, GOP 2 s) per camera over the agent protocol.
 * The grid's viewport shows every tile (all 16 in view: the most a grid can cost); no tile is
 * focused, so all ask for keyframes only (web/src/player/grid-tiles.ts). Target (issue #21): 16
 * cameras in the grid cost at most 2x the CPU and 2x the bytes of one camera in full view.
 */

const CHROMIUM = process.env.PICAM_CHROMIUM ?? '/usr/bin/chromium';
/** Wide and tall enough that 16 tiles are all in view: the grid's worst case. */
export const GRID_VIEWPORT = { width: 1920, height: 1400 } as const;
const GRID_SIZES = [1, 4, 16] as const;
const TARGET_RATIO = 2;

export interface GridMeasurement {
  label: string;
  cameras: number;
  /** renderer + GPU processes, % of one core */
  pageCpuPercent: number;
  /** every Chromium process, % of one core */
  browserCpuPercent: number;
  bytesPerSecond: number;
  /** pictures shown a second, all players together */
  framesShownPerSecond: number;
  playersLive: number;
  /** frames a second received by the players at full rate (the camera page's, a clicked tile) */
  fullRateFramesPerSecond: number;
  /** reconnects and decoder resets of all players over the window: a grid that keeps starting over costs its GOPs again */
  reconnects: number;
  decoderResets: number;
  jsHeapMB: number;
  /** the whole machine's busy share over the window (two cores: 200 %) */
  machineBusyPercent: number;
  windowSeconds: number;
  /** the page's console warnings (the first 20) */
  warnings: string[];
}

export interface GridBenchResult {
  rows: Row[];
  measurements: GridMeasurement[];
}

/** Counts the bytes every WebSocket of the page receives, before the page's own scripts run. */
export const BYTE_COUNTER = `(() => {
  const Native = window.WebSocket;
  let bytes = 0;
  window.__gridBytes = () => bytes;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        const d = e.data;
        bytes += typeof d === 'string' ? d.length : (d.byteLength ?? d.size ?? 0);
      });
    }
  };
})();`;

declare global {
  interface Window {
    __gridBytes?: () => number;
  }
}

/** What a Chromium process is: `--type=` of its command line ('browser' for the one without). */
export interface ChromiumProcess {
  pid: number;
  /** the renderer and GPU processes: what a page costs */
  kind: 'page' | 'other';
  type: string;
}

/** Chromium's processes under this one, by kind (from their command lines). */
export function chromiumProcesses(): ChromiumProcess[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  const out: ChromiumProcess[] = [];
  for (const pid of parent.keys()) {
    if (!mine(pid)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!/chrom/i.test(cmd)) continue;
    const type = /--type=([\w-]+)/.exec(cmd)?.[1] ?? 'browser';
    out.push({ pid, kind: type === 'renderer' || type === 'gpu-process' ? 'page' : 'other', type });
  }
  return out;
}

function cpuByPid(): Map<number, { kind: 'page' | 'other'; seconds: number }> {
  return new Map(chromiumProcesses().map((p) => [p.pid, { kind: p.kind, seconds: cpuSeconds(p.pid) }]));
}

async function jsHeapMB(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  return (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? Number.NaN) / 1e6;
}

const pageFigures = (page: Page) =>
  page.evaluate(() => {
    const players = window.__picam?.players ?? [];
    // No named functions in here: the bench's loader would wrap them in a helper the page lacks.
    const out = { bytes: window.__gridBytes?.() ?? 0, shown: 0, reconnects: 0, decoderResets: 0, live: 0, fullRateReceived: 0 };
    for (const p of players) {
      const s = p.stats();
      if (p.root.dataset.quality === 'full') out.fullRateReceived += s.framesReceived;
      out.shown += s.framesShown;
      out.reconnects += s.reconnects;
      out.decoderResets += s.decoderResets;
      if (s.state === 'live') out.live++;
    }
    return out;
  });

async function measurePage(
  context: BrowserContext,
  url: string,
  label: string,
  cameras: number,
  options: { warmupMs: number; windowMs: number; prepare?: (page: Page) => Promise<void> },
): Promise<GridMeasurement> {
  const page = await context.newPage();
  const warnings: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'warning' || m.type() === 'error') warnings.push(m.text());
  });
  try {
    await page.addInitScript(BYTE_COUNTER);
    await page.goto(url);
    try {
      await page.waitForFunction((n) => (window.__picam?.players ?? []).filter((p) => p.stats().state === 'live').length >= n, cameras, { timeout: 60_000, polling: 250 });
    } catch {
      // Measured anyway: the row says how many were live, the log which were not and why.
      const states = await page.evaluate(() => (window.__picam?.players ?? []).map((p) => `${p.stats().state} (${p.stats().framesReceived} received, ${p.stats().framesShown} shown)`));
      warnings.push(`not all ${cameras} players live after 60 s: ${states.join(', ')}`);
    }
    await options.prepare?.(page).catch((err: Error) => warnings.push(`could not prepare the page: ${err.message.split('\n')[0]}`));
    await sleep(options.warmupMs);
    const cpuBefore = cpuByPid();
    const busyBefore = machineBusySeconds();
    const before = await pageFigures(page);
    const t0 = performance.now();
    await sleep(options.windowMs);
    const after = await pageFigures(page);
    const seconds = (performance.now() - t0) / 1000;
    const cpuAfter = cpuByPid();
    const busy = machineBusySeconds() - busyBefore;
    let pageCpu = 0;
    let browserCpu = 0;
    for (const [pid, end] of cpuAfter) {
      const start = cpuBefore.get(pid);
      const used = end.seconds - (start?.seconds ?? end.seconds);
      if (!Number.isFinite(used)) continue;
      browserCpu += used;
      if (end.kind === 'page') pageCpu += used;
    }
    return {
      label,
      cameras,
      pageCpuPercent: (pageCpu / seconds) * 100,
      browserCpuPercent: (browserCpu / seconds) * 100,
      bytesPerSecond: (after.bytes - before.bytes) / seconds,
      framesShownPerSecond: (after.shown - before.shown) / seconds,
      playersLive: after.live,
      fullRateFramesPerSecond: (after.fullRateReceived - before.fullRateReceived) / seconds,
      reconnects: after.reconnects - before.reconnects,
      decoderResets: after.decoderResets - before.decoderResets,
      jsHeapMB: await jsHeapMB(page),
      machineBusyPercent: (busy / seconds) * 100,
      windowSeconds: seconds,
      warnings: warnings.slice(0, 20),
    };
  } finally {
    await page.close();
  }
}

const kbps = (bytesPerSecond: number) => `${((bytesPerSecond * 8) / 1000).toFixed(0)} kbit/s`;

function toRows(full: GridMeasurement, grids: GridMeasurement[]): Row[] {
  const rows: Row[] = [];
  // Its frame rate too: a starved page is sent fewer frames (the relay skips a late viewer), which
  // lowers the yardstick the grid is held to.
  const fullView = `one camera in full view (${full.fullRateFramesPerSecond.toFixed(0)} frames/s): ${pct(full.pageCpuPercent)} CPU, ${kbps(full.bytesPerSecond)}`;
  for (const g of grids) {
    const judged = g.label === `grid of ${GRID_SIZES.at(-1)} cameras`;
    const cpuOk = judged ? g.pageCpuPercent <= TARGET_RATIO * full.pageCpuPercent : undefined;
    const bytesOk = judged ? g.bytesPerSecond <= TARGET_RATIO * full.bytesPerSecond : undefined;
    const target = judged ? `<= ${TARGET_RATIO}x full view` : 'info';
    rows.push({
      figure: `${g.label}: page CPU (renderer + GPU)`,
      value: `${pct(g.pageCpuPercent)} (${g.playersLive}/${g.cameras} live, ${g.framesShownPerSecond.toFixed(1)} pictures/s)`,
      target,
      floor: fullView,
      ratio: ratio(g.pageCpuPercent, full.pageCpuPercent),
      verdict: verdict(cpuOk),
    });
    rows.push({
      figure: `${g.label}: bytes received`,
      value: kbps(g.bytesPerSecond),
      target,
      floor: fullView,
      ratio: ratio(g.bytesPerSecond, full.bytesPerSecond),
      verdict: verdict(bytesOk),
    });
  }
  return rows;
}

/** Headless Chromium as the grid bench runs it (software decoding: no GPU here). */
export function launchGridBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** A context logged in as the bench relay's admin, at GRID_VIEWPORT. */
export async function gridContext(browser: Browser, relay: BenchRelay): Promise<BrowserContext> {
  const login = await browser.newContext();
  const answer = await login.request.post(`${relay.url}/api/auth/login`, { data: { username: 'admin', password: 'bench-admin-password' } });
  if (!answer.ok()) throw new Error(`browser login: ${answer.status()}`);
  const session = await login.storageState();
  await login.close();
  return browser.newContext({ viewport: GRID_VIEWPORT, storageState: session });
}

/** `count` new cameras on the relay, streamed by one publisher process (the committed 1080p clip at `fps`); stop the publisher when done. */
export async function startCameras(relay: BenchRelay, count: number, fps: number): Promise<{ ids: string[]; publisher: Helper }> {
  const made = await relay.createCameras(count);
  const publisher = startHelper('../fanout/publisher.ts');
  try {
    await publisher.request({ type: 'connect', cameras: made.map((c) => ({ url: `${relay.wsUrl}/api/agent`, headers: { authorization: `Bearer ${c.credential}` } })), clip: FANOUT_CLIP, fps }, 'connected');
    await publisher.request({ type: 'start' }, 'started');
  } catch (err) {
    await publisher.stop();
    throw err;
  }
  return { ids: made.map((c) => c.id), publisher };
}

export async function runGridBench(options: BenchOptions): Promise<GridBenchResult> {
  const log = options.log ?? (() => {});
  const timing = options.quick ? { warmupMs: 3000, windowMs: 6000 } : { warmupMs: 6000, windowMs: 20_000 };
  const fps = 30;
  log(`grid: clip ${(clipBitrate(loadUnits(FANOUT_CLIP), fps) / 1e6).toFixed(1)} Mbit/s, ${timing.windowMs / 1000} s windows`);
  let relay: BenchRelay | undefined;
  let browser: Browser | undefined;
  const publishers: Helper[] = [];
  try {
    relay = await startBenchRelay();
    browser = await launchGridBrowser();
    const context = await gridContext(browser, relay);

    const ids: string[] = [];
    const addCameras = async (count: number) => {
      const cameras = await startCameras(relay!, count, fps);
      publishers.push(cameras.publisher);
      ids.push(...cameras.ids);
    };

    const grids: GridMeasurement[] = [];
    await addCameras(1);
    const full = await measurePage(context, `${relay.url}/cameras/${ids[0]}`, 'one camera in full view', 1, timing);
    log(`grid: full view ${pct(full.pageCpuPercent)} page CPU, ${kbps(full.bytesPerSecond)}, ${full.fullRateFramesPerSecond.toFixed(1)} frames/s, machine ${pct(full.machineBusyPercent)}`);
    for (const size of GRID_SIZES) {
      if (ids.length < size) await addCameras(size - ids.length);
      const g = await measurePage(context, `${relay.url}/`, `grid of ${size} camera${size === 1 ? '' : 's'}`, size, timing);
      log(`grid: ${size} cameras ${pct(g.pageCpuPercent)} page CPU, ${kbps(g.bytesPerSecond)}, ${g.playersLive} live, ${g.reconnects} reconnects, ${g.decoderResets} decoder resets, machine ${pct(g.machineBusyPercent)}`);
      for (const w of g.warnings) log(`  page: ${w}`);
      grids.push(g);
    }
    // The same 16, one of them clicked: it plays at full rate beside 15 tiles of keyframes.
    const focused = await measurePage(context, `${relay.url}/`, `grid of ${GRID_SIZES.at(-1)} cameras, one clicked`, GRID_SIZES.at(-1)!, {
      ...timing,
      // A click event on the tile, not Playwright's click: that waits for the element to hold still over
      // animation frames, which a busy 16-decoder page took more than 30 s to give.
      prepare: (page) => page.evaluate(() => document.querySelector<HTMLElement>('[data-testid="camera-tile"] [data-testid="player"]')?.click()),
    });
    log(`grid: 16 cameras, one clicked: ${pct(focused.pageCpuPercent)} page CPU, ${kbps(focused.bytesPerSecond)}, the clicked one ${focused.fullRateFramesPerSecond.toFixed(1)} frames/s, machine ${pct(focused.machineBusyPercent)}`);
    for (const w of focused.warnings) log(`  page: ${w}`);
    grids.push(focused);
    await context.close();
    return { rows: toRows(full, grids), measurements: [full, ...grids] };
  } finally {
    await browser?.close();
    for (const p of publishers) await p.stop();
    await relay?.stop();
  }
}
