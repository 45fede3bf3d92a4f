import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

/**
 * WebKitGTK for the tests: an Xvfb display of its own, `WebKitWebDriver` on a free port, and a
 * small classic (W3C) WebDriver client. Each session is one MiniBrowser window with its own
 * cookies. Only the commands the browser tests use are here; WebKitWebDriver speaks no BiDi yet
 * and webdriverio would bring its driver/browser download machinery for the same few calls.
 */

export const WEBKIT_DRIVER_PATH = process.env.PICAM_WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver';
/** Debian's multiarch library folder holds MiniBrowser (libwebkit2gtk-4.1-0). */
const MULTIARCH = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
export const MINIBROWSER_PATH = process.env.PICAM_MINIBROWSER ?? `/usr/lib/${MULTIARCH}/webkit2gtk-4.1/MiniBrowser`;
export const XVFB_PATH = process.env.PICAM_XVFB ?? '/usr/bin/Xvfb';
/**
 * WebKitGTK rasterises on the CPU, as Chromium here runs with --disable-gpu: there is no GPU under
 * Xvfb, and its default path composites every changed canvas through Mesa's emulated one (llvmpipe),
 * which painted 15-20 of 30 pictures a second at 720p; on the CPU it paints all 30 at ~15 ms
 * (bench/README.md "Browser engines"). Set the variable to 0 to measure the default path.
 */
const WEBKIT_ENV = { WEBKIT_DISABLE_DMABUF_RENDERER: process.env.WEBKIT_DISABLE_DMABUF_RENDERER ?? '1' };

/** the W3C "web element identifier" key */
const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';

class WebDriverError extends Error {
  readonly command: string;
  readonly error: string;
  constructor(command: string, error: string, message: string) {
    super(`WebDriver ${command}: ${error}: ${message}`);
    this.command = command;
    this.error = error;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** An X server of its own (Xvfb picks a free display number and tells it on fd 3). */
async function startXvfb(): Promise<{ display: string; child: ChildProcess }> {
  const child = spawn(XVFB_PATH, ['-displayfd', '3', '-screen', '0', '1920x1080x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const display = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display number in 10 s:\n${stderr.join('\n')}`)), 10_000);
    createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).once('line', (line) => {
      clearTimeout(timer);
      resolve(`:${line.trim()}`);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code}):\n${stderr.join('\n')}`));
    });
  });
  return { display, child };
}

/** WebKitWebDriver on its own Xvfb display; `close()` ends both. */
export class WebKitDriver {
  readonly baseUrl: string;
  /** the driver's (and the browsers') stdout and stderr lines */
  readonly output: string[];
  private readonly driver: ChildProcess;
  private readonly xvfb: ChildProcess;

  private constructor(baseUrl: string, driver: ChildProcess, xvfb: ChildProcess, output: string[]) {
    this.baseUrl = baseUrl;
    this.driver = driver;
    this.xvfb = xvfb;
    this.output = output;
  }

  /** `env`: more environment for the driver and the browsers it starts (a sound server's). */
  static async start(env: Record<string, string> = {}): Promise<WebKitDriver> {
    const x = await startXvfb();
    const port = await freePort();
    const output: string[] = [];
    const driver = spawn(WEBKIT_DRIVER_PATH, [`--port=${port}`, '--host=127.0.0.1'], {
      env: { ...process.env, ...WEBKIT_ENV, ...env, DISPLAY: x.display, GDK_BACKEND: 'x11', WAYLAND_DISPLAY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: driver.stdout! }).on('line', (line) => output.push(line));
    createInterface({ input: driver.stderr! }).on('line', (line) => output.push(line));
    const baseUrl = `http://127.0.0.1:${port}`;
    const started = Date.now();
    for (;;) {
      if (driver.exitCode !== null) {
        await stopChild(x.child);
        throw new Error(`WebKitWebDriver exited (${driver.exitCode}):\n${output.join('\n')}`);
      }
      const ready = await fetch(`${baseUrl}/status`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ready) break;
      if (Date.now() - started > 15_000) {
        await stopChild(driver);
        await stopChild(x.child);
        throw new Error(`WebKitWebDriver did not answer /status in 15 s:\n${output.join('\n')}`);
      }
      // The driver is starting: its port answers once it listens (polled, bounded above).
      await new Promise((r) => setTimeout(r, 50));
    }
    return new WebKitDriver(baseUrl, driver, x.child, output);
  }

  /** A new MiniBrowser window (own cookies and storage). */
  async newSession(): Promise<WebDriverSession> {
    const answer = await command<{ sessionId: string; capabilities: Record<string, unknown> }>(this.baseUrl, 'POST', '/session', {
      capabilities: {
        alwaysMatch: {
          'webkitgtk:browserOptions': { binary: MINIBROWSER_PATH, args: ['--automation'] },
        },
      },
    });
    return new WebDriverSession(`${this.baseUrl}/session/${answer.sessionId}`, String(answer.capabilities.browserVersion ?? ''));
  }

  async close(): Promise<void> {
    await stopChild(this.driver);
    await stopChild(this.xvfb);
  }
}

/**
 * No driver command takes this long on a live page (navigations and async scripts included): one
 * that does has hung, and fails with its name instead of running into the test's own timeout.
 */
const COMMAND_TIMEOUT_MS = 60_000;
const SCREENSHOT_TIMEOUT_MS = 10_000;

async function command<T>(base: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, timeoutMs = COMMAND_TIMEOUT_MS): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  }).catch((err: unknown) => {
    if (err instanceof DOMException && err.name === 'TimeoutError') throw new WebDriverError(`${method} ${path}`, 'timeout', `no answer from WebKitWebDriver in ${timeoutMs / 1000} s`);
    throw err;
  });
  const text = await res.text();
  let json: { value?: unknown } = {};
  try {
    json = JSON.parse(text) as { value?: unknown };
  } catch {
    throw new WebDriverError(`${method} ${path}`, `HTTP ${res.status}`, text.slice(0, 300));
  }
  const value = json.value as { error?: string; message?: string } | undefined;
  if (!res.ok || (value && typeof value === 'object' && typeof value.error === 'string')) {
    throw new WebDriverError(`${method} ${path}`, value?.error ?? `HTTP ${res.status}`, value?.message ?? text.slice(0, 300));
  }
  return json.value as T;
}

