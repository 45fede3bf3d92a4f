/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { REPO_ROOT } from './agent-process.ts';
import { PULSEAUDIO_PATH, startSoundServer } from './sound-server.ts';
import { MINIBROWSER_PATH, WEBKIT_DRIVER_PATH, WebKitDriver, XVFB_PATH } from './webdriver.ts';
import { skipForMissingTool } from './missing-tool.ts';

/**
 * The three browser engines behind one small interface, for tests and benchmarks that run the same
 * steps on each: Chromium (playwright-core), Firefox ESR (puppeteer-core over WebDriver BiDi) and
 * WebKitGTK (WebKitWebDriver driving MiniBrowser on an Xvfb display). All three are the system's
 * browsers (Debian packages); nothing is downloaded.
 *
 * Page code is passed as a function and sent as its source text, so it must not use anything from
 * its Node scope: its one argument is JSON-serialised.
 */

export type EngineName = 'chromium' | 'firefox' | 'webkit';
export const ENGINES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

export const ENGINE_LABEL: Record<EngineName, string> = { chromium: 'Chromium', firefox: 'Firefox', webkit: 'WebKitGTK' };

const ARTIFACTS_DIR = join(REPO_ROOT, 'test-artifacts');

/** What each engine needs on this machine, and the Debian package that provides it. */
const REQUIREMENTS: Record<EngineName, Array<{ path: string; pkg: string; env: string }>> = {
  chromium: [{ path: process.env.PICAM_CHROMIUM ?? '/usr/bin/chromium', pkg: 'chromium', env: 'PICAM_CHROMIUM' }],
  firefox: [
    { path: process.env.PICAM_FIREFOX ?? '/usr/bin/firefox-esr', pkg: 'firefox-esr', env: 'PICAM_FIREFOX' },
    // Its sound goes through a sound server; the tests start one with a null sink.
    { path: PULSEAUDIO_PATH, pkg: 'pulseaudio', env: 'PICAM_PULSEAUDIO' },
  ],
  webkit: [
    { path: WEBKIT_DRIVER_PATH, pkg: 'webkit2gtk-driver', env: 'PICAM_WEBKIT_DRIVER' },
    { path: MINIBROWSER_PATH, pkg: 'libwebkit2gtk-4.1-0', env: 'PICAM_MINIBROWSER' },
    { path: XVFB_PATH, pkg: 'xvfb', env: 'PICAM_XVFB' },
    { path: PULSEAUDIO_PATH, pkg: 'pulseaudio', env: 'PICAM_PULSEAUDIO' },
  ],
};

/** What is missing for this engine ('' when it can run). */
export function engineMissing(name: EngineName): string {
  const missing = REQUIREMENTS[name].filter((r) => !existsSync(r.path));
  return missing.map((r) => `${r.path} (apt package ${r.pkg}, or set ${r.env})`).join(', ');
}

interface Viewport {
  width: number;
  height: number;
}

export interface EnginePage {
  readonly engine: EngineName;
  goto(url: string): Promise<void>;
  /** Runs `fn(arg)` in the page and returns its (awaited, JSON-serialisable) result. */
  evaluate<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Runs a classic script's source in the page now (e.g. a probe that was not there at load). */
  runScript(source: string): Promise<void>;
  /** A real click from the automation protocol (a user gesture: it may start sound). */
  click(selector: string): Promise<void>;
  /** Types into an input, replacing what it held. */
  fill(selector: string, value: string): Promise<void>;
  /** Names of the cookies this page's browsing session holds for the current site. */
  cookieNames(): Promise<string[]>;
  /** Saves a PNG of the viewport as test-artifacts/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export interface Engine {
  readonly name: EngineName;
  readonly version: string;
  /** A new page in a fresh browsing session: no cookies, no storage. */
  newPage(viewport?: Viewport): Promise<EnginePage>;
  close(): Promise<void>;
}

/**
 * The page function as an expression over its JSON argument. `__name` is defined because tsx
 * (esbuild keepNames) wraps named inner functions of test code in a helper the page does not have.
 */
function pageExpression<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): string {
  return `(() => { const __name = (f) => f; return (${fn.toString()})(${JSON.stringify(arg ?? null)}); })()`;
}

function saveShot(name: string, png: Uint8Array): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  writeFileSync(path, png);
  return path;
}

const testid = (id: string) => `[data-testid="${id}"]`;
export { testid };

