/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './agent-process.ts';

// The page's test hook, `window.__picam.players` (its type, and the Window property it declares).
import type {} from '../../web/src/player/test-hook.ts';

/**
 * Browser end-to-end support: Chromium through playwright-core, a real relay process (the CLI), and
 * "what would the user have seen" for failure messages. Screenshots go to test-artifacts/.
 */

const CHROMIUM_PATH = process.env.PICAM_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS_DIR = join(REPO_ROOT, 'test-artifacts');
export const ADMIN_PASSWORD = 'e2e-admin-password-1';

/**
 * Chromium, or a skipped test with a loud message when it is not installed. On CI (`CI` set) a
 * missing browser fails instead: a green run must not hide that the browser tests never ran.
 */
export async function launchBrowser(t: TestContext): Promise<Browser | null> {
  if (!existsSync(CHROMIUM_PATH)) {
    const message = `Chromium not found at ${CHROMIUM_PATH}: browser end-to-end tests NOT RUN (install chromium or set PICAM_CHROMIUM)`;
    if (process.env.CI) throw new Error(`${message}. CI is set, so this is a failure.`);
    process.stderr.write(`\n${'!'.repeat(100)}\n!! ${message}\n${'!'.repeat(100)}\n\n`);
    t.skip(message);
    return null;
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  t.after(() => browser.close());
  return browser;
}

export interface RelayProcess {
  url: string;
  dataDir: string;
  output: string[];
  /** false when the CLI does not serve the web app yet and an in-process relay stands in */
  stop(): Promise<void>;
}

/**
 * `node --import tsx relay-server/src/cli.ts` on a free port with a fresh DATA_DIR and a known admin
 * password; resolves once it prints where it listens.
 */
async function startRelayCli(t: TestContext, env: NodeJS.ProcessEnv = {}): Promise<RelayProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'picam-e2e-relay-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay-server/src/cli.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, PICAM_ADMIN_PASSWORD: ADMIN_PASSWORD, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start within 30 s:\n${output.join('\n')}`)), 30_000);
    const onLine = (line: string) => {
      output.push(line);
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code} before listening:\n${output.join('\n')}`));
    });
  });
  const relay: RelayProcess = { url, dataDir, output, stop: () => stopChild(child) };
  t.after(async () => {
    await relay.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return relay;
}

/** The relay CLI, which serves the web app itself (what `npm start` and a deployment run). */
export async function startRelayWithWeb(t: TestContext): Promise<RelayProcess> {
  return startRelayCli(t);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}

/** Saves a full-page screenshot as test-artifacts/<name>.png and returns the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** What a person looking at the page would have seen: URL, title, visible text, player states. */
export async function whatTheUserSaw(page: Page): Promise<string> {
  try {
    const seen = await page.evaluate(() => {
      const text = (document.body.innerText || '').replace(/\n{2,}/g, '\n').trim();
      const players = (window.__picam?.players ?? []).map((p) => {
        const s = p.stats();
        return `player ${p.root.dataset.cameraId}: state=${s.state} path=${s.path} shown=${s.framesShown} decoded=${s.framesDecoded} received=${s.framesReceived} size=${s.width}x${s.height} error=${s.lastError ?? 'none'}`;
      });
      return { url: location.href, title: document.title, text, players };
    });
    const text = seen.text.length > 1200 ? `${seen.text.slice(0, 1200)}…` : seen.text;
    return [`page: ${seen.url.replace(/#.*/, '#<token>')} "${seen.title}"`, `visible text:\n  ${text.split('\n').join('\n  ')}`, ...seen.players].join('\n');
  } catch (err) {
    return `(could not read the page: ${(err as Error).message})`;
  }
}

/**
 * Runs one step of a user's flow; on failure the error says what the user would have seen and
 * where the screenshot is, not just which selector timed out.
 */
export async function step<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const shot = await screenshot(page, `FAILED-${name.replace(/[^\w-]+/g, '-')}`).catch(() => '(no screenshot)');
    const seen = await whatTheUserSaw(page);
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(`step "${name}" failed: ${reason}\n--- what the user saw ---\n${seen}\n--- screenshot: ${shot}`, { cause: err });
  }
}

