import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, sleep } from '../lib/children.ts';
import { FAKE_CAMERA_DIR } from '../lib/clips.ts';
import { machineBusySeconds } from '../lib/proc.ts';
import { quantile } from '../lib/stats.ts';
import { RESULTS_DIR, ms, ratio, verdict, type BenchOptions, type Row } from '../lib/table.ts';
import { api } from '../lib/relay.ts';
import { startFront } from './front.ts';
import { appendEvents, emptyEvents, formatStall, formatStallReport, stallReport, type PageEvents, type StallReport } from './stalls.ts';

/**
 * Camera write -> frame PRESENTED in headless Chromium, read from the displayed pixels: every clip
 * frame carries a barcode of its index (probe.js reads it on each rendering update / video frame),
 * and the fake camera's FAKE_CAMERA_WRITE_LOG says when that index was written. Rows: the product
 * (real relay CLI + real agent + fake camera; WebCodecs and ?player=mse on the camera page, and a
 * share link opened without a session) and the old setup's page (ORIGINAL-SETUP.txt: fake camera
 * --listen + websockify + jmuxer page) in the same run.
 */

const HERE = fileURLToPath(new URL('./', import.meta.url));
const CHROMIUM = process.env.PICAM_CHROMIUM ?? '/usr/bin/chromium';
export const PASSWORD = 'bench-browser-admin-password';
const CLIP_FRAMES = 120;

/** 'share link': `/s/:id#<token>` in a context with no session, on whichever path the page picks (WebCodecs here). */
export type PathName = 'webcodecs' | 'mse' | 'share link' | 'old page';

export interface Measurement {
  label: string;
  path: PathName;
  resolution: '720p' | '1080p';
  seconds: number;
  frames: number;
  unmatched: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  fps: number;
  /** median of firstPictureSamples */
  firstPictureMs: number;
  /** page open -> first picture of each page open, ms (the row's own first) */
  firstPictureSamples?: number[];
  /** p90 latency of frames shown 1-2 s after the first picture */
  liveEdgeP90: number;
  liveEdgeOk: boolean;
  probeMsPerRead: number;
  /** whole machine's busy time over the window, % of one core (200 % = both cores of a 2-core box) */
  boxBusyPct: number;
  heap?: { at10sMB: number; atEndMB: number; p50First60s: number; p50Last60s: number };
  /** page open -> first picture, ms after navigation start at which each stage was first reached */
  startup: Record<string, number>;
  /** the camera's writes never shown, and what the page did at each late picture (stalls.ts) */
  stalls?: Omit<StallReport, 'stalls'> & { late: number };
}

export interface Write {
  index: number;
  epochMs: number;
}

/** Writes grouped by frame index, each list in time order. */
export function readWriteLog(path: string): Write[][] {
  const byIndex: Write[][] = Array.from({ length: CLIP_FRAMES }, () => []);
  if (!existsSync(path)) return byIndex;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [i, , us] = line.trim().split(/\s+/);
    if (us === undefined) continue;
    byIndex[Number(i)]?.push({ index: Number(i), epochMs: Number(us) / 1000 });
  }
  for (const list of byIndex) list.sort((a, b) => a.epochMs - b.epochMs);
  return byIndex;
}

/**
 * See the matching loop: a barcode seen less than this before its own write is a misread, or the
 * camera's clock (its monotonic clock anchored to the wall clock when it started) a few ms apart
 * from the page's (anchored at navigation): with pictures ~10 ms behind the camera, 1 in ~600 was
 * seen 5 ms before the camera's stamp of its write, and matched to the previous loop read as 3995 ms.
 */
export const MISREAD_WINDOW_MS = 20;

/** The write of that index closest before the presentation (the loop is not in the barcode). */
export function writeFor(writes: Write[][], index: number, shownAt: number): Write | undefined {
  const list = writes[index];
  if (!list) return undefined;
  let best: Write | undefined;
  for (const w of list) {
    if (w.epochMs <= shownAt) best = w;
    else break;
  }
  return best;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitForOutput(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 15_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no ${pattern} in ${timeoutMs} ms:\n${text}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const m = pattern.exec(text);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before ${pattern}:\n${text}`));
    });
  });
}

export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}

const fakeCameraEnv = (logPath: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, FAKE_CAMERA_WRITE_LOG: logPath, PATH: `${FAKE_CAMERA_DIR.replace(/\/$/, '')}${delimiter}${process.env.PATH ?? ''}` };
  for (const key of ['PICAM_RELAY', 'PICAM_DEVICE_TOKEN', 'PICAM_AGENT_CONFIG', 'PICAM_CAMERA_COMMAND', 'PICAM_AGENT_TUNING', 'LOG_LEVEL']) delete env[key];
  return env;
};

/** The relay CLI (what `npm run relay` runs), PORT=0, fresh DATA_DIR. */
export async function startRelay(dir: string): Promise<{ url: string; child: ChildProcess; token: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay-server/src/cli.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: join(dir, 'relay-data'), PICAM_ADMIN_PASSWORD: PASSWORD, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = (await waitForOutput(child, /listening on (http:\/\/\S+)/, 'relay', 30_000))[1]!;
  const login = await api(url, 'POST', '/api/auth/login', { username: 'admin', password: PASSWORD });
  if (login.status !== 200) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.json)}`);
  return { url, child, token: login.json.token as string };
}

