/**
 * `npm run cluster`: cluster mode on one machine, for a first look (README "More than one machine").
 *   - nginx on PORT (default 8080) running infra/cluster/nginx/picam-cluster.conf: least_conn over
 *   - three relay nodes (NODE_ID relay-a, relay-b, relay-c on 127.0.0.1:8081-8083), sharing
 *   - a Postgres cluster of its own under DATA_DIR/cluster/postgres (initdb on the first run, reused after) and
 *   - nats-server (infra/cluster/nats.conf on a free loopback port),
 *   - plus the demo camera of `npm start`, its agent connected through nginx.
 * Environment: PORT, HOST (nginx's), DATA_DIR, PUBLIC_URL, PICAM_ADMIN_PASSWORD, LOG_LEVEL, and
 * PICAM_DEMO_CAMERA=0 to start without the camera. Ctrl-C stops everything, in order.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { prettyFactory } from 'pino-pretty';
import WebSocket from 'ws';
import { startClusterNginx, type RunningClusterNginx } from './cluster-nginx.ts';
import { DEMO_CAMERA_NAME, startDemoAgent } from './demo-camera.ts';
import { freePort, postgresMissing, startLocalPostgres, type LocalPostgres } from './local-postgres.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RELAY_BIN = join(ROOT, 'relay-server', 'bin', 'picam-relay.js');
const NATS_CONF = join(ROOT, 'infra', 'cluster', 'nats.conf');
const NODES = [
  { id: 'relay-a', port: 8081 },
  { id: 'relay-b', port: 8082 },
  { id: 'relay-c', port: 8083 },
] as const;
/** A node that ran at least this long and then died is started again (as systemd's Restart=on-failure would). */
const RESTART_AFTER_UPTIME_MS = 10_000;
const RESTART_DELAY_MS = 2_000;

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

class UsageError extends Error {}

interface Settings {
  port: number;
  host: string;
  dataDir: string;
  clusterDir: string;
  publicUrl: string | undefined;
  adminPassword: string | undefined;
  relayLogLevel: string;
}

function readSettings(): Settings {
  const port = Number(process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`PORT must be a TCP port, not ${process.env.PORT}`);
  if (NODES.some((n) => n.port === port)) throw new UsageError(`PORT ${port} is taken by a relay node (${NODES.map((n) => n.port).join(', ')})`);
  const dataDir = resolve(process.env.DATA_DIR ?? './data');
  const logLevel = process.env.LOG_LEVEL ?? 'info';
  return {
    port,
    host: process.env.HOST ?? '0.0.0.0',
    dataDir,
    clusterDir: join(dataDir, 'cluster'),
    publicUrl: process.env.PUBLIC_URL,
    adminPassword: process.env.PICAM_ADMIN_PASSWORD,
    // Readable output for a person at a terminal, as npm start does.
    relayLogLevel: logLevel === 'info' ? 'warn' : logLevel,
  };
}

function whatIsMissing(): string[] {
  const missing: string[] = [];
  const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
  if (!has('nats-server')) missing.push('nats-server (apt install nats-server)');
  if (!has('nginx')) missing.push('nginx (apt install nginx-light)');
  const pg = postgresMissing();
  if (pg) missing.push(pg);
  return missing;
}

// ---- nats-server ----------------------------------------------------------------------------------

interface RunningNats {
  url: string;
  monitorUrl: string;
  exited: Promise<void>;
  stop(): Promise<void>;
}

