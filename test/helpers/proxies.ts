import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { SelfSignedCert } from './tls.ts';
import { waitForChange } from './wait-for-change.ts';
import { METRICS_TOKEN, UNCAPPED_SOCKETS } from './relay-process.ts';
import { nginxMainConfig, nginxTest } from '../../scripts/cluster-nginx.ts';

export { nginxTest };

/**
 * Real processes on 127.0.0.1 for the infra, proxy and fault tests: the relay (restartable on the
 * same port and DATA_DIR, killable with SIGKILL), nginx and Caddy in front of it running the very
 * config files that ship in infra/, and a viewer that reconnects by itself. Everything waits on
 * events (a log line, an accepted connection, a message) with a timeout, never on a fixed sleep.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const INFRA_DIR = join(REPO_ROOT, 'infra');
const RELAY_BIN = join(REPO_ROOT, 'relay-server/bin/picam-relay.js');
const ADMIN_PASSWORD = 'proxy-test-password';

export function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** A port nobody listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * `start` again, up to `attempts` times, while it fails because a port freePort picked was taken
 * before the server bound it: another test, or a suite running beside this one, can bind it in
 * between. `start` picks its ports afresh each time.
 */
export async function retryWhilePortTaken<T>(start: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !/address already in use|EADDRINUSE/i.test((err as Error).message)) throw err;
    }
  }
}

/** Resolves once 127.0.0.1:port accepts a TCP connection (retried every 50 ms), or rejects after timeoutMs. */
async function waitForTcp(port: number, timeoutMs: number, what = `port ${port}`, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`${what}: the process exited before listening`);
    if (Date.now() > deadline) throw new Error(`${what}: nothing listening after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- HTTP -------------------------------------------------------------------------------------------

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are inspected ad hoc
  json: any;
}

/** One HTTP(S) request with an optional trusted CA (fetch cannot take one per call). */
export function httpJson(
  method: string,
  url: string,
  options: { body?: unknown; headers?: Record<string, string>; ca?: Buffer; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const target = new URL(url);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method, headers, ca: options.ca, agent: false, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in time`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Admin login; the Bearer token. */
export async function adminLogin(baseUrl: string, ca?: Buffer): Promise<string> {
  const login = await httpJson('POST', `${baseUrl}/api/auth/login`, { body: { username: 'admin', password: ADMIN_PASSWORD }, ca });
  if (login.status !== 200) throw new Error(`admin login failed: ${login.status} ${login.text}`);
  return login.json.token as string;
}

/** A camera (small 640x480 clip to keep CPU low) and its one-time enrollment token. */
export async function createCamera(baseUrl: string, adminToken: string, name: string, ca?: Buffer): Promise<{ id: string; enrollmentToken: string }> {
  const created = await httpJson('POST', `${baseUrl}/api/cameras`, {
    body: { name, settings: { width: 640, height: 480, framerate: 30 } },
    headers: { authorization: `Bearer ${adminToken}` },
    ca,
  });
  if (created.status !== 201) throw new Error(`create camera: ${created.status} ${created.text}`);
  return { id: created.json.camera.id as string, enrollmentToken: created.json.enrollment.token as string };
}

// ---- the relay as a child process ------------------------------------------------------------------

export interface RelayStartOptions {
  /** default: a free port; give the old one to restart in place */
  port?: number;
  /** default: a new temp dir; give the old one to restart on the same database */
  dataDir?: string;
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

/** `picam-relay serve` as a child process (the launcher systemd and the Containerfile run). */
export class RelayChild {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dataDir: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private text = '';

  private constructor(child: ChildProcess, port: number, dataDir: string) {
    this.child = child;
    this.port = port;
    this.dataDir = dataDir;
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => (this.text += c));
    child.stderr!.on('data', (c: string) => (this.text += c));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(options: RelayStartOptions = {}): Promise<RelayChild> {
    const port = options.port ?? (await freePort());
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'picam-relay-data-'));
    const child = spawn(process.execPath, [RELAY_BIN, 'serve'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        PICAM_ADMIN_PASSWORD: ADMIN_PASSWORD,
        LOG_LEVEL: 'warn',
        METRICS_TOKEN,
        ...UNCAPPED_SOCKETS,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const relay = new RelayChild(child, port, dataDir);
    await relay.waitForOutput(/picam-relay listening on /, options.startTimeoutMs ?? 30_000, 'the relay to listen');
    return relay;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.text;
  }

  /** Resolves when the combined stdout+stderr matches; rejects on exit or after timeoutMs. */
  waitForOutput(pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pattern.test(this.text)) return;
        cleanup();
        resolve();
      };
      const onExit = () => {
        // the last chunk may land after 'exit'
        setImmediate(() => {
          cleanup();
          if (pattern.test(this.text)) resolve();
          else reject(new Error(`relay exited (code ${this.child.exitCode}, signal ${this.child.signalCode}) while waiting for ${what}:\n${this.text}`));
        });
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${this.text}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout!.off('data', check);
        this.child.stderr!.off('data', check);
        this.child.off('exit', onExit);
      };
      this.child.stdout!.on('data', check);
      this.child.stderr!.on('data', check);
      this.child.once('exit', onExit);
      check();
    });
  }

  /** Sends a signal and resolves with how it exited (SIGKILL after timeoutMs). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** Open file descriptors (Linux /proc). */
  fdCount(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** A metric's value from /metrics (first series matching the labels). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    const res = await httpJson('GET', `${this.url}/metrics`, { headers: { accept: 'text/plain', authorization: `Bearer ${METRICS_TOKEN}` } });
    for (const line of res.text.split('\n')) {
      const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
    }
    return undefined;
  }

  removeData(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

// ---- reverse proxies ---------------------------------------------------------------------------------

export interface RunningProxy {
  kind: 'nginx' | 'caddy';
  httpsPort: number;
  httpPort: number;
  /** https://127.0.0.1:<httpsPort> */
  httpsUrl: string;
  /** wss://127.0.0.1:<httpsPort> */
  wssUrl: string;
  accessLogPath: string;
  dir: string;
  output(): string;
  stop(): Promise<void>;
}

export interface ProxyOptions {
  relayPort: number;
  cert: SelfSignedCert;
}

/**
 * nginx: a generated main config whose http{} includes the shipped infra/nginx/picam-relay.conf
 * unchanged, and the four picam-relay.d/ snippets it includes (filled with loopback ports, the
 * test certificate and a temp access log), the same way infra/README.md tells an operator to.
 */
export async function writeNginxConfig(options: ProxyOptions & { httpsPort: number; httpPort: number }): Promise<{ dir: string; conf: string; accessLogPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'picam-nginx-'));
  const snippets = join(dir, 'picam-relay.d');
  mkdirSync(snippets);
  mkdirSync(join(dir, 'logs'));
  const accessLogPath = join(dir, 'logs', 'picam-relay.access.log');
  writeFileSync(join(snippets, 'upstream.conf'), `server 127.0.0.1:${options.relayPort};\n`);
  writeFileSync(
    join(snippets, 'http.conf'),
    `listen 127.0.0.1:${options.httpPort};\nserver_name localhost 127.0.0.1;\nset $picam_https_authority $host:${options.httpsPort};\n`,
  );
  writeFileSync(
    join(snippets, 'https.conf'),
    [
      `listen 127.0.0.1:${options.httpsPort} ssl http2;`,
      'server_name localhost 127.0.0.1;',
      `ssl_certificate ${options.cert.certPath};`,
      `ssl_certificate_key ${options.cert.keyPath};`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(snippets, 'log.conf'), `access_log ${accessLogPath} picam_relay;\n`);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxMainConfig(dir, [join(INFRA_DIR, 'nginx', 'picam-relay.conf')]));
  return { dir, conf, accessLogPath };
}