/** Adds a camera of that size, enrolls the real agent with the command an admin would run, starts it. */
export async function startCamera(relay: { url: string; token: string }, dir: string, width: number, height: number, logPath: string): Promise<{ id: string; agent: ChildProcess }> {
  const created = await api(relay.url, 'POST', '/api/cameras', { name: `bench ${width}x${height}`, settings: { width, height, framerate: 30 } }, relay.token);
  if (created.status !== 201) throw new Error(`create camera: ${created.status} ${JSON.stringify(created.json)}`);
  const id = (created.json.camera as { id: string }).id;
  const token = (created.json.enrollment as { token: string }).token;
  const config = join(dir, `agent-${width}x${height}.json`);
  const env = fakeCameraEnv(logPath);
  const enroll = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/src/cli.ts', 'enroll', '--relay', relay.url, '--token', token, '--config', config], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let enrollOut = '';
  enroll.stdout!.on('data', (c: Buffer) => (enrollOut += c.toString()));
  enroll.stderr!.on('data', (c: Buffer) => (enrollOut += c.toString()));
  const [code] = (await once(enroll, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`agent enroll failed (${code}):\n${enrollOut}`);
  const agent = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/src/cli.ts', 'run', '--config', config], { cwd: REPO_ROOT, env: { ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
  // Wait until the camera streams (the write log grows), so page open -> first picture is the viewer's cost.
  const started = Date.now();
  while (!existsSync(logPath) || readFileSync(logPath, 'utf8').split('\n').length < 10) {
    if (agent.exitCode !== null) throw new Error(`agent exited (${agent.exitCode})`);
    if (Date.now() - started > 30_000) throw new Error('the agent\'s camera did not start streaming in 30 s');
    await sleep(100);
  }
  return { id, agent };
}

/** The old setup: fake camera --listen on tcp, websockify in front, the jmuxer page from a static server. */
async function startOldSetup(width: number, height: number, logPath: string): Promise<{ pageUrl: string; children: ChildProcess[]; close: () => Promise<void> }> {
  const camera = spawn(join(FAKE_CAMERA_DIR, 'rpicam-vid'), ['-t', '0', '--width', String(width), '--height', String(height), '--inline', '--flush', '-n', '--listen', '-o', 'tcp://127.0.0.1:0'], {
    env: fakeCameraEnv(logPath),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const cameraPort = Number((await waitForOutput(camera, /\(port (\d+)\)/, 'fake camera --listen'))[1]);
  const wsPort = await freePort();
  const websockify = spawn('websockify', [`127.0.0.1:${wsPort}`, `127.0.0.1:${cameraPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(websockify, /Listen on/, 'websockify');
  const page = readFileSync(join(HERE, 'original-page', 'index.html'));
  const jmuxer = readFileSync(join(REPO_ROOT, 'node_modules', 'jmuxer', 'dist', 'jmuxer.min.js'));
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/' || path === '/index.html') res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    else if (path === '/jmuxer.min.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(jmuxer);
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const httpPort = typeof address === 'object' && address ? address.port : 0;
  return {
    pageUrl: `http://127.0.0.1:${httpPort}/?ws=${encodeURIComponent(`ws://127.0.0.1:${wsPort}`)}`,
    children: [camera, websockify],
    close: async () => {
      server.closeAllConnections();
      server.close();
      await stop(websockify);
      await stop(camera);
    },
  };
}

interface PageRecord {
  frames: Array<[number, number]>;
  events: PageEvents;
  reads: number;
  probeMs: number;
  firstValidAt: number | null;
  timeOrigin: number;
}

async function drain(page: Page): Promise<PageRecord> {
  return page.evaluate(() => {
    const rec = (globalThis as unknown as { __barcode: PageRecord }).__barcode;
    const frames = rec.frames.splice(0);
    const e = rec.events;
    const events = { longTasks: e.longTasks.splice(0), binary: e.binary.splice(0), decodes: e.decodes.splice(0), outputs: e.outputs.splice(0), ticks: e.ticks.splice(0) };
    return { frames, events, reads: rec.reads, probeMs: rec.probeMs, firstValidAt: rec.firstValidAt, timeOrigin: performance.timeOrigin };
  });
}

/** the worst late pictures of a row, each with what the page did meanwhile */
const STALLS_LOGGED = 12;

const WINDOW_TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline.frame', 'v8', 'v8.gc', 'media', 'toplevel', 'scheduler', 'cc', 'viz', 'gpu'];

const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'v8.execute', 'blink', 'media', 'loading', 'toplevel'];

/**
 * When each stage of page open -> first picture was first reached (ms after navigation start): the
 * document, each script and API call (Resource Timing), the WebSocket and the decoder (probe.js
 * hooks), and the first picture the probe read.
 */
async function startupTimeline(page: Page, firstPictureMs: number): Promise<Record<string, number>> {
  const timeline = await page.evaluate(() => {
    const out: Record<string, number> = {};
    // Runs in the page; the bench's own types have no DOM lib, so the two entry shapes are spelled out.
    // (No arrow functions in here: tsx would wrap them in a __name helper the page does not have.)
    type Entry = { name: string; initiatorType: string; responseEnd: number; domContentLoadedEventEnd: number };
    const timing = performance as unknown as { getEntriesByType(t: string): Entry[] };
    const nav = timing.getEntriesByType('navigation')[0];
    if (nav) {
      out.html = nav.responseEnd;
      out.domContentLoaded = nav.domContentLoadedEventEnd;
    }
    for (const entry of timing.getEntriesByType('resource')) {
      const name = `${entry.initiatorType} ${new URL(entry.name).pathname}`;
      if (out[name] === undefined) out[name] = entry.responseEnd;
    }
    return { ...out, ...(globalThis as unknown as { __barcode: { startup: Record<string, number> } }).__barcode.startup };
  });
  timeline.firstPicture = firstPictureMs;
  return timeline;
}

function formatStartup(timeline: Record<string, number>): string {
  return Object.entries(timeline)
    .sort((a, b) => a[1] - b[1])
    .map(([stage, ms]) => `${stage} ${ms.toFixed(0)}`)
    .join(' | ');
}

async function heapMB(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  return (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? Number.NaN) / 1e6;
}

/**
 * A blank page on another site (`localhost` is not the same site as `127.0.0.1`), so that opening
 * the page under test is a cross-site navigation, as it is for a user following a link or typing
 * the address: every row then pays for the renderer process the browser picks for the new site.
 * Straight from Playwright's about:blank, a page without a Cross-Origin-Opener-Policy would reuse
 * that tab's renderer while the app (COOP same-origin) needs a new one: ~50-90 ms of difference
 * between the old page and ours that no user sees.
 */
let elsewhere: { url: string; close: () => void } | undefined;

async function openFromElsewhere(page: Page, url: string): Promise<void> {
  if (!elsewhere) {
    const server = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    elsewhere = { url: `http://localhost:${port}/`, close: () => server.close() };
  }
  await page.goto(elsewhere.url);
  await page.goto(url);
}

type Session = Awaited<ReturnType<BrowserContext['storageState']>>;

/**
 * The admin's session cookie, from one login per run: the relay rate-limits logins per address, and
 * the first-picture rows open the page a dozen times.
 */
async function signIn(browser: Browser, relayUrl: string): Promise<Session> {
  const context = await browser.newContext();
  try {
    const login = await context.request.post(`${relayUrl}/api/auth/login`, { data: { username: 'admin', password: PASSWORD } });
    if (!login.ok()) throw new Error(`browser login: ${login.status()}`);
    return await context.storageState();
  } finally {
    await context.close();
  }
}

/** A fresh browser context (empty HTTP cache, like a first visit), with the session cookie when given. */
async function newViewerContext(browser: Browser, session?: Session): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, ...(session ? { storageState: session } : {}) });
}