async function launchChromium(): Promise<Engine> {
  const browser = await chromium.launch({
    executablePath: REQUIREMENTS.chromium[0]!.path,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--autoplay-policy=user-gesture-required'],
  });
  return {
    name: 'chromium',
    version: browser.version(),
    async newPage(viewport = { width: 1280, height: 860 }) {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      return {
        engine: 'chromium',
        goto: async (url) => void (await page.goto(url)),
        evaluate: (fn, arg) => page.evaluate(pageExpression(fn, arg)),
        runScript: async (source) => void (await page.evaluate(`${source}\n;undefined`)),
        click: (selector) => page.locator(selector).first().click(),
        fill: (selector, value) => page.locator(selector).first().fill(value),
        cookieNames: async () => (await context.cookies(page.url())).map((c) => c.name),
        screenshot: async (name) => saveShot(name, await page.screenshot()),
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

async function launchFirefox(): Promise<Engine> {
  const sound = startSoundServer();
  const browser = await puppeteer
    .launch({
      browser: 'firefox',
      executablePath: REQUIREMENTS.firefox[0]!.path,
      protocol: 'webDriverBiDi',
      headless: true,
      env: { ...process.env, ...sound?.env },
      // Autoplay with sound stays blocked until a click, as for a visitor; nothing else is changed.
      extraPrefsFirefox: { 'media.autoplay.default': 1, 'media.autoplay.blocking_policy': 0 },
    })
    .catch((err: unknown) => {
      sound?.stop();
      throw err;
    });
  const version = await browser.version();
  return {
    name: 'firefox',
    version,
    async newPage(viewport = { width: 1280, height: 860 }) {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setViewport(viewport);
      return {
        engine: 'firefox',
        goto: async (url) => void (await page.goto(url)),
        // Bounded: a page that froze (as Firefox's did on unmute while the player asked its audio
        // output clock: live-audio.ts GECKO) fails the step with a reason instead of hanging to the
        // test's timeout; an error also lets the caller's polling ask again.
        evaluate: (fn, arg) => withinMs(page.evaluate(pageExpression(fn, arg)) as Promise<Awaited<ReturnType<typeof fn>>>, 10_000, 'a script in the page'),
        runScript: async (source) => void (await page.evaluate(`${source}\n;undefined`)),
        // A mouse click at the middle of the element, as a user's: the point is found in the page
        // (scrolled into view, and the element is what is there) and clicked in the next command,
        // with no element handle between them. A handle's click failed with "Node is detached"
        // three times running where the page draws the element anew (the share list every 5 s) on
        // a loaded machine; a locator's click waits for the box to hold still over animation
        // frames, which over BiDi did not settle for the player's controls or the confirm dialog.
        // The element drawn again is at the same point, so the click lands on it.
        click: async (selector) => {
          const deadline = Date.now() + 20_000;
          for (;;) {
            const point = await withinMs(page.evaluate(pageExpression(clickPoint, selector)) as Promise<ReturnType<typeof clickPoint>>, 10_000, 'a script in the page').catch(() => null);
            if (point) {
              await withinMs(page.mouse.click(point.x, point.y), 20_000, `a click on ${selector}`);
              return;
            }
            if (Date.now() > deadline) throw new Error(`nothing to click at ${selector} within 20 s`);
            await new Promise((r) => setTimeout(r, 100));
          }
        },
        fill: (selector, value) => page.locator(selector).fill(value),
        cookieNames: async () => (await context.cookies()).map((c) => c.name),
        screenshot: async (name) => saveShot(name, await page.screenshot()),
        close: () => context.close(),
      };
    },
    close: async () => {
      await browser.close();
      sound?.stop();
    },
  };
}

async function launchWebKit(): Promise<Engine> {
  // Its sound (GStreamer's pulsesink) goes to the tests' null sink, as Firefox's does.
  const sound = startSoundServer();
  // WebKitWebDriver holds one session at a time, so each page (a visitor of its own, with its own
  // cookies) gets its own driver and display.
  const drivers = new Set<WebKitDriver>();
  const sessions = new Set<{ delete(): Promise<void> }>();
  let version = '';
  const engine: Engine = {
    name: 'webkit',
    get version() {
      return version;
    },
    async newPage(viewport = { width: 1280, height: 860 }) {
      const driver = await WebKitDriver.start(sound?.env);
      drivers.add(driver);
      const session = await driver.newSession();
      sessions.add(session);
      version = session.browserVersion;
      await session.setWindowSize(viewport.width, viewport.height);
      await session.setScriptTimeout(60_000);
      return {
        engine: 'webkit',
        goto: (url) => session.navigate(url),
        // execute/async: the driver hands back what the page's promise settles with.
        evaluate: async (fn, arg) => {
          const settled = await session.executeAsync<{ value?: unknown; error?: string }>(
            `const done = arguments[arguments.length - 1];
             Promise.resolve().then(() => ${pageExpression(fn, arg)}).then(
               (value) => done({ value: value === undefined ? null : value }),
               (err) => done({ error: String((err && err.stack) || err) }));`,
          );
          if (settled.error !== undefined) throw new Error(`in the page: ${settled.error}`);
          return settled.value as Awaited<ReturnType<typeof fn>>;
        },
        runScript: async (source) => void (await session.executeSync(`${source}\n;return null;`)),
        click: (selector) => session.click(selector),
        fill: (selector, value) => session.fill(selector, value),
        cookieNames: async () => (await session.cookies()).map((c) => c.name),
        screenshot: async (name) => {
          const png = await session.screenshot();
          if (png) return saveShot(name, png);
          console.warn(`WebKitGTK: no screenshot "${name}": the page made no picture in time (test/helpers/webdriver.ts)`);
          return '(no screenshot)';
        },
        close: async () => {
          sessions.delete(session);
          await session.delete().catch(() => {});
          drivers.delete(driver);
          await driver.close();
        },
      };
    },
    async close() {
      for (const s of sessions) await s.delete().catch(() => {});
      sessions.clear();
      for (const d of drivers) await d.close();
      drivers.clear();
      sound?.stop();
    },
  };
  return engine;
}

/** Page code: the middle of the first element matching `selector`, scrolled into view, when that
 * element (not something over it) is what a click there would hit; else null. */
function clickPoint(selector: string): { x: number; y: number } | null {
  const el = document.querySelector(selector);
  if (!el) return null;
  el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  const box = el.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) return null;
  const x = box.left + box.width / 2;
  const y = box.top + box.height / 2;
  const hit = document.elementFromPoint(x, y);
  return hit && (hit === el || el.contains(hit)) ? { x, y } : null;
}

/** `promise`, or an error naming `what` after `ms`. */
function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const LAUNCH: Record<EngineName, () => Promise<Engine>> = { chromium: launchChromium, firefox: launchFirefox, webkit: launchWebKit };

/** Starts an engine (closed again when the test ends); throws if it is installed but will not start. */
export async function startEngine(name: EngineName): Promise<Engine> {
  const missing = engineMissing(name);
  if (missing) throw new Error(`${ENGINE_LABEL[name]} cannot run: missing ${missing}`);
  return LAUNCH[name]();
}

/**
 * The engine, or a skipped test with a loud message when it is not installed. On CI (`CI` set) a
 * missing browser fails instead: a green run must not hide that a browser's tests never ran.
 */
export async function launchEngine(t: TestContext, name: EngineName): Promise<Engine | null> {
  const missing = engineMissing(name);
  if (missing) {
    skipForMissingTool(t, `${ENGINE_LABEL[name]} not installed (missing ${missing}): its browser end-to-end tests NOT RUN`);
    return null;
  }
  const engine = await LAUNCH[name]();
  t.after(() => engine.close());
  return engine;
}

/**
 * Polls `fn(arg)` in the page until it returns something truthy, and returns that; fails after
 * `timeoutMs` with `what` and the last value seen.
 */
export async function waitInPage<A, R>(page: EnginePage, fn: (arg: A) => R | Promise<R>, arg: A, what: string, timeoutMs = 20_000, pollMs = 100): Promise<NonNullable<R>> {
  const deadline = Date.now() + timeoutMs;
  let last: R | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await page.evaluate(fn, arg);
      if (last) return last as NonNullable<R>;
    } catch (err) {
      // A navigation in progress destroys the execution context: poll again.
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError ? `; last error: ${(lastError as Error).message}` : `; last value: ${JSON.stringify(last)}`;
      throw new Error(`${ENGINE_LABEL[page.engine]}: timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Waits until an element with this data-testid exists and is rendered (optionally with text matching). */
export function waitForTestId(page: EnginePage, id: string, options: { text?: RegExp; timeoutMs?: number } = {}): Promise<string> {
  const source = options.text ? { pattern: options.text.source, flags: options.text.flags } : null;
  return waitInPage(
    page,
    ({ id, source }) => {
      for (const el of document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)) {
        if (el.getClientRects().length === 0) continue;
        const text = (el.innerText || el.textContent || '').trim();
        if (!source || new RegExp(source.pattern, source.flags).test(text)) return text || ' ';
      }
      return '';
    },
    { id, source },
    `[data-testid="${id}"]${options.text ? ` with text ${options.text}` : ''}`,
    options.timeoutMs,
  );
}
