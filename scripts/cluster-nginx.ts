/**
 * nginx in front of local relay nodes, running the shipped infra/cluster/nginx/picam-cluster.conf
 * unchanged: a generated main config includes it, and the snippets it includes
 * (picam-cluster.d/relays.conf, server.conf, log.conf) are written for loopback, the way
 * infra/cluster/README.md tells an operator to fill them. Used by `npm run cluster` and by the tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLUSTER_NGINX_CONF = fileURLToPath(new URL('../infra/cluster/nginx/picam-cluster.conf', import.meta.url));
const REDIRECT_CONF = fileURLToPath(new URL('../infra/cluster/nginx/picam-cluster-redirect.conf', import.meta.url));

export interface ClusterNginxOptions {
  /** nginx's prefix: the main config, the snippets, temp paths, logs and pid go here */
  dir: string;
  /** nginx `listen` value: `8080`, `127.0.0.1:8080` */
  listen: string;
  /** the relay nodes, each on 127.0.0.1 */
  relayPorts: readonly number[];
  /** seconds a node that refused a connect is left out (relays.conf's fail_timeout; shipped: 5) */
  failTimeoutSeconds?: number;
  /** serve TLS with this certificate instead of plain HTTP */
  tls?: { certPath: string; keyPath: string };
  /** also the plain-HTTP redirect server (picam-cluster-redirect.conf), listening here */
  redirectListen?: string;
}

export interface ClusterNginxFiles {
  /** the main config (nginx -p dir -c conf) */
  conf: string;
  accessLogPath: string;
}

export function writeClusterNginxConfig(options: ClusterNginxOptions): ClusterNginxFiles {
  const { dir } = options;
  const snippets = join(dir, 'picam-cluster.d');
  for (const sub of [snippets, join(dir, 'logs'), join(dir, 'tmp')]) mkdirSync(sub, { recursive: true, mode: 0o700 });
  const accessLogPath = join(dir, 'logs', 'picam-cluster.access.log');
  const failTimeout = options.failTimeoutSeconds ?? 5;
  writeFileSync(
    join(snippets, 'relays.conf'),
    options.relayPorts.map((port) => `server 127.0.0.1:${port} max_fails=1 fail_timeout=${failTimeout}s;\n`).join(''),
  );
  const server = options.tls
    ? [`listen ${options.listen} ssl http2;`, `ssl_certificate ${options.tls.certPath};`, `ssl_certificate_key ${options.tls.keyPath};`]
    : [`listen ${options.listen};`];
  writeFileSync(join(snippets, 'server.conf'), [...server, 'server_name localhost 127.0.0.1;', ''].join('\n'));
  writeFileSync(join(snippets, 'log.conf'), `access_log ${accessLogPath} picam_cluster;\n`);
  if (options.redirectListen !== undefined) {
    writeFileSync(join(snippets, 'http.conf'), `listen ${options.redirectListen};\nserver_name localhost 127.0.0.1;\nset $picam_https_authority $host;\n`);
  }
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxMainConfig(dir, [CLUSTER_NGINX_CONF, ...(options.redirectListen === undefined ? [] : [REDIRECT_CONF])]));
  return { conf, accessLogPath };
}

/** `nginx -t` on a generated config: its status and output. */
export function clusterNginxTest(files: ClusterNginxFiles, dir: string): { status: number | null; output: string } {
  return nginxTest(files.conf, dir);
}

/** `nginx -t` on a config with `prefix` as nginx's prefix directory: its status and output. */
export function nginxTest(conf: string, prefix: string): { status: number | null; output: string } {
  const result = spawnSync('nginx', ['-t', '-p', prefix, '-c', conf], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * nginx's main config for a copy run out of `dir` (pid, temp paths, logs all inside it, one worker,
 * errors to stderr) around the shipped server configs `includes`.
 */
export function nginxMainConfig(dir: string, includes: readonly string[]): string {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const temp = (name: string) => `${name}_temp_path ${join(dir, 'tmp', name)};`;
  return [
    // As root (CI, containers) the workers stay root: the data directory is 0700; nginx's default is nobody.
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    'error_log stderr warn;',
    'events { worker_connections 4096; }',
    'http {',
    `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
    `  access_log ${join(dir, 'logs', 'default.access.log')};`,
    ...includes.map((file) => `  include ${file};`),
    '}',
    '',
  ].join('\n');
}

export interface RunningClusterNginx extends ClusterNginxFiles {
  readonly pid: number;
  /** what nginx printed (warnings, errors) */
  output(): string;
  /** settles when nginx exits, by itself or after stop() */
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/** Writes the config, checks it with nginx -t, runs nginx in the foreground and waits until `port` accepts. */
export async function startClusterNginx(options: ClusterNginxOptions & { port: number }): Promise<RunningClusterNginx> {
  const files = writeClusterNginxConfig(options);
  const test = clusterNginxTest(files, options.dir);
  if (test.status !== 0) throw new Error(`nginx -t failed:\n${test.output}`);
  const child = spawn('nginx', ['-p', options.dir, '-c', files.conf, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text = (text + chunk).slice(-8000)));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!alive()) return;
    // SIGTERM is nginx's fast shutdown; SIGQUIT would wait for every open stream to end.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForTcp(options.port, 10_000, alive);
  } catch (err) {
    await stop();
    throw new Error(`nginx: ${(err as Error).message}\n${text}`);
  }
  return { ...files, pid: child.pid ?? -1, output: () => text, exited, stop };
}

/** Resolves once 127.0.0.1:port accepts a connection; nginx binds it a moment after it starts. */
async function waitForTcp(port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
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
    if (!alive()) throw new Error(`exited before listening on port ${port}`);
    if (Date.now() > deadline) throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
    // No event tells when nginx has bound its port: poll at a short interval.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