function spawnProxy(kind: 'nginx' | 'caddy', command: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => (text += c));
  child.stderr!.on('data', (c: string) => (text += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // nginx: SIGTERM is the fast shutdown (SIGQUIT would wait for every open stream); Caddy: graceful.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const alive = () => child.exitCode === null && child.signalCode === null;
  return { child, output: () => text, stop, alive, kind };
}

export async function startNginx(options: ProxyOptions): Promise<RunningProxy> {
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const { dir, conf, accessLogPath } = await writeNginxConfig({ ...options, httpsPort, httpPort });
  const test = nginxTest(conf, dir);
  if (test.status !== 0) throw new Error(`nginx -t failed:\n${test.output}`);
  const proc = spawnProxy('nginx', 'nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], process.env);
  try {
    await waitForTcp(httpsPort, 10_000, 'nginx https', proc.alive);
    await waitForTcp(httpPort, 10_000, 'nginx http', proc.alive);
  } catch (error) {
    await proc.stop();
    throw new Error(`${(error as Error).message}\n${proc.output()}`);
  }
  return {
    kind: 'nginx',
    httpsPort,
    httpPort,
    httpsUrl: `https://127.0.0.1:${httpsPort}`,
    wssUrl: `wss://127.0.0.1:${httpsPort}`,
    accessLogPath,
    dir,
    output: proc.output,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The environment that runs the shipped infra/caddy/Caddyfile on loopback: the production defaults
 * overridden by the placeholders the file documents, and HOME/XDG dirs in a temp dir (Caddy writes
 * its storage there). The admin endpoint is off.
 */
export function caddyEnv(options: ProxyOptions & { httpsPort: number; httpPort: number; dir: string }): NodeJS.ProcessEnv {
  const home = join(options.dir, 'home');
  mkdirSync(home, { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    PICAM_DOMAIN: '127.0.0.1',
    PICAM_UPSTREAM: `127.0.0.1:${options.relayPort}`,
    PICAM_TLS: `tls ${options.cert.certPath} ${options.cert.keyPath}`,
    PICAM_BIND: 'bind 127.0.0.1',
    PICAM_HTTP_PORT: String(options.httpPort),
    PICAM_HTTPS_PORT: String(options.httpsPort),
    PICAM_CADDY_ADMIN: 'off',
    PICAM_ACCESS_LOG: join(options.dir, 'access.log'),
  };
}

export const CADDYFILE = join(INFRA_DIR, 'caddy', 'Caddyfile');

export async function startCaddy(options: ProxyOptions): Promise<RunningProxy> {
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'picam-caddy-'));
  const env = caddyEnv({ ...options, httpsPort, httpPort, dir });
  const proc = spawnProxy('caddy', 'caddy', ['run', '--config', CADDYFILE, '--adapter', 'caddyfile'], env);
  try {
    await waitForTcp(httpsPort, 15_000, 'caddy https', proc.alive);
    await waitForTcp(httpPort, 15_000, 'caddy http', proc.alive);
  } catch (error) {
    await proc.stop();
    throw new Error(`${(error as Error).message}\n${proc.output()}`);
  }
  return {
    kind: 'caddy',
    httpsPort,
    httpPort,
    httpsUrl: `https://127.0.0.1:${httpsPort}`,
    wssUrl: `wss://127.0.0.1:${httpsPort}`,
    accessLogPath: env.PICAM_ACCESS_LOG!,
    dir,
    output: proc.output,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- a viewer that reconnects ------------------------------------------------------------------------

export interface LiveViewerOptions {
  /** ws(s)://host:port (no path) */
  baseUrl: string;
  cameraId: string;
  /** session or share token, sent as the `picam.token.<jwt>` subprotocol */
  token: string;
  ca?: Buffer;
  /** reconnect after a close or a failed connect (default true), backoff 100 ms doubling to 1 s */
  reconnect?: boolean;
  /** send acks like the player (default true) */
  ack?: boolean;
}

/**
 * A viewer client with the player's reconnect loop. Counts rather than keeps frames (it runs for
 * minutes and by the hundred). Emits 'change' on every event, so tests wait with `waitFor`.
 */
export class LiveViewer extends EventEmitter {
  readonly options: LiveViewerOptions;
  ws: WebSocket | null = null;
  /** successful upgrades */
  connections = 0;
  failedAttempts = 0;
  readonly closes: Array<{ code: number; reason: string }> = [];
  inits = 0;
  frames = 0;
  /** frames on the current connection */
  framesThisConnection = 0;
  /** whether the first frame of each connection was a keyframe */
  readonly firstFrameKeyframe: boolean[] = [];
  readonly states: string[] = [];
  private stopped = false;
  private backoffMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private lastSequence: number | undefined;

  constructor(options: LiveViewerOptions) {
    super();
    this.setMaxListeners(50);
    this.options = options;
  }

  start(): this {
    this.open();
    return this;
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  private open(): void {
    if (this.stopped) return;
    const { baseUrl, cameraId, token, ca } = this.options;
    const ws = new WebSocket(`${baseUrl}/api/cameras/${cameraId}/live`, ['picam.v1', `picam.token.${token}`], {
      perMessageDeflate: false,
      ca,
      handshakeTimeout: 5_000,
    });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.connections++;
      this.backoffMs = 100;
      this.framesThisConnection = 0;
      this.lastSequence = undefined;
      if (this.options.ack !== false) {
        this.ackTimer = setInterval(() => {
          if (this.lastSequence !== undefined && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ack', sequence: this.lastSequence }));
        }, 100);
      }
      this.emit('change');
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        if (data.length >= 16 && data[1] === 1) {
          if (this.framesThisConnection === 0) this.firstFrameKeyframe.push((data[2]! & 1) === 1);
          this.frames++;
          this.framesThisConnection++;
          this.lastSequence = data.readUInt32BE(4);
        }
      } else {
        const message = JSON.parse(data.toString()) as { type?: string; state?: string; online?: boolean };
        if (message.type === 'init') this.inits++;
        if (message.type === 'state') this.states.push(String(message.state ?? message.online));
      }
      this.emit('change');
    });
    ws.on('error', () => {});
    ws.on('close', (code, reason) => {
      if (this.ackTimer) clearInterval(this.ackTimer);
      this.ackTimer = undefined;
      if (opened) this.closes.push({ code, reason: reason.toString() });
      else this.failedAttempts++;
      this.ws = null;
      this.emit('change');
      if (!this.stopped && this.options.reconnect !== false) {
        this.retryTimer = setTimeout(() => this.open(), this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, 1_000);
      }
    });
  }

  async waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    await waitForChange(
      this,
      check,
      timeoutMs,
      () =>
        `viewer: timed out after ${timeoutMs} ms waiting for ${what} (connections ${this.connections}, failed ${this.failedAttempts}, frames ${this.frames}, closes ${JSON.stringify(this.closes)})`,
    );
  }

  /** Stops reconnecting and closes; resolves once the socket is gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.terminate();
      else if (ws.readyState === WebSocket.CLOSED) resolve();
    });
  }
}