/** One browsing session: navigate, run script, find and act on elements, cookies, screenshot. */
export class WebDriverSession {
  readonly browserVersion: string;
  private readonly base: string;

  constructor(base: string, browserVersion: string) {
    this.base = base;
    this.browserVersion = browserVersion;
  }

  private send<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return command<T>(this.base, method, path, body);
  }

  async navigate(url: string): Promise<void> {
    await this.send('POST', '/url', { url });
  }

  async setWindowSize(width: number, height: number): Promise<void> {
    await this.send('POST', '/window/rect', { width, height });
  }

  /** Runs a function body (`arguments[i]` are `args`); a returned promise is awaited by the driver. */
  executeSync<T>(body: string, args: unknown[] = []): Promise<T> {
    return this.send<T>('POST', '/execute/sync', { script: body, args });
  }

  /** Runs a function body that calls `arguments[arguments.length - 1](result)` when done. */
  executeAsync<T>(body: string, args: unknown[] = []): Promise<T> {
    return this.send<T>('POST', '/execute/async', { script: body, args });
  }

  async setScriptTimeout(ms: number): Promise<void> {
    await this.send('POST', '/timeouts', { script: ms });
  }

  async findElement(css: string): Promise<string> {
    const found = await this.send<Record<string, string>>('POST', '/element', { using: 'css selector', value: css });
    const id = found[ELEMENT_KEY];
    if (!id) throw new WebDriverError('find element', 'no such element', css);
    return id;
  }

  /** Element Click: real pointer events from the driver (counts as a user gesture). */
  async click(css: string): Promise<void> {
    const id = await this.findElement(css);
    await this.send('POST', `/element/${id}/click`, {});
  }

  /**
   * Types into an input and returns once the input holds the text. WebKitGTK delivers the typed
   * keys through the display asynchronously, after the command has answered: without the wait, the
   * next field's keys can land in this one (seen: a username field holding half the password).
   */
  async fill(css: string, text: string): Promise<void> {
    const id = await this.findElement(css);
    let value: string | null = null;
    // Typed twice at most: on a loaded machine the display has dropped keys outright (a CI run: 6 of
    // 20 characters after 10 s); the field is cleared and typed again rather than failing the journey.
    for (let attempt = 0; attempt < 2; attempt++) {
      await this.send('POST', `/element/${id}/clear`, {});
      await this.send('POST', `/element/${id}/value`, { text });
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        value = await this.executeSync<string | null>('const el = document.querySelector(arguments[0]); return el ? el.value : null;', [css]);
        if (value === text) return;
        // Keys still arriving: polled (bounded by the deadline), each poll a round trip to the page.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    throw new Error(`WebKitGTK: typing into ${css} did not complete: the field holds ${value?.length ?? 'no'} characters, ${text.length} were typed`);
  }

  async cookies(): Promise<Array<{ name: string }>> {
    return this.send<Array<{ name: string }>>('GET', '/cookie');
  }

  /**
   * PNG of the viewport, or null when WebKitGTK did not make one in SCREENSHOT_TIMEOUT_MS. With CPU
   * rendering (WEBKIT_ENV) it takes it at the page's next composite, and a page with nothing moving
   * (the static "link revoked" page) has not made one in 60 s; a screenshot is a record of the run,
   * never an assertion, so its absence is said rather than failing the journey.
   */
  async screenshot(): Promise<Buffer | null> {
    const shot = await command<string>(this.base, 'GET', '/screenshot', undefined, SCREENSHOT_TIMEOUT_MS).catch((err: unknown) => {
      if (err instanceof WebDriverError && err.error === 'timeout') return null;
      throw err;
    });
    return shot === null ? null : Buffer.from(shot, 'base64');
  }

  async delete(): Promise<void> {
    await this.send('DELETE', '');
  }
}