/** The players' stats on the page (window.__picam.players). */
export interface PagePlayerStats {
  cameraId: string;
  state: string;
  path: string | null;
  framesShown: number;
  framesDecoded: number;
  lastFrameSequence: number;
  width: number;
  height: number;
}

export function playerStats(page: Page): Promise<PagePlayerStats[]> {
  return page.evaluate(() =>
    (window.__picam?.players ?? []).map((p) => {
      const s = p.stats();
      return {
        cameraId: p.root.dataset.cameraId ?? '',
        state: s.state,
        path: s.path,
        framesShown: s.framesShown,
        framesDecoded: s.framesDecoded,
        lastFrameSequence: s.lastFrameSequence,
        width: s.width,
        height: s.height,
      };
    }),
  );
}

/** Waits until a player shows live frames, then checks that the picture keeps advancing. */
export async function expectLiveVideo(page: Page, options: { cameraId?: string; minFrames?: number; timeoutMs?: number } = {}): Promise<PagePlayerStats> {
  const { cameraId, minFrames = 10, timeoutMs = 20_000 } = options;
  await page.waitForFunction(
    ({ cameraId, minFrames }) =>
      (window.__picam?.players ?? []).some((p) => (!cameraId || p.root.dataset.cameraId === cameraId) && p.stats().state === 'live' && p.stats().framesShown >= minFrames),
    { cameraId, minFrames },
    { timeout: timeoutMs, polling: 100 },
  );
  const pick = async () => (await playerStats(page)).find((s) => !cameraId || s.cameraId === cameraId)!;
  const before = await pick();
  await page.waitForTimeout(1000);
  const after = await pick();
  if (after.lastFrameSequence <= before.lastFrameSequence || after.framesShown <= before.framesShown) {
    throw new Error(`the picture froze: frame ${before.lastFrameSequence} -> ${after.lastFrameSequence}, shown ${before.framesShown} -> ${after.framesShown} in 1 s`);
  }
  return after;
}

/** true when the visible picture has some detail (not a black or single-colour canvas/video). */
export async function pictureHasContent(page: Page, cameraId?: string): Promise<boolean> {
  return page.evaluate((cameraId) => {
    const root = [...document.querySelectorAll<HTMLElement>('[data-testid="player"]')].find((el) => !cameraId || el.dataset.cameraId === cameraId);
    const media = root?.querySelector<HTMLCanvasElement | HTMLVideoElement>('canvas, video');
    if (!media) return false;
    const w = media instanceof HTMLVideoElement ? media.videoWidth : media.width;
    const h = media instanceof HTMLVideoElement ? media.videoHeight : media.height;
    if (!w || !h) return false;
    const probe = document.createElement('canvas');
    probe.width = 64;
    probe.height = 36;
    const ctx = probe.getContext('2d')!;
    ctx.drawImage(media, 0, 0, 64, 36);
    const data = ctx.getImageData(0, 0, 64, 36).data;
    let min = 255;
    let max = 0;
    for (let i = 0; i < data.length; i += 4) {
      const luma = (data[i]! + data[i + 1]! + data[i + 2]!) / 3;
      min = Math.min(min, luma);
      max = Math.max(max, luma);
    }
    return max - min > 20;
  }, cameraId);
}

/** The folder for this run's agent config. */
export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Environment for the agent child process: the fake camera (test/fake-camera/rpicam-vid) first on
 * PATH. (test/helpers/fake-camera-path.ts `envWithFakeCamera()` does the same once it lands.)
 */
export function envWithFakeCameraOnPath(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dir = join(REPO_ROOT, 'test', 'fake-camera');
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, PATH: `${dir}${delimiter}${process.env.PATH ?? ''}` };
  for (const key of ['PICAM_RELAY', 'PICAM_DEVICE_TOKEN', 'PICAM_AGENT_CONFIG', 'PICAM_CAMERA_COMMAND', 'PICAM_AGENT_TUNING', 'LOG_LEVEL']) delete env[key];
  return env;
}
