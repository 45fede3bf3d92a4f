import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import {
  DEFAULT_TUNING,
  defaultConfigPath,
  effectiveSettings,
  mergeSettings,
  parseTuning,
  readConfigFile,
  resolveRunConfig,
  writeConfigFile,
  type AgentConfigFile,
} from './config.ts';
import { AgentError } from './errors.ts';

const file: AgentConfigFile = {
  relay: 'https://relay.example.com',
  cameraId: 'cam1',
  credential: 'secret-credential',
  settings: { ...DEFAULT_CAMERA_SETTINGS, width: 640, height: 480 },
};

test('config path: /etc for root, ~/.config for everyone else', () => {
  assert.equal(defaultConfigPath(0, '/root'), '/etc/picam-agent/config.json');
  assert.equal(defaultConfigPath(1000, '/home/pi'), '/home/pi/.config/picam-agent/config.json');
});

test('writes 0600 in a 0700 directory, atomically, and reads it back', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'picam-config-')), 'nested', 'picam-agent');
  const path = join(dir, 'config.json');
  writeConfigFile(path, file);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(readConfigFile(path), file);
  // Rewriting keeps 0600 and leaves no temporary file behind.
  writeConfigFile(path, { ...file, settings: { ...file.settings, width: 1920, height: 1080 } });
  assert.equal(readConfigFile(path)?.settings.width, 1920);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('a missing file is null; a broken one is a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'picam-config-'));
  assert.equal(readConfigFile(join(dir, 'none.json')), null);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"relay":');
  assert.throws(() => readConfigFile(broken), /not valid JSON/);
  writeFileSync(broken, JSON.stringify({ relay: 'https://r', cameraId: 'c' }));
  assert.throws(() => readConfigFile(broken), /"credential" is missing/);
  assert.match(readFileSync(broken, 'utf8'), /cameraId/);
});

test('settings merge field by field, invalid values fall back', () => {
  const merged = mergeSettings(DEFAULT_CAMERA_SETTINGS, { width: 640, height: 'tall', rotation: 90, bogus: 1 });
  assert.equal(merged.width, 640);
  assert.equal(merged.height, DEFAULT_CAMERA_SETTINGS.height);
  assert.equal(merged.rotation, 0);
  assert.ok(!('bogus' in merged));
});

test('run config: file, then env, then flags; flags pin settings', () => {
  const fromFile = resolveRunConfig({}, {}, file, '/x/config.json');
  assert.equal(fromFile.relay, 'https://relay.example.com');
  assert.equal(fromFile.credential, 'secret-credential');
  assert.deepEqual(fromFile.pinned, {});
  assert.equal(fromFile.configFileExists, true);

  const env = { PICAM_RELAY: 'http://10.0.0.1:8080/', PICAM_DEVICE_TOKEN: 'env-credential' };
  const fromEnv = resolveRunConfig({}, env, file, '/x/config.json');
  assert.equal(fromEnv.relay, 'http://10.0.0.1:8080');
  assert.equal(fromEnv.credential, 'env-credential');

  const fromFlags = resolveRunConfig({ relay: 'https://other.example.com', width: 1920, height: 1080, hflip: true }, env, file, '/x');
  assert.equal(fromFlags.relay, 'https://other.example.com');
  assert.deepEqual(fromFlags.pinned, { width: 1920, height: 1080, hflip: true });
  const effective = effectiveSettings({ ...fromFlags.settings, width: 320, bitrate: 1_000_000 }, fromFlags.pinned);
  assert.equal(effective.width, 1920);
  assert.equal(effective.bitrate, 1_000_000);
});

test('run config: env alone is enough; nothing at all is a clear error', () => {
  const env = { PICAM_RELAY: 'http://127.0.0.1:1', PICAM_DEVICE_TOKEN: 't' };
  const config = resolveRunConfig({}, env, null, '/x/config.json');
  assert.equal(config.configFileExists, false);
  assert.deepEqual(config.settings, DEFAULT_CAMERA_SETTINGS);
  assert.throws(() => resolveRunConfig({}, {}, null, '/x/config.json'), (e: unknown) => e instanceof AgentError && e.code === 'ERR_CONFIG_MISSING' && /enroll/.test(e.message));
});

test('run config: out-of-range flags are refused by the protocol schema', () => {
  assert.throws(() => resolveRunConfig({ width: 10 }, {}, file, '/x'), /--width/);
  assert.throws(() => resolveRunConfig({ logLevel: 'loud' }, {}, file, '/x'), /--log-level/);
});

test('tuning: key=value pairs over the defaults, unknown keys refused', () => {
  const t = parseTuning('reconnectMaxMs=2000, stallTimeoutMs=1000');
  assert.equal(t.reconnectMaxMs, 2000);
  assert.equal(t.stallTimeoutMs, 1000);
  assert.equal(t.demandGraceMs, DEFAULT_TUNING.demandGraceMs);
  assert.deepEqual(parseTuning(undefined), DEFAULT_TUNING);
  assert.throws(() => parseTuning('nope=1'), /unknown tuning key/);
  assert.throws(() => parseTuning('stallTimeoutMs=-1'), /non-negative/);
  assert.throws(() => parseTuning('reconnectMinMs=10,reconnectMaxMs=5'), /reconnectMinMs/);
});

test('backfill: 64 MiB by default, the file\'s "backfill.mb", then --backfill-mb; 0 turns it off; nonsense refused', () => {
  assert.deepEqual(resolveRunConfig({}, {}, file, '/x').backfill, { mb: 64, dir: null, dirMb: 1024 });
  const path = join(mkdtempSync(join(tmpdir(), 'picam-config-')), 'config.json');
  writeFileSync(path, JSON.stringify({ ...file, backfill: { mb: 16 } }));
  const fromFile = readConfigFile(path)!;
  assert.deepEqual(resolveRunConfig({}, {}, fromFile, path).backfill, { mb: 16, dir: null, dirMb: 1024 });
  assert.deepEqual(resolveRunConfig({ backfillMb: 0 }, {}, fromFile, path).backfill, { mb: 0, dir: null, dirMb: 1024 });
  assert.deepEqual(resolveRunConfig({ backfillDir: '/mnt/usb/picam', backfillDirMb: 500 }, {}, fromFile, path).backfill, { mb: 16, dir: '/mnt/usb/picam', dirMb: 500 });
  assert.throws(() => resolveRunConfig({ backfillMb: 5000 }, {}, file, '/x'), /--backfill-mb/);
  assert.throws(() => resolveRunConfig({ backfillDir: 'relative/dir' }, {}, file, '/x'), /--backfill-dir must be an absolute path/);
  writeFileSync(path, JSON.stringify({ ...file, backfill: { mb: -1 } }));
  assert.throws(() => readConfigFile(path), (e: unknown) => e instanceof AgentError && /backfill\.mb/.test(e.message));
});