/**
 * Page open -> first picture once more, in its own fresh context. One page open is one sample of a
 * figure that moves by ~100 ms with whatever else the 2-core box is doing; the row reports the
 * median of FIRST_PICTURE_OPENS of them.
 */
async function firstPictureOnly(browser: Browser, url: string, label: string, session?: Session): Promise<number> {
  const context = await newViewerContext(browser, session);
  try {
    const page = await context.newPage();
    await page.addInitScript({ path: join(HERE, 'probe.js') });
    await openFromElsewhere(page, url);
    const rec = await waitForFirstPicture(page, label, []);
    return rec.firstValidAt - rec.timeOrigin;
  } finally {
    await context.close();
  }
}

/** Drains the probe until it has read a first picture; the record holds the frames read so far. */
async function waitForFirstPicture(page: Page, label: string, errors: readonly string[], events?: PageEvents): Promise<PageRecord & { firstValidAt: number }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const rec = await drain(page);
    if (events) appendEvents(events, rec.events);
    if (rec.firstValidAt !== null) return { ...rec, firstValidAt: rec.firstValidAt };
    if (Date.now() > deadline) throw new Error(`${label}: no picture with a readable barcode in 20 s${errors.length ? ` (page errors: ${errors.join('; ')})` : ''}`);
    await sleep(20);
  }
}

