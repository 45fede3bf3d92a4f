import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { findCameraCommand } from './camera-command.ts';

function fakeBin(dir: string, name: string, executable = true): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, executable ? 0o755 : 0o644);
  return path;
}

test('prefers rpicam-vid, falls back to libcamera-vid, null when neither', () => {
  const root = mkdtempSync(join(tmpdir(), 'picam-cmd-'));
  const a = join(root, 'a');
  const b = join(root, 'b');
  const legacy = fakeBin(a, 'libcamera-vid');
  assert.equal(findCameraCommand(undefined, [a, b].join(delimiter)), legacy);
  const modern = fakeBin(b, 'rpicam-vid');
  assert.equal(findCameraCommand(undefined, [a, b].join(delimiter)), modern);
  assert.equal(findCameraCommand(undefined, join(root, 'empty')), null);
});

test('skips files that are not executable', () => {
  const root = mkdtempSync(join(tmpdir(), 'picam-cmd-'));
  fakeBin(join(root, 'x'), 'rpicam-vid', false);
  const ok = fakeBin(join(root, 'y'), 'rpicam-vid');
  assert.equal(findCameraCommand(undefined, [join(root, 'x'), join(root, 'y')].join(delimiter)), ok);
});

test('an override is taken as a path or looked up on PATH', () => {
  const root = mkdtempSync(join(tmpdir(), 'picam-cmd-'));
  const custom = fakeBin(root, 'my-camera');
  assert.equal(findCameraCommand(custom, ''), custom);
  assert.equal(findCameraCommand('my-camera', root), custom);
  assert.equal(findCameraCommand('/nonexistent/camera', root), null);
});