/** The shipped infra/cluster/nats.conf unchanged; only the ports move (flags override the file). */
async function startNats(): Promise<RunningNats> {
  const [port, monitorPort] = [await freePort(), await freePort()];
  const child = spawn('nats-server', ['-c', NATS_CONF, '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      log = (log + chunk).slice(-4000);
      if (log.includes('Server is ready')) resolve();
    });
    void exited.then(() => reject(new Error(`nats-server exited before it was ready:\n${log}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
    exited,
    stop: () => stopChild(child, exited, 'SIGTERM'),
  };
}

// ---- relay nodes ----------------------------------------------------------------------------------

interface Node {
  readonly id: string;
  readonly port: number;
  child: ChildProcess;
  exited: Promise<void>;
  startedAt: number;
  listening: Promise<void>;
}

interface NodeEnv {
  databaseUrl: string;
  natsUrl: string;
  settings: Settings;
}

/**
 * One node (`picam-relay serve`), its JSON log pretty-printed with its name in front; `listening`
 * settles once it listens (rejects if it exits first).
 */
function startNode(spec: { id: string; port: number }, shared: NodeEnv, onAdminPassword: (password: string) => void): Node {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(spec.port),
    DATA_DIR: join(shared.settings.clusterDir, spec.id),
    NODE_ID: spec.id,
    DATABASE_URL: shared.databaseUrl,
    NATS_URL: shared.natsUrl,
    // Only nginx on this machine talks to the nodes.
    TRUST_PROXY: 'true',
    LOG_LEVEL: shared.settings.relayLogLevel,
  };
  // One per node would collide on one port.
  delete env.METRICS_PORT;
  const child = spawn(process.execPath, [RELAY_BIN, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const prettify = prettyFactory({ colorize: process.stderr.isTTY === true, ignore: 'pid,hostname' });
  const tag = `[${spec.id}]`;
  let recent = '';
  const listening = new Promise<void>((resolve, reject) => {
    const onLine = (line: string) => {
      recent = `${recent}${line}\n`.slice(-4000);
      const password = /^admin password: (\S+)$/.exec(line)?.[1];
      if (password) return onAdminPassword(password);
      if (/^\(shown once/.test(line)) return;
      if (/^picam-relay listening on /.test(line)) return resolve();
      if (line.startsWith('{')) {
        try {
          err(`${tag} ${prettify(JSON.parse(line)).trimEnd()}`);
          return;
        } catch {
          // not JSON after all: as it is
        }
      }
      err(`${tag} ${line}`);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then(() => reject(new Error(`${spec.id} exited (${child.exitCode ?? child.signalCode}) before listening:\n${recent}`)));
  });
  listening.catch(() => {});
  return { id: spec.id, port: spec.port, child, exited, startedAt: Date.now(), listening };
}

// ---- the demo camera, through nginx ---------------------------------------------------------------

/** Asks the cluster whether a device credential is still valid, as `picam-agent check` does (no hello: no takeover). */
function credentialAccepted(baseUrl: string, credential: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/agent`, { headers: { authorization: `Bearer ${credential}` }, perMessageDeflate: false, handshakeTimeout: 10_000 });
    ws.on('open', () => {
      ws.close(1000, 'npm run cluster: credential check');
      resolve(true);
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      if (res.statusCode === 401 || res.statusCode === 403) resolve(false);
      else reject(new Error(`the agent endpoint answered HTTP ${res.statusCode}`));
    });
    ws.on('error', reject);
  });
}

async function provisionCamera(baseUrl: string, adminPassword: string | undefined, name: string): Promise<string> {
  if (adminPassword === undefined) {
    throw new Error('the demo camera needs enrolling and the admin password is not known here: run with PICAM_ADMIN_PASSWORD=<the admin password>');
  }
  const json = { 'content-type': 'application/json' };
  const login = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ username: 'admin', password: adminPassword }) });
  if (login.status !== 200) throw new Error(`admin login failed (HTTP ${login.status}): is PICAM_ADMIN_PASSWORD the admin password?`);
  const { token } = (await login.json()) as { token: string };
  const created = await fetch(`${baseUrl}/api/cameras`, { method: 'POST', headers: { ...json, authorization: `Bearer ${token}` }, body: JSON.stringify({ name }) });
  if (created.status !== 201) throw new Error(`creating the demo camera failed (HTTP ${created.status}): ${await created.text()}`);
  return ((await created.json()) as { enrollment: { token: string } }).enrollment.token;
}