/** Opens the page, waits for the first picture, then watches it for `seconds`. */
async function measure(
  context: BrowserContext,
  url: string,
  logPath: string,
  row: { label: string; path: PathName; resolution: '720p' | '1080p'; seconds: number; soak?: boolean },
  log: (line: string) => void,
  tracePath?: string,
  /** the trace covers the measured window instead of page open -> first picture */
  traceWindow = false,
): Promise<Measurement> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript({ path: join(HERE, 'probe.js') });
  // --cpu-prof: a Chrome trace (main thread, V8, media) of page open -> first picture.
  const cdp = tracePath ? await context.newCDPSession(page) : undefined;
  if (tracePath) {
    // ...and a JavaScript CPU profile of the same stretch (bench/summarize-profile.ts reads it).
    await cdp!.send('Profiler.enable');
    await cdp!.send('Profiler.setSamplingInterval', { interval: 200 });
  }
  if (tracePath && !traceWindow) {
    await context.browser()!.startTracing(page, { path: tracePath, categories: TRACE_CATEGORIES });
    await cdp!.send('Profiler.start');
  }
  await openFromElsewhere(page, url);
  const frames: Array<[number, number]> = [];
  const events = emptyEvents();
  const first = await waitForFirstPicture(page, row.label, errors, events);
  frames.push(...first.frames);
  const firstAt = first.firstValidAt;
  let rec: PageRecord = first;
  const startup = await startupTimeline(page, firstAt - rec.timeOrigin);
  // The trace and the CPU profile end together; their stretch is named in the log.
  const stopTrace = async (stretch: string) => {
    await context.browser()!.stopTracing();
    const { profile } = await cdp!.send('Profiler.stop');
    writeFileSync(tracePath!.replace(/\.trace\.json$/, '.cpuprofile'), JSON.stringify(profile));
    await cdp!.detach();
    log(`${row.label}: trace of ${stretch} in ${tracePath}`);
  };
  if (tracePath && !traceWindow) await stopTrace('page open -> first picture');
  if (tracePath && traceWindow) {
    // The measured window: its stalls, in the main thread's tasks, V8's GC and the media pipeline.
    await context.browser()!.startTracing(page, { path: tracePath, categories: WINDOW_TRACE_CATEGORIES });
    await cdp!.send('Profiler.start');
  }
  const heapSamples: number[] = [];
  const busyAt = machineBusySeconds();
  const busyFrom = Date.now();
  const end = firstAt + 1000 + row.seconds * 1000;
  let lastHeap = 0;
  while (Date.now() < end) {
    await sleep(Math.min(2000, Math.max(50, end - Date.now())));
    rec = await drain(page);
    frames.push(...rec.frames);
    appendEvents(events, rec.events);
    if (row.soak && Date.now() - lastHeap > 10_000) {
      lastHeap = Date.now();
      heapSamples.push(await heapMB(page));
    }
  }
  rec = await drain(page);
  frames.push(...rec.frames);
  appendEvents(events, rec.events);
  if (tracePath && traceWindow) await stopTrace('the measured window');
  const boxBusyPct = ((machineBusySeconds() - busyAt) / ((Date.now() - busyFrom) / 1000)) * 100;
  const endHeap = row.soak ? await heapMB(page) : Number.NaN;
  await page.close();

  const writes = readWriteLog(logPath);
  const samples: Array<{ shownAt: number; latency: number; writtenAt: number }> = [];
  let unmatched = 0;
  for (const [index, shownAt] of frames) {
    const w = writeFor(writes, index, shownAt);
    // A presentation of index i just *before* the camera writes i again cannot be that write
    // (nothing reaches the screen that fast) and matching it to the previous loop's write would
    // read as a whole clip loop of latency: a misread barcode, counted as unmatched.
    const misread = writes[index]?.some((next) => next.epochMs > shownAt && next.epochMs - shownAt < MISREAD_WINDOW_MS) ?? false;
    if (w && !misread) samples.push({ shownAt, latency: shownAt - w.epochMs, writtenAt: w.epochMs });
    else unmatched++;
  }
  const windowStart = firstAt + 1000;
  const inWindow = samples.filter((s) => s.shownAt >= windowStart && s.shownAt <= end).map((s) => s.latency);
  const edge = samples.filter((s) => s.shownAt >= firstAt + 1000 && s.shownAt < firstAt + 2000).map((s) => s.latency);
  // Writes that should be on screen by the window's end (a picture takes ~p50 to get there).
  const windowWrites = writes
    .flat()
    .map((w) => w.epochMs)
    .filter((t) => t >= windowStart - 200 && t <= end - 500)
    .sort((a, b) => a - b);
  const stalls = stallReport(windowWrites, samples, events, { from: windowStart, to: end }, quantile(inWindow, 0.5));
  const { stalls: lateShown, ...stallFigures } = stalls;
  const edgeLimit = row.path === 'mse' ? 150 : 100;
  const edgeP90 = quantile(edge, 0.9);
  const m: Measurement = {
    label: row.label,
    path: row.path,
    resolution: row.resolution,
    seconds: row.seconds,
    frames: inWindow.length,
    unmatched,
    p50: quantile(inWindow, 0.5),
    p95: quantile(inWindow, 0.95),
    p99: quantile(inWindow, 0.99),
    max: inWindow.length ? Math.max(...inWindow) : Number.NaN,
    fps: inWindow.length / row.seconds,
    firstPictureMs: firstAt - rec.timeOrigin,
    liveEdgeP90: edgeP90,
    liveEdgeOk: edgeP90 < edgeLimit,
    probeMsPerRead: rec.reads ? rec.probeMs / rec.reads : Number.NaN,
    boxBusyPct,
    startup,
    stalls: { ...stallFigures, late: lateShown.length },
  };
  if (row.soak) {
    const first60 = samples.filter((s) => s.shownAt >= windowStart && s.shownAt < windowStart + 60_000).map((s) => s.latency);
    const last60 = samples.filter((s) => s.shownAt >= end - 60_000 && s.shownAt <= end).map((s) => s.latency);
    m.heap = { at10sMB: heapSamples[1] ?? heapSamples[0] ?? Number.NaN, atEndMB: endHeap, p50First60s: quantile(first60, 0.5), p50Last60s: quantile(last60, 0.5) };
  }
  log(
    `${row.label}: ${m.frames} frames in ${row.seconds} s, p50 ${m.p50.toFixed(1)} p95 ${m.p95.toFixed(1)} p99 ${m.p99.toFixed(1)} max ${m.max.toFixed(1)} ms, ` +
      `first picture ${m.firstPictureMs.toFixed(0)} ms, live edge p90 ${edgeP90.toFixed(1)} ms, probe ${m.probeMsPerRead.toFixed(2)} ms/read, unmatched ${unmatched}, box ${boxBusyPct.toFixed(0)} %` +
      (errors.length ? `, page errors: ${errors.join('; ')}` : ''),
  );
  log(`${row.label}: page open -> first picture: ${formatStartup(startup)}`);
  log(`${row.label}: ${formatStallReport(stalls)}`);
  for (const s of [...stalls.stalls].sort((a, b) => b.latency - a.latency).slice(0, STALLS_LOGGED)) log(formatStall(s, windowStart));
  return m;
}

