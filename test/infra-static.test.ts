import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CADDYFILE, INFRA_DIR, caddyEnv, commandExists, nginxTest, writeNginxConfig } from './helpers/proxies.ts';
import { createSelfSignedCert } from './helpers/tls.ts';
import { clusterNginxTest, writeClusterNginxConfig } from '../scripts/cluster-nginx.ts';

/**
 * The shipped infra files, checked by the tools that will read them: systemd-analyze (verify and
 * the offline security score), nginx -t, caddy validate/adapt, and a parse of the Containerfile
 * (Docker is not available here, so the image is never built in CI: only its instructions are checked).
 * A missing tool skips its check loudly (outside CI only, where it is installed by .ci/run).
 */

const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
/** .ci/run installs these; in CI their absence is a failure, elsewhere a loud skip. */
const CI_TOOLS = new Set(['nginx', 'caddy', 'openssl', 'nats-server']);

function skipLoudly(t: TestContext, tool: string, why: string): void {
  const message = `${tool} not available: ${why}`;
  if (IN_CI && CI_TOOLS.has(tool)) assert.fail(`${message} (CI installs it: .ci/run)`);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n`);
  t.skip(message);
}

/** systemd unit files as section -> key -> values (repeated keys accumulate). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `unit line outside a section or without '=': ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

function unitValue(unit: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

const RELAY_UNIT = join(INFRA_DIR, 'systemd', 'picam-relay.service');
const AGENT_UNIT = join(INFRA_DIR, 'systemd', 'picam-agent.service');

describe('systemd units', () => {
  const relay = parseUnit(readFileSync(RELAY_UNIT, 'utf8'));
  const agent = parseUnit(readFileSync(AGENT_UNIT, 'utf8'));

  it('picam-relay.service: dedicated user, state dir as DATA_DIR, env file, bounded restarts, hardening', () => {
    const s = (key: string) => unitValue(relay, 'Service', key);
    assert.equal(s('User'), 'picam');
    assert.equal(s('StateDirectory'), 'picam-relay');
    assert.ok(relay.get('Service')!.get('Environment')!.includes('DATA_DIR=/var/lib/picam-relay'), 'DATA_DIR is the StateDirectory');
    assert.equal(s('EnvironmentFile'), '-/etc/picam-relay/env');
    assert.match(s('ExecStart')!, /^\/usr\/bin\/node \/opt\/picam-relay\/relay-server\/bin\/picam-relay\.js$/);
    assert.equal(s('Restart'), 'on-failure');
    assert.ok(s('RestartSec'));
    assert.ok(unitValue(relay, 'Unit', 'StartLimitIntervalSec') && unitValue(relay, 'Unit', 'StartLimitBurst'), 'start limit set');
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      LockPersonality: 'yes',
      CapabilityBoundingSet: '',
      SystemCallArchitectures: 'native',
      UMask: '0077',
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(s(key), value, key);
    assert.equal(s('MemoryDenyWriteExecute'), undefined, 'MemoryDenyWriteExecute breaks the V8 JIT');
    assert.equal(unitValue(relay, 'Install', 'WantedBy'), 'multi-user.target');
  });

  it('picam-agent.service: its own user in video/audio, its config, camera devices allowed, no PrivateDevices, Restart=always', () => {
    const s = (key: string) => unitValue(agent, 'Service', key);
    assert.equal(s('User'), 'picam-agent');
    const groups = s('SupplementaryGroups')!.split(/\s+/);
    assert.ok(groups.includes('video') && groups.includes('audio'), `groups ${groups.join(' ')}`);
    assert.equal(s('ExecStart'), '/usr/bin/node /opt/picam-agent/picam-agent.mjs run --config /etc/picam-agent/config.json');
    assert.equal(s('Restart'), 'always');
    assert.ok(s('RestartSec'));
    assert.equal(s('PrivateDevices'), undefined, 'PrivateDevices would hide /dev/video*, /dev/media*, /dev/dma_heap');
    assert.equal(s('MemoryDenyWriteExecute'), undefined);
    assert.equal(s('DevicePolicy'), 'closed');
    const allowed = agent.get('Service')!.get('DeviceAllow')!.map((v) => v.split(/\s+/)[0]);
    for (const group of ['char-video4linux', 'char-media', 'char-dma_heap', 'char-vchiq']) assert.ok(allowed.includes(group), `DeviceAllow ${group}`);
    assert.ok(agent.get('Service')!.get('ReadWritePaths')!.includes('/etc/picam-agent'), 'the agent rewrites its config');
    assert.equal(s('NoNewPrivileges'), 'yes');
    assert.equal(s('CapabilityBoundingSet'), '');
  });

  it('systemd-analyze verify: no warnings for either unit', (t) => {
    if (!commandExists('systemd-analyze')) return skipLoudly(t, 'systemd-analyze', 'only the key checks above ran');
    // verify insists ExecStart's binary exists: point it at this Node (CI's may not be /usr/bin/node).
    const dir = mkdtempSync(join(tmpdir(), 'picam-units-'));
    try {
      for (const unit of [RELAY_UNIT, AGENT_UNIT]) {
        const name = unit.split('/').at(-1)!;
        const copy = join(dir, name);
        writeFileSync(copy, readFileSync(unit, 'utf8').replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));
        const result = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
        // Unknown keys are only warnings (exit 0): any line naming our unit is a failure.
        const about = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.includes(name));
        assert.deepEqual(about, [], `systemd-analyze verify ${name}:\n${result.stdout}${result.stderr}`);
        assert.equal(result.status, 0, `systemd-analyze verify ${name}:\n${result.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('systemd-analyze security: relay exposure <= 2.5, agent <= 4.5 (of 10)', (t) => {
    if (!commandExists('systemd-analyze')) return skipLoudly(t, 'systemd-analyze', 'exposure not scored');
    for (const [unit, threshold] of [[RELAY_UNIT, 25], [AGENT_UNIT, 45]] as const) {
      const result = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', `--threshold=${threshold}`, unit], { encoding: 'utf8' });
      const score = /Overall exposure level for \S+: ([\d.]+)/.exec(result.stdout)?.[1];
      assert.equal(result.status, 0, `${unit}: exposure ${score} over ${threshold / 10}\n${result.stdout.slice(-400)}${result.stderr}`);
      assert.ok(score !== undefined, result.stdout.slice(-400));
    }
  });
});

describe('nginx config', () => {
  const conf = readFileSync(join(INFRA_DIR, 'nginx', 'picam-relay.conf'), 'utf8');
  const active = conf
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .join('\n');

  it('streams: HTTP/1.1 with Upgrade, no buffering either way, 1 h timeouts, nodelay, small bodies', () => {
    for (const line of [
      'proxy_http_version 1.1;',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $picam_connection;',
      'proxy_buffering off;',
      'proxy_request_buffering off;',
      'tcp_nodelay on;',
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'proxy_set_header X-Forwarded-Proto $scheme;',
    ]) {
      assert.ok(active.includes(line), `missing: ${line}`);
    }
    for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const seconds = Number(new RegExp(`${directive} (\\d+)s;`).exec(active)?.[1]);
      assert.ok(seconds >= 3600, `${directive} ${seconds}`);
    }
    assert.match(active, /client_max_body_size \d+k;/);
    assert.match(active, /map \$http_upgrade \$picam_connection \{\s*default upgrade;/);
  });

  it('the access log format never logs query strings (tokens)', () => {
    const format = /log_format picam_relay ([^;]+);/.exec(active)?.[1];
    assert.ok(format, 'log_format picam_relay');
    assert.ok(format.includes('$uri'));
    for (const variable of ['$request_uri', '$request ', '$request"', '$args', '$query_string', '$arg_', '$http_referer']) {
      assert.ok(!format.includes(variable), `log format uses ${variable}`);
    }
    assert.doesNotMatch(active, /access_log (?!off)/, 'access_log lives in picam-relay.d/log.conf, with the picam_relay format');
    const shippedLog = readFileSync(join(INFRA_DIR, 'nginx', 'picam-relay.d', 'log.conf'), 'utf8');
    assert.match(shippedLog, /^access_log \S+ picam_relay;$/m);
  });

  it('nginx -t accepts the shipped server block with generated snippets', async (t) => {
    if (!commandExists('nginx')) return skipLoudly(t, 'nginx', 'the config was not parsed by nginx');
    const cert = createSelfSignedCert();
    const { dir, conf: main } = await writeNginxConfig({ relayPort: 8080, cert, httpsPort: 18443, httpPort: 18080 });
    try {
      const result = nginxTest(main, dir);
      assert.equal(result.status, 0, result.output);
      assert.match(result.output, /test is successful/);
      assert.doesNotMatch(result.output, /\[warn\]/, result.output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      cert.remove();
    }
  });
});

describe('Caddyfile', () => {
  function caddy(args: string[], env: NodeJS.ProcessEnv) {
    return spawnSync('caddy', args, { encoding: 'utf8', env, cwd: tmpdir() });
  }

  it('production defaults: automatic HTTPS for PICAM_DOMAIN, relay on 127.0.0.1:8080, flush at once, tokens redacted', (t) => {
    if (!commandExists('caddy')) return skipLoudly(t, 'caddy', 'the Caddyfile was not adapted');
    const home = mkdtempSync(join(tmpdir(), 'picam-caddy-home-'));
    try {
      const result = caddy(['adapt', '--config', CADDYFILE, '--adapter', 'caddyfile'], { PATH: process.env.PATH, HOME: home, PICAM_DOMAIN: 'cams.example.com' });
      assert.equal(result.status, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /"level":"(warn|error)"/, result.stderr);
      const config = JSON.parse(result.stdout);
      const server = config.apps.http.servers.srv0;
      assert.deepEqual(server.listen, [':443']);
      assert.deepEqual(server.routes[0].match[0].host, ['cams.example.com']);
      assert.equal(server.tls_connection_policies, undefined, 'no manual certificate: automatic HTTPS');
      const json = JSON.stringify(server);
      const proxy = /"handler":"reverse_proxy"/.test(json) ? findHandler(server, 'reverse_proxy') : undefined;
      assert.ok(proxy, 'reverse_proxy handler');
      assert.equal(proxy.flush_interval, -1);
      assert.deepEqual(proxy.upstreams, [{ dial: '127.0.0.1:8080' }]);
      assert.equal(config.admin.listen, 'localhost:2019');
      const log = JSON.stringify(config.logging.logs.log0);
      assert.match(log, /"parameter":"token","type":"replace"/);
      assert.match(log, /Authorization":\{"filter":"delete"/);
      assert.match(log, /Sec-Websocket-Protocol":\{"filter":"delete"/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('caddy validate: the same file with the test placeholders (loopback, self-signed cert, admin off)', (t) => {
    if (!commandExists('caddy')) return skipLoudly(t, 'caddy', 'the Caddyfile was not validated');
    const cert = createSelfSignedCert();
    const dir = mkdtempSync(join(tmpdir(), 'picam-caddy-'));
    try {
      const env = caddyEnv({ relayPort: 8080, cert, httpsPort: 18443, httpPort: 18080, dir });
      const result = caddy(['validate', '--config', CADDYFILE, '--adapter', 'caddyfile'], env);
      assert.equal(result.status, 0, result.stderr);
      assert.match(`${result.stdout}${result.stderr}`, /Valid configuration/);
      // A self-signed certificate has no OCSP responder: that warning is the test's, not the file's.
      const complaints = result.stderr.split('\n').filter((l) => /"level":"(warn|error)"/.test(l) && !l.includes('stapling OCSP'));
      assert.deepEqual(complaints, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      cert.remove();
    }
  });

  it('is formatted the way caddy fmt wants (else Caddy warns at every start)', (t) => {
    if (!commandExists('caddy')) return skipLoudly(t, 'caddy', 'formatting not checked');
    const result = caddy(['fmt', CADDYFILE], { PATH: process.env.PATH });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, readFileSync(CADDYFILE, 'utf8'));
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking Caddy's JSON
function findHandler(node: any, name: string): any {
  if (node === null || typeof node !== 'object') return undefined;
  if (node.handler === name) return node;
  for (const value of Object.values(node)) {
    const found = findHandler(value, name);
    if (found) return found;
  }
  return undefined;
}

describe('Containerfile (static: Docker is not available on the test machines)', () => {
  const text = readFileSync(join(INFRA_DIR, 'Containerfile'), 'utf8');
  // Instructions with their continuation lines joined.
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [keyword, ...rest] = l.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
  const all = (keyword: string) => instructions.filter((i) => i.keyword === keyword);
  const finalStage = instructions.slice(instructions.findLastIndex((i) => i.keyword === 'FROM'));
  const inFinal = (keyword: string) => finalStage.filter((i) => i.keyword === keyword);

  it('builds on node:20-bookworm-slim', () => {
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
    assert.equal(base, 'node:20-bookworm-slim');
    for (const from of all('FROM')) assert.match(from.args, /^\$\{NODE_IMAGE\}/);
  });

  it('runs as a non-root user, with DATA_DIR=/data on a volume, port 8080 and a /healthz HEALTHCHECK', () => {
    const user = inFinal('USER').at(-1)?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
    assert.ok(inFinal('VOLUME').some((v) => v.args === '/data'));
    assert.ok(inFinal('ENV').some((e) => /\bDATA_DIR=\/data\b/.test(e.args)));
    assert.ok(inFinal('ENV').some((e) => /\bHOST=0\.0\.0\.0\b/.test(e.args)), 'listens beyond the container loopback');
    assert.ok(inFinal('EXPOSE').some((e) => e.args === '8080'));
    const health = inFinal('HEALTHCHECK').at(-1)?.args;
    assert.ok(health?.includes('/healthz') && health.includes('fetch('), `HEALTHCHECK ${health}`);
  });

  it('runs the relay the way the repository does (the launcher through tsx, so the full npm ci tree)', () => {
    assert.equal(inFinal('ENTRYPOINT').at(-1)?.args, '["node", "relay-server/bin/picam-relay.js"]');
    const launcher = readFileSync(join(INFRA_DIR, '..', 'relay-server', 'bin', 'picam-relay.js'), 'utf8');
    if (/tsx/.test(launcher)) {
      assert.ok(!all('RUN').some((r) => /npm ci[^&]*--omit=dev/.test(r.args) || /npm prune/.test(r.args)), 'tsx is a devDependency: --omit=dev would break the launcher');
    }
    assert.ok(all('RUN').some((r) => /\bnpm ci\b/.test(r.args)));
    // Every workspace manifest is copied before npm ci, or npm ci fails on the lock file.
    const rootManifest = JSON.parse(readFileSync(join(INFRA_DIR, '..', 'package.json'), 'utf8')) as { workspaces: string[] };
    for (const ws of rootManifest.workspaces) assert.ok(all('COPY').some((c) => c.args === `${ws}/package.json ${ws}/`), `COPY ${ws}/package.json`);
  });

  it('the JSON-form HEALTHCHECK command really works against a server answering /healthz', () => {
    const health = inFinal('HEALTHCHECK').at(-1)!.args;
    const argv = JSON.parse(health.slice(health.indexOf('CMD') + 3).trim()) as string[];
    assert.equal(argv[0], 'node');
    // Against nothing listening: exit 1 (unhealthy), not a hang or a crash with 0.
    const result = spawnSync(process.execPath, argv.slice(1), { env: { ...process.env, PORT: '1' }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(result.status, 1, result.stderr);
  });
});

describe('cluster deployment (infra/cluster)', () => {
  const CLUSTER = join(INFRA_DIR, 'cluster');
  const NODE_UNIT = join(CLUSTER, 'systemd', 'picam-relay@.service');
  const node = parseUnit(readFileSync(NODE_UNIT, 'utf8'));
  const single = parseUnit(readFileSync(RELAY_UNIT, 'utf8'));
  const HARDENING = [
    'NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables',
    'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectClock', 'ProtectHostname', 'ProtectProc',
    'RestrictAddressFamilies', 'RestrictNamespaces', 'RestrictRealtime', 'RestrictSUIDSGID', 'RemoveIPC', 'LockPersonality',
    'CapabilityBoundingSet', 'AmbientCapabilities', 'SystemCallArchitectures', 'SystemCallFilter', 'UMask',
  ];

  it('picam-relay@.service: one node per instance, cluster settings from an env file, a DATA_DIR per node, the single unit\'s hardening', () => {
    const s = (key: string) => unitValue(node, 'Service', key);
    assert.equal(s('User'), 'picam');
    assert.equal(s('ExecStart'), unitValue(single, 'Service', 'ExecStart'), 'the same launcher as picam-relay.service');
    const files = node.get('Service')!.get('EnvironmentFile')!;
    assert.ok(files.includes('/etc/picam-relay/cluster.env'), 'DATABASE_URL and NATS_URL, the same on every node (required: no leading -)');
    assert.ok(files.includes('/etc/picam-relay/%i.env'), "this node's PORT (required: several nodes on one host need one each)");
    const env = node.get('Service')!.get('Environment')!;
    assert.ok(env.includes('DATA_DIR=/var/lib/picam-relay/%i'), 'each node its own DATA_DIR (recordings stay node-local)');
    assert.equal(s('StateDirectory'), 'picam-relay/%i');
    const nodeId = env.find((e) => e.startsWith('NODE_ID='));
    assert.ok(nodeId?.includes('%i'), 'NODE_ID names the instance');
    assert.equal(s('Restart'), 'on-failure');
    assert.ok(unitValue(node, 'Unit', 'StartLimitIntervalSec') && unitValue(node, 'Unit', 'StartLimitBurst'), 'start limit set');
    for (const key of HARDENING) assert.equal(s(key), unitValue(single, 'Service', key), key);
    assert.equal(s('MemoryDenyWriteExecute'), undefined, 'MemoryDenyWriteExecute breaks the V8 JIT');
    assert.equal(unitValue(node, 'Install', 'WantedBy'), 'multi-user.target');
    const examples = ['cluster.env.example', 'node.env.example'].map((f) => readFileSync(join(CLUSTER, 'systemd', f), 'utf8')).join('\n');
    for (const key of ['DATABASE_URL', 'NATS_URL', 'PUBLIC_URL', 'TRUST_PROXY', 'PORT', 'NODE_ID']) assert.match(examples, new RegExp(`^#?${key}=`, 'm'), key);
  });

  it('systemd-analyze verify and security (<= 2.5): an instance of picam-relay@.service', (t) => {
    if (!commandExists('systemd-analyze')) return skipLoudly(t, 'systemd-analyze', 'the template unit was not verified');
    const dir = mkdtempSync(join(tmpdir(), 'picam-units-'));
    try {
      const copy = join(dir, 'picam-relay@a.service');
      writeFileSync(copy, readFileSync(NODE_UNIT, 'utf8').replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));
      const verify = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
      const about = `${verify.stdout}${verify.stderr}`.split('\n').filter((l) => l.includes('picam-relay@'));
      assert.deepEqual(about, [], `systemd-analyze verify:\n${verify.stdout}${verify.stderr}`);
      assert.equal(verify.status, 0, verify.stderr);
      const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', '--threshold=25', copy], { encoding: 'utf8' });
      const score = /Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1];
      assert.ok(score !== undefined, security.stdout.slice(-400));
      assert.equal(security.status, 0, `exposure ${score} over 2.5\n${security.stdout.slice(-400)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const activeLines = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
      .join('\n');
  const nginxConf = activeLines(join(CLUSTER, 'nginx', 'picam-cluster.conf'));

  it('nginx: least_conn over the nodes, no stickiness, WebSocket upgrade, 1 h on the sockets, the next node on a failed connect', () => {
    const upstream = /upstream picam_relays \{([^}]*)\}/.exec(nginxConf)?.[1];
    assert.ok(upstream, 'upstream picam_relays');
    assert.match(upstream, /^\s*least_conn;/, 'least_conn, before keepalive');
    assert.match(upstream, /include picam-cluster\.d\/relays\.conf;\s*keepalive \d+;/);
    for (const sticky of ['ip_hash', 'hash ', 'sticky', 'random']) assert.ok(!nginxConf.includes(sticky), `no ${sticky}: any node serves any camera`);
    for (const line of [
      'proxy_http_version 1.1;',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $picam_cluster_connection;',
      'proxy_buffering off;',
      'proxy_request_buffering off;',
      'tcp_nodelay on;',
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'proxy_set_header X-Forwarded-Proto $scheme;',
      'proxy_next_upstream error timeout;',
    ]) {
      assert.ok(nginxConf.includes(line), `missing: ${line}`);
    }
    assert.match(nginxConf, /map \$http_upgrade \$picam_cluster_connection \{\s*default upgrade;/);
    for (const path of ['location = /api/agent {', 'location ~ ^/api/cameras/[^/]+/live$ {']) {
      const start = nginxConf.indexOf(path);
      assert.ok(start >= 0, path);
      const block = nginxConf.slice(start, nginxConf.indexOf('}', start));
      assert.match(block, /proxy_pass http:\/\/picam_relays;/, path);
      for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
        const seconds = Number(new RegExp(`${directive} (\\d+)s;`).exec(block)?.[1]);
        assert.ok(seconds >= 3600, `${path} ${directive} ${seconds}`);
      }
    }
    // The relay's own socket paths are the ones the long timeouts cover.
    const liveRoute = /^\/api\/cameras\/[^/]+\/live$/;
    assert.ok(liveRoute.test('/api/cameras/abc123/live') && !liveRoute.test('/api/cameras/abc123/recordings'));
    const connect = Number(/proxy_connect_timeout (\d+)s;/.exec(nginxConf)?.[1]);
    assert.ok(connect > 0 && connect <= 3, `proxy_connect_timeout ${connect}s: a dead node must not hold a reconnect for long`);
    const relays = activeLines(join(CLUSTER, 'nginx', 'picam-cluster.d', 'relays.conf'));
    const servers = relays.split('\n').filter((l) => l.startsWith('server '));
    assert.ok(servers.length >= 2, 'the example lists several nodes');
    for (const server of servers) assert.match(server, /max_fails=1 fail_timeout=\d+s;$/, server);
  });

  it('nginx: the access log leaves query strings (tokens) out and names the node', () => {
    const format = /log_format picam_cluster ([^;]+);/.exec(nginxConf)?.[1];
    assert.ok(format, 'log_format picam_cluster');
    assert.ok(format.includes('$uri') && format.includes('$upstream_addr'), `log_format ${format}`);
    for (const variable of ['$request_uri', '$request ', '$request"', '$args', '$query_string', '$arg_', '$http_referer']) {
      assert.ok(!format.includes(variable), `log format uses ${variable}`);
    }
    assert.doesNotMatch(nginxConf, /access_log (?!off)/, 'access_log lives in picam-cluster.d/log.conf');
    assert.match(readFileSync(join(CLUSTER, 'nginx', 'picam-cluster.d', 'log.conf'), 'utf8'), /^access_log \S+ picam_cluster;$/m);
    assert.match(nginxConf, /location = \/metrics \{\s*return 404;/);
  });

  it('nginx -t: the TLS front with the redirect and the shipped relays.conf, and the plain-HTTP front `npm run cluster` runs', async (t) => {
    if (!commandExists('nginx')) return skipLoudly(t, 'nginx', 'the cluster config was not parsed by nginx');
    const cert = createSelfSignedCert();
    const dirs: string[] = [];
    try {
      const tlsDir = mkdtempSync(join(tmpdir(), 'picam-cluster-nginx-'));
      dirs.push(tlsDir);
      const tlsFiles = writeClusterNginxConfig({ dir: tlsDir, listen: '127.0.0.1:18443', relayPorts: [8081], tls: cert, redirectListen: '127.0.0.1:18080' });
      copyFileSync(join(CLUSTER, 'nginx', 'picam-cluster.d', 'relays.conf'), join(tlsDir, 'picam-cluster.d', 'relays.conf'));
      const plainDir = mkdtempSync(join(tmpdir(), 'picam-cluster-nginx-'));
      dirs.push(plainDir);
      const plainFiles = writeClusterNginxConfig({ dir: plainDir, listen: '127.0.0.1:18081', relayPorts: [8081, 8082, 8083] });
      for (const [files, dir] of [[tlsFiles, tlsDir], [plainFiles, plainDir]] as const) {
        const result = clusterNginxTest(files, dir);
        assert.equal(result.status, 0, result.output);
        assert.match(result.output, /test is successful/);
        assert.doesNotMatch(result.output, /\[warn\]/, result.output);
      }
    } finally {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      cert.remove();
    }
  });

  it('nats.conf: loopback by default, 8 MB payloads (a GOP in one reply), no JetStream; nats-server -t accepts it', (t) => {
    const file = join(CLUSTER, 'nats.conf');
    const conf = activeLines(file);
    assert.match(conf, /^host: 127\.0\.0\.1$/m, 'loopback unless the operator names a private address');
    assert.match(conf, /^max_payload: 8MB$/m);
    assert.doesNotMatch(conf, /jetstream/i, 'core NATS only: nothing stored');
    assert.match(conf, /^http: 127\.0\.0\.1:\d+$/m, 'monitoring on loopback only');
    // The tests' nats-server (test/helpers/nats.ts) runs with the same payload limit.
    assert.match(readFileSync(join(INFRA_DIR, '..', 'test', 'helpers', 'nats.ts'), 'utf8'), /max_payload: 8MB/);
    if (!commandExists('nats-server')) return skipLoudly(t, 'nats-server', 'nats.conf was not checked by nats-server');
    const result = spawnSync('nats-server', ['-t', '-c', file], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(`${result.stdout}${result.stderr}`, /is valid/);
  });
});
