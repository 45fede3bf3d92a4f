import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { INFRA_DIR, commandExists } from './helpers/proxies.ts';

/**
 * infra/install-agent.sh without a Pi and without touching the machine: --dry-run (prints every
 * step, changes nothing), --prefix (files under a temp root; user, chown and systemctl skipped),
 * and its refusals (old Node, no camera tools, bad flags). A real enrollment through it runs in
 * test/proxy-nginx.test.ts, against a relay behind nginx.
 */

const SCRIPT = join(INFRA_DIR, 'install-agent.sh');
const root = mkdtempSync(join(tmpdir(), 'picam-install-'));
after(() => rmSync(root, { recursive: true, force: true }));

const stubAgent = join(root, 'picam-agent.mjs');
writeFileSync(stubAgent, '// stand-in bundle\n');

// A bin dir with only node in it: PATH = that + the system dirs, so no camera tool unless added.
const nodeOnly = join(root, 'node-only');
mkdirSync(nodeOnly);
symlinkSync(process.execPath, join(nodeOnly, 'node'));
// The script only looks the camera tools up; stand-ins that would fail if run are enough.
const FAKE_CAMERA_DIR = join(root, 'camera-tools');
mkdirSync(FAKE_CAMERA_DIR);
for (const name of ['rpicam-vid', 'libcamera-vid']) {
  writeFileSync(join(FAKE_CAMERA_DIR, name), '#!/bin/sh\nexit 99\n');
  chmodSync(join(FAKE_CAMERA_DIR, name), 0o755);
}
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function install(args: string[], pathDirs: string[] = [FAKE_CAMERA_DIR, nodeOnly], input = '') {
  const result = spawnSync('bash', [SCRIPT, ...args], {
    input,
    encoding: 'utf8',
    env: { PATH: [...pathDirs, SYSTEM_PATH].join(':'), HOME: root, LANG: 'C' },
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, all: `${result.stdout}${result.stderr}` };
}

describe('install-agent.sh', () => {
  it('passes shellcheck and bash -n', (t) => {
    const syntax = spawnSync('bash', ['-n', SCRIPT], { encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
    if (!commandExists('shellcheck')) {
      process.stderr.write('\n*** SKIPPED: shellcheck not installed (apt-get install -y shellcheck); only bash -n ran ***\n');
      t.skip('shellcheck not installed');
      return;
    }
    const result = spawnSync('shellcheck', ['--severity=style', SCRIPT], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout);
  });

  it('the token comes from stdin (--token -) or a file (--token-file) and is passed on stdin, never printed', () => {
    const tokenFile = join(root, 'token');
    writeFileSync(tokenFile, 'file-token-456\n', { mode: 0o600 });
    const fromStdin = install(['--dry-run', '--relay', 'https://cams.example.com', '--token', '-', '--agent-file', stubAgent], undefined, 'stdin-token-123\n');
    const fromFile = install(['--dry-run', '--relay', 'https://cams.example.com', '--token-file', tokenFile, '--agent-file', stubAgent]);
    for (const [r, secret] of [[fromStdin, 'stdin-token-123'], [fromFile, 'file-token-456']] as const) {
      assert.equal(r.status, 0, r.all);
      assert.ok(!r.all.includes(secret), 'the token is never printed');
      assert.match(r.stdout, /enroll --relay https:\/\/cams\.example\.com --token - --config \S+ \(token on standard input\)/);
    }
  });

  it('--dry-run prints every step in order, hides the token, and changes nothing', () => {
    const prefix = join(root, 'dry-run-target');
    const r = install(['--dry-run', '--prefix', prefix, '--relay', 'https://cams.example.com', '--token', 'sekrit-token-123', '--agent-file', stubAgent]);
    assert.equal(r.status, 0, r.all);
    assert.ok(!r.all.includes('sekrit-token-123'), 'the enrollment token is never printed');
    assert.match(r.stdout, /^node: \S+ \(2\d\.\d+\.\d+\)$/m);
    assert.match(r.stdout, /^camera: \S+\/rpicam-vid$/m);
    const steps = [
      /skipped \(--prefix\): useradd --system --user-group .* picam-agent|user picam-agent exists/,
      /would run: install -m 0644 \S+picam-agent\.mjs \S+\/opt\/picam-agent\/picam-agent\.mjs/,
      /would run: install -d -m 0700 \S+\/etc\/picam-agent/,
      /would run: \S*node \S+\/opt\/picam-agent\/picam-agent\.mjs enroll --relay https:\/\/cams\.example\.com --token - --config \S+\/etc\/picam-agent\/config\.json \(token on standard input\)/,
      /would run: chmod 0600 \S+\/etc\/picam-agent\/config\.json/,
      /would write: \S+\/etc\/systemd\/system\/picam-agent\.service/,
      /skipped \(--prefix\): systemctl enable picam-agent\.service/,
      /skipped \(--prefix\): systemctl restart picam-agent\.service/,
      /dry run: nothing was changed/,
    ];
    let from = 0;
    for (const step of steps) {
      const match = step.exec(r.stdout.slice(from));
      assert.ok(match, `step ${step} (in order) in:\n${r.stdout}`);
      from += match.index + match[0].length;
    }
    assert.equal(existsSync(prefix), false, '--dry-run created the prefix');
  });

  it('--dry-run without --prefix plans the real thing: user, groups, /opt, /etc, systemctl', () => {
    const r = install(['--dry-run', '--relay', 'https://cams.example.com', '--token', 'tok', '--agent-file', stubAgent]);
    assert.equal(r.status, 0, r.all);
    assert.match(r.stdout, /would run: install -m 0644 \S+ \/opt\/picam-agent\/picam-agent\.mjs$/m);
    assert.match(r.stdout, /--config \/etc\/picam-agent\/config\.json \(token on standard input\)$/m);
    assert.match(r.stdout, /would run: chown -R picam-agent:picam-agent \/etc\/picam-agent$/m);
    assert.match(r.stdout, /would write: \/etc\/systemd\/system\/picam-agent\.service/);
    assert.match(r.stdout, /would run: systemctl daemon-reload$/m);
    assert.match(r.stdout, /would run: systemctl enable picam-agent\.service$/m);
  });

  it('refuses without a camera tool, with an old Node, and with bad flags; each with one clear line', () => {
    const base = ['--dry-run', '--relay', 'https://cams.example.com', '--token', 'tok', '--agent-file', stubAgent];
    const noCamera = install(base, [nodeOnly]);
    assert.equal(noCamera.status, 1);
    assert.match(noCamera.stderr, /^install-agent: neither rpicam-vid nor libcamera-vid is on PATH/m);

    const oldNode = join(root, 'old-node');
    mkdirSync(oldNode, { recursive: true });
    writeFileSync(join(oldNode, 'node'), '#!/bin/sh\necho 18.19.1\n');
    chmodSync(join(oldNode, 'node'), 0o755);
    const tooOld = install(base, [oldNode, FAKE_CAMERA_DIR]);
    assert.equal(tooOld.status, 1);
    assert.match(tooOld.stderr, /Node\.js >= 20 is required, found 18\.19\.1/);

    const libcameraOnly = join(root, 'libcamera-only');
    mkdirSync(libcameraOnly, { recursive: true });
    symlinkSync(join(FAKE_CAMERA_DIR, 'libcamera-vid'), join(libcameraOnly, 'libcamera-vid'));
    const older = install(base, [libcameraOnly, nodeOnly]);
    assert.equal(older.status, 0, older.all);
    assert.match(older.stdout, /^camera: \S+\/libcamera-vid$/m);

    const cases: Array<[string[], RegExp]> = [
      [['--dry-run', '--token', 't', '--agent-file', stubAgent], /--relay URL is required/],
      [['--dry-run', '--relay', 'ftp://x', '--token', 't', '--agent-file', stubAgent], /--relay must start with https:\/\//],
      [['--dry-run', '--relay', 'https://x.example', '--agent-file', stubAgent], /--token - \(stdin\) or --token-file PATH is required/],
      [['--dry-run', '--relay', 'https://x.example', '--token', '-', '--agent-file', stubAgent], /no enrollment token on standard input/],
      [['--dry-run', '--relay', 'https://x.example', '--token-file', join(root, 'no-token'), '--agent-file', stubAgent], /cannot read it/],
      [['--dry-run', '--relay', 'https://x.example', '--token', 't', '--token-file', stubAgent, '--agent-file', stubAgent], /not both/],
      [['--dry-run', '--relay', 'https://x.example', '--token', 't', '--agent-file', join(root, 'missing.mjs')], /no such file/],
      [['--dry-run', '--bogus'], /unknown option: --bogus/],
    ];
    for (const [args, message] of cases) {
      const r = install(args);
      assert.equal(r.status, 1, `${args.join(' ')}:\n${r.all}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('--prefix upgrade of an enrolled Pi: installs the agent, a picam-agent command and the unit, keeps the credential', () => {
    const prefix = join(root, 'pi');
    const configDir = join(prefix, 'etc/picam-agent');
    mkdirSync(configDir, { recursive: true });
    const config = JSON.stringify({ relay: 'https://cams.example.com', cameraId: 'c1', credential: 'device-credential' });
    writeFileSync(join(configDir, 'config.json'), config, { mode: 0o644 });
    for (let round = 0; round < 2; round++) {
      const r = install(['--prefix', prefix, '--relay', 'https://cams.example.com', '--agent-file', stubAgent]);
      assert.equal(r.status, 0, r.all);
      assert.match(r.stdout, /keeping the existing device credential/);
      assert.match(r.stdout, /skipped \(--prefix\): systemctl daemon-reload/);
    }
    assert.equal(readFileSync(join(prefix, 'opt/picam-agent/picam-agent.mjs'), 'utf8'), '// stand-in bundle\n');
    assert.equal(readFileSync(join(configDir, 'config.json'), 'utf8'), config, 'credential kept');
    assert.equal(statSync(join(configDir, 'config.json')).mode & 0o777, 0o600);
    assert.equal(statSync(configDir).mode & 0o777, 0o700);
    const wrapper = readFileSync(join(prefix, 'usr/local/bin/picam-agent'), 'utf8');
    assert.match(wrapper, /^exec \/\S+ \/opt\/picam-agent\/picam-agent\.mjs "\$@"$/m);
    assert.equal(statSync(join(prefix, 'usr/local/bin/picam-agent')).mode & 0o111, 0o111);
    const unit = readFileSync(join(prefix, 'etc/systemd/system/picam-agent.service'), 'utf8');
    const shipped = readFileSync(join(INFRA_DIR, 'systemd/picam-agent.service'), 'utf8');
    // The node this machine has goes into ExecStart; nothing else differs from the shipped unit.
    const node = /^exec (\S+) /m.exec(wrapper)![1]!;
    assert.equal(unit, shipped.replace('ExecStart=/usr/bin/node ', `ExecStart=${node} `));
    assert.ok(!existsSync(join(prefix, 'opt/picam-agent/picam-agent.mjs.tmp')));
  });
});