export interface BrowserLatencyOptions extends BenchOptions {
  /** seconds for the optional soak row (720p WebCodecs) */
  soak?: number;
  /** only these rows (default: all four) */
  only?: PathName[];
  /** seconds each row is watched after its first picture + 1 s (default 20, quick 3) */
  seconds?: number;
  /** page opens per row for the first picture (default 7, quick 3) */
  opens?: number;
  /** only this resolution */
  resolution?: '720p' | '1080p';
  /** the rows this many times over, in turn, in one run (one relay, camera and browser) */
  rounds?: number;
  /** --cpu-prof traces the measured window (its stalls) instead of page open -> first picture */
  traceWindow?: boolean;
  /**
   * Two builds of the web app (web/dist folders), each behind its own front (front.ts): every
   * product row is measured for both, A B in one round and B A in the next, so both see the same load.
   */
  ab?: { A: string; B: string };
}

/** `--only=share,webcodecs --seconds=30 --opens=1 --res=720p --rounds=3 --trace-window --ab=DIR_A,DIR_B` */
export function parseBrowserLatencyArgs(argv: readonly string[]): Omit<BrowserLatencyOptions, keyof BenchOptions> {
  const value = (flag: string) => argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  const names: Record<string, PathName> = { share: 'share link', webcodecs: 'webcodecs', camera: 'webcodecs', mse: 'mse', jmuxer: 'mse', old: 'old page' };
  const only = value('--only')
    ?.split(',')
    .map((n) => {
      const path = names[n.trim()];
      if (!path) throw new Error(`--only: unknown row "${n}" (share, webcodecs, mse, old)`);
      return path;
    });
  const number = (flag: string) => {
    const v = value(flag);
    return v === undefined ? undefined : Number(v);
  };
  const res = value('--res');
  if (res !== undefined && res !== '720p' && res !== '1080p') throw new Error('--res: 720p or 1080p');
  const out: Omit<BrowserLatencyOptions, keyof BenchOptions> = {};
  if (only) out.only = only;
  if (number('--seconds') !== undefined) out.seconds = number('--seconds')!;
  if (number('--opens') !== undefined) out.opens = Math.max(1, number('--opens')!);
  if (number('--rounds') !== undefined) out.rounds = Math.max(1, number('--rounds')!);
  if (res) out.resolution = res;
  if (argv.includes('--trace-window')) out.traceWindow = true;
  const ab = value('--ab')?.split(',');
  if (ab) {
    if (ab.length !== 2) throw new Error('--ab=DIR_A,DIR_B (two built web/dist folders)');
    out.ab = { A: ab[0]!, B: ab[1]! };
  }
  return out;
}