// ---- the whole -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const settings = readSettings();
  const missing = whatIsMissing();
  if (missing.length > 0) throw new UsageError(`npm run cluster needs: ${missing.join('; ')}`);
  mkdirSync(settings.clusterDir, { recursive: true, mode: 0o700 });

  // Everything started so far, stopped in reverse order on Ctrl-C or a failed start.
  const stops: Array<{ what: string; stop: () => Promise<void> }> = [];
  let stopping = false;
  const stopAll = async () => {
    for (const { what, stop } of stops.reverse()) {
      await stop().catch((e: unknown) => err(`stopping ${what}: ${String(e)}`));
    }
  };
  const killAll: Array<() => void> = [];
  // Children run in their own process groups (Ctrl-C reaches only this script, which stops them in
  // order); if this process dies anyway, they go with it.
  process.on('exit', () => {
    for (const kill of killAll) {
      try {
        kill();
      } catch {
        // already gone
      }
    }
  });
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    err('\nstopping: demo camera, nginx, relay nodes, NATS, Postgres ...');
    stopAll().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  try {
    const postgres: LocalPostgres = await startLocalPostgres(join(settings.clusterDir, 'postgres'), [settings.dataDir, settings.clusterDir]);
    stops.push({ what: 'Postgres', stop: postgres.stop });
    killAll.push(() => process.kill(postgres.pid, 'SIGQUIT'));
    const nats = await startNats();
    stops.push({ what: 'nats-server', stop: nats.stop });

    let generatedPassword: string | undefined;
    const shared: NodeEnv = { databaseUrl: postgres.url, natsUrl: nats.url, settings };
    const onPassword = (password: string) => (generatedPassword = password);
    // All three at once, as a real cluster boots: migrations and the admin bootstrap run once.
    const nodes = NODES.map((spec) => trackNode(startNode(spec, shared, onPassword)));
    stops.push({
      what: 'relay nodes',
      stop: async () => {
        await Promise.all(nodes.map((n) => stopChild(n.child, n.exited, 'SIGTERM', 15_000)));
      },
    });
    await Promise.all(nodes.map((n) => n.listening));

    function trackNode(node: Node): Node {
      killAll.push(() => node.child.kill('SIGKILL'));
      void node.exited.then(async () => {
        if (stopping || !(await node.listening.then(() => true, () => false))) return;
        const how = node.child.signalCode ?? `code ${node.child.exitCode}`;
        if (Date.now() - node.startedAt < RESTART_AFTER_UPTIME_MS) {
          err(`[${node.id}] exited (${how}) soon after it started; not restarting it. The other nodes carry on.`);
          return;
        }
        err(`[${node.id}] exited (${how}); its agents and viewers reconnect through nginx to the other nodes. Starting it again in ${RESTART_DELAY_MS / 1000} s.`);
        setTimeout(() => {
          if (stopping) return;
          const again = trackNode(startNode(node, shared, onPassword));
          nodes[nodes.indexOf(node)] = again;
          again.listening.then(
            () => err(`[${node.id}] back (pid ${again.child.pid})`),
            (e: unknown) => err(`[${node.id}] could not start again: ${String(e)}`),
          );
        }, RESTART_DELAY_MS);
      });
      return node;
    }

    const listen = settings.host === '0.0.0.0' ? String(settings.port) : `${isIPv6(settings.host) ? `[${settings.host}]` : settings.host}:${settings.port}`;
    const nginx: RunningClusterNginx = await startClusterNginx({
      dir: join(settings.clusterDir, 'nginx'),
      listen,
      relayPorts: NODES.map((n) => n.port),
      port: settings.port,
    });
    stops.push({ what: 'nginx', stop: nginx.stop });
    killAll.push(() => process.kill(nginx.pid, 'SIGKILL'));
    for (const [what, exited] of [['Postgres', postgres.exited], ['nats-server', nats.exited], ['nginx', nginx.exited]] as const) {
      void exited.then(() => {
        if (!stopping) err(`${what} exited on its own; Ctrl-C stops the rest.`);
      });
    }

    const balancerUrl = `http://127.0.0.1:${settings.port}`;
    const adminPassword = settings.adminPassword ?? generatedPassword;
    let agent: ChildProcess | undefined;
    if (process.env.PICAM_DEMO_CAMERA !== '0') {
      try {
        agent = await startDemoAgent(
          {
            url: balancerUrl,
            enrolled: ({ credential }) => credentialAccepted(balancerUrl, credential),
            provision: (name) => provisionCamera(balancerUrl, adminPassword, name),
          },
          settings.clusterDir,
        );
        const demoAgent = agent;
        stops.push({ what: 'the demo camera', stop: () => stopChild(demoAgent, new Promise((r) => demoAgent.once('exit', () => r())), 'SIGTERM') });
      } catch (e) {
        err(`no demo camera: ${e instanceof Error ? e.message : String(e)}`);
      }
    }

    const browserUrl = settings.publicUrl ?? `http://localhost:${settings.port}`;
    out();
    out(`  picam-relay cluster is running: ${browserUrl}`);
    out(`  (nginx, least_conn over ${NODES.length} relay nodes; Postgres and NATS between them)`);
    out();
    if (generatedPassword !== undefined) {
      out(`  log in as   admin / ${generatedPassword}`);
      out('  (the password is shown this once: store it, or set PICAM_ADMIN_PASSWORD)');
    } else {
      out('  log in as   admin (password: PICAM_ADMIN_PASSWORD or the one printed on the first start)');
    }
    if (agent) out(`  a simulated camera ("${DEMO_CAMERA_NAME}") streams a test clip to whichever node nginx gave it.`);
    out();
    for (const node of nodes) out(`  ${node.id}   http://127.0.0.1:${node.port}   pid ${node.child.pid}`);
    out(`  Postgres  ${postgres.version} in ${join(settings.clusterDir, 'postgres')}${postgres.created ? ' (new)' : ''}, 127.0.0.1:${postgres.port}`);
    out(`  NATS      ${nats.url}   (monitoring ${nats.monitorUrl}/connz)`);
    out();
    out(`  try: \`curl -s 127.0.0.1:8081/healthz\` (and 8082, 8083) shows which node holds the camera`);
    out('  ("cameras") and who watches where ("viewers"); `kill -9 <that pid>` and the picture comes back');
    out('  from another node within seconds (the node is started again). Ctrl-C stops everything.');
    out();
  } catch (e) {
    stopping = true;
    await stopAll();
    throw e;
  }
}

main().catch((e: unknown) => {
  // What failed to start says why in its message (a port in use, initdb's error); a stack only helps here when debugging.
  const detail = e instanceof Error ? (process.env.LOG_LEVEL === 'debug' ? (e.stack ?? e.message) : e.message) : String(e);
  err(e instanceof UsageError ? `npm run cluster: ${detail}` : `npm run cluster failed: ${detail}`);
  process.exit(1);
});

/** Sends a signal and waits for the exit, then SIGKILL after timeoutMs. */
async function stopChild(child: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