export interface BrowserLatencyResult {
  rows: Row[];
  measurements: Measurement[];
  chromium: string;
}

export async function runBrowserLatency(options: BrowserLatencyOptions): Promise<BrowserLatencyResult> {
  const log = options.log ?? (() => {});
  const seconds = options.seconds ?? (options.quick ? 3 : 20);
  let resolutions: Array<{ name: '720p' | '1080p'; width: number; height: number }> = [{ name: '720p', width: 1280, height: 720 }];
  if (!options.quick) resolutions.push({ name: '1080p', width: 1920, height: 1080 });
  if (options.resolution) resolutions = [options.resolution === '720p' ? { name: '720p', width: 1280, height: 720 } : { name: '1080p', width: 1920, height: 1080 }];
  const dir = mkdtempSync(join(tmpdir(), 'picam-bench-browser-'));
  const opens = options.opens ?? (options.quick ? FIRST_PICTURE_OPENS_QUICK : FIRST_PICTURE_OPENS);
  const wanted = (path: PathName) => !options.only || options.only.includes(path);
  const rounds = options.rounds ?? 1;
  const profileName = (label: string, round: number) =>
    join(RESULTS_DIR, 'profiles', `${label.replace(/\s+/g, '-')}${round > 0 ? `-round${round + 1}` : ''}-${options.traceWindow ? 'window' : 'startup'}.trace.json`);
  const measurements: Measurement[] = [];
  let browser: Browser | undefined;
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
  const fronts: Array<ReturnType<typeof createHttpServer>> = [];
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    relay = await startRelay(dir);
    const session = await signIn(browser, relay.url);
    // Where each build's pages are served from ('' is the relay itself, the one build it serves).
    const origins: Record<string, string> = { '': relay.url };
    for (const [name, dist] of Object.entries(options.ab ?? {})) {
      const front = await startFront(dist, new URL(relay.url));
      fronts.push(front.server);
      origins[name] = front.url;
    }
    const buildsFor = (round: number) => (options.ab ? (round % 2 ? ['B', 'A'] : ['A', 'B']) : ['']);
    const labelled = (label: string, build: string) => (build ? `${label} ${build}` : label);
    for (const res of resolutions) {
      const camLog = join(dir, `agent-${res.name}.log`);
      // Started after the first old page row, which has the machine to itself (a camera per setup).
      let cam: Awaited<ReturnType<typeof startCamera>> | undefined;
      let share: string | undefined;
      try {
        for (let round = 0; round < rounds; round++) {
          if (rounds > 1) log(`round ${round + 1} of ${rounds} (${res.name})`);
          // Baseline first: the old page, its own camera, nothing else running.
          if (wanted('old page')) {
            const oldLog = join(dir, `old-${res.name}-${round}.log`);
            const old = await startOldSetup(res.width, res.height, oldLog);
            const label = `old page ${res.name}`;
            let baseline: Measurement;
            try {
              const context = await newViewerContext(browser);
              baseline = await measure(context, old.pageUrl, oldLog, { label, path: 'old page', resolution: res.name, seconds }, log);
              await context.close();
            } finally {
              await old.close();
            }
            // The old setup serves one viewer, and its camera exits when that viewer leaves: a new one per open.
            const reopenOld = async () => {
              const again = await startOldSetup(res.width, res.height, join(dir, `old-${res.name}-again.log`));
              try {
                return await firstPictureOnly(browser!, again.pageUrl, label);
              } finally {
                await again.close();
              }
            };
            measurements.push(await withFirstPictureOpens(baseline, reopenOld, opens, log));
          }
          if (!wanted('webcodecs') && !wanted('mse') && !wanted('share link')) continue;
          cam ??= await startCamera(relay, dir, res.width, res.height, camLog);
          if (wanted('share link')) share ??= await shareLink(relay, cam.id);
          for (const path of (['webcodecs', 'mse'] as const).filter(wanted)) {
            for (const build of buildsFor(round)) {
              // The session cookie is the relay host's, and a cookie is per host, not port: the fronts get it too.
              const context = await newViewerContext(browser, session);
              const url = `${origins[build]}/cameras/${cam.id}${path === 'mse' ? '?player=mse' : ''}`;
              const label = labelled(`${path === 'mse' ? 'jmuxer' : 'WebCodecs'} ${res.name}`, build);
              const tracePath = options.profile ? profileName(label, round) : undefined;
              const m = await measure(context, url, camLog, { label, path, resolution: res.name, seconds }, log, tracePath, options.traceWindow);
              await context.close();
              measurements.push(await withFirstPictureOpens(m, () => firstPictureOnly(browser!, url, label, session), opens, log));
            }
          }
          for (const build of share ? buildsFor(round) : []) {
            // A guest following a share link: no session cookie, the token in the fragment.
            const url = `${origins[build]}${new URL(share!).pathname}${new URL(share!).hash}`;
            const label = labelled(`share link ${res.name}`, build);
            const context = await newViewerContext(browser);
            const tracePath = options.profile ? profileName(label, round) : undefined;
            const m = await measure(context, url, camLog, { label, path: 'share link', resolution: res.name, seconds }, log, tracePath, options.traceWindow);
            await context.close();
            measurements.push(await withFirstPictureOpens(m, () => firstPictureOnly(browser!, url, label), opens, log));
          }
        }
        // Both player paths: jmuxer is the one known to grow memory and latency when left alone.
        for (const path of cam && options.soak && res.name === '720p' ? (['webcodecs', 'mse'] as const) : []) {
          const name = path === 'mse' ? 'jmuxer' : 'WebCodecs';
          const context = await newViewerContext(browser, session);
          log(`soak: ${name} 720p for ${options.soak} s...`);
          const url = `${relay.url}/cameras/${cam!.id}${path === 'mse' ? '?player=mse' : ''}`;
          measurements.push(await measure(context, url, camLog, { label: `${name} 720p soak ${options.soak} s`, path, resolution: '720p', seconds: options.soak!, soak: true }, log));
          await context.close();
        }
      } finally {
        await stop(cam?.agent);
      }
    }
    return { rows: toRows(measurements), measurements, chromium: browser.version() };
  } finally {
    await browser?.close();
    for (const front of fronts) front.close();
    elsewhere?.close();
    elsewhere = undefined;
    await stop(relay?.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A live share link to the camera, made by the admin as the shares page does; no viewer cap. */
async function shareLink(relay: { url: string; token: string }, cameraId: string): Promise<string> {
  const created = await api(relay.url, 'POST', `/api/cameras/${encodeURIComponent(cameraId)}/shares`, { expiresIn: 3600, label: 'bench' }, relay.token);
  if (created.status !== 201) throw new Error(`create share link: ${created.status} ${JSON.stringify(created.json)}`);
  // The relay's own address rather than the link's origin (PUBLIC_URL, unset here): the same page either way.
  const link = new URL(created.json.url as string);
  return `${relay.url}${link.pathname}${link.hash}`;
}

/** The first page open (the row's own) and this many more, each in a fresh context. */
const FIRST_PICTURE_OPENS = 7;
const FIRST_PICTURE_OPENS_QUICK = 3;

/** firstPictureMs becomes the median of `opens` page opens: the row's own plus opens - 1 more. */
async function withFirstPictureOpens(m: Measurement, open: () => Promise<number>, opens: number, log: (line: string) => void): Promise<Measurement> {
  const samples = [m.firstPictureMs];
  while (samples.length < opens) samples.push(await open());
  log(`${m.label}: first picture over ${samples.length} page opens: ${samples.map((v) => v.toFixed(0)).join(', ')} ms`);
  return { ...m, firstPictureMs: quantile(samples, 0.5), firstPictureSamples: samples };
}

/** figure | measured | target | baseline (old page, same run) | ratio | verdict */
export function toRows(measurements: readonly Measurement[]): Row[] {
  const rows: Row[] = [];
  const baseline = (res: string) => measurements.find((m) => m.path === 'old page' && m.resolution === res);
  for (const m of measurements) {
    const base = m.path === 'old page' ? undefined : baseline(m.resolution);
    const name = `browser ${m.label}`;
    const add = (figure: string, value: string, target: string, floor: string, r: string, ok: boolean | undefined) =>
      rows.push({ figure: `${name}: ${figure}`, value, target, floor, ratio: r, verdict: m.frames === 0 ? 'n/a' : verdict(ok) });
    if (m.heap) {
      add('JS heap 10 s -> end', `${m.heap.at10sMB.toFixed(1)} -> ${m.heap.atEndMB.toFixed(1)} MB`, 'no growth (info)', '-', ratio(m.heap.atEndMB, m.heap.at10sMB), undefined);
      add('latency p50 first -> last 60 s', `${ms(m.heap.p50First60s)} -> ${ms(m.heap.p50Last60s)}`, 'no drift (info)', '-', ratio(m.heap.p50Last60s, m.heap.p50First60s), undefined);
      add('latency p99', ms(m.p99), '-', '-', '-', undefined);
      continue;
    }
    const wc = m.path === 'webcodecs' || m.path === 'share link';
    const is720 = m.resolution === '720p';
    const p50Target = m.path === 'old page' ? undefined : wc ? (is720 ? 15 : 25) : 60;
    const box = ` (box ${m.boxBusyPct.toFixed(0)} %)`;
    add('latency p50', `${ms(m.p50)}${box}`, p50Target === undefined ? 'expected ~150-250 ms' : `<= ${p50Target} ms`, base ? ms(base.p50) : '-', base ? ratio(m.p50, base.p50) : '-', p50Target === undefined ? undefined : m.p50 <= p50Target);
    add('latency p95', ms(m.p95), '-', base ? ms(base.p95) : '-', base ? ratio(m.p95, base.p95) : '-', undefined);
    // The share page's tail (issue #21): within 30 ms of its own median; the camera page at 720p has
    // the older, absolute line.
    const p99Target = m.path === 'share link' ? { ms: m.p50 + 30, text: '<= p50 + 30 ms (issue #21)' } : wc && is720 ? { ms: 25, text: '<= 25 ms (web issue 35)' } : undefined;
    add('latency p99', ms(m.p99), p99Target?.text ?? '-', base ? ms(base.p99) : '-', base ? ratio(m.p99, base.p99) : '-', p99Target ? m.p99 <= p99Target.ms : undefined);
    add('frames shown', `${m.fps.toFixed(1)} fps`, m.path === 'old page' ? '-' : '>= 28 fps', base ? `${base.fps.toFixed(1)} fps` : '-', base ? ratio(m.fps, base.fps) : '-', m.path === 'old page' ? undefined : m.fps >= 28);
    const opensNote = m.firstPictureSamples ? ` (median of ${m.firstPictureSamples.length} opens, max ${ms(Math.max(...m.firstPictureSamples))})` : '';
    add('first picture after page open', `${ms(m.firstPictureMs)}${opensNote}`, m.path === 'old page' ? '-' : '<= 250 ms (web issue 500)', base ? ms(base.firstPictureMs) : '-', base ? ratio(m.firstPictureMs, base.firstPictureMs) : '-', m.path === 'old page' ? undefined : m.firstPictureMs <= 250);
    if (m.path !== 'old page') {
      const limit = wc ? 100 : 150;
      add('at live edge within 1 s', `${m.liveEdgeOk ? 'yes' : 'no'} (p90 ${ms(m.liveEdgeP90)} at 1-2 s)`, `< ${limit} ms by 1 s`, base ? `p90 ${ms(base.liveEdgeP90)}` : '-', '-', m.liveEdgeOk);
    }
  }
  return rows;
}
