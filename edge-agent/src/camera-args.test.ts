import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { buildCameraArgs } from './camera-args.ts';

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
}

test('defaults: streaming flags always present, settings mirrored as rpicam-vid flags', () => {
  const args = buildCameraArgs(DEFAULT_CAMERA_SETTINGS);
  for (const flag of ['--inline', '--flush', '--nopreview']) assert.ok(args.includes(flag), flag);
  assert.equal(valueOf(args, '-t'), '0');
  assert.equal(valueOf(args, '-o'), '-');
  assert.equal(valueOf(args, '--width'), '1280');
  assert.equal(valueOf(args, '--height'), '720');
  assert.equal(valueOf(args, '--framerate'), '30');
  assert.equal(valueOf(args, '--bitrate'), '2000000');
  assert.equal(valueOf(args, '--intra'), '30');
  assert.equal(valueOf(args, '--profile'), 'high');
  for (const flag of ['--rotation', '--hflip', '--vflip', '--level', '--denoise', '--codec', '--low-latency']) {
    assert.ok(!args.includes(flag), `${flag} should be absent`);
  }
});

test('orientation and extras appear only when set', () => {
  const args = buildCameraArgs(
    { ...DEFAULT_CAMERA_SETTINGS, rotation: 180, hflip: true, vflip: true, profile: 'baseline' },
    { level: '4.2', denoise: 'cdn_off' },
  );
  assert.equal(valueOf(args, '--rotation'), '180');
  assert.ok(args.includes('--hflip'));
  assert.ok(args.includes('--vflip'));
  assert.equal(valueOf(args, '--level'), '4.2');
  assert.equal(valueOf(args, '--denoise'), 'cdn_off');
  assert.equal(valueOf(args, '--profile'), 'baseline');
});

test('a Pi 5 gets the libav encoder in low-latency mode', () => {
  const args = buildCameraArgs(DEFAULT_CAMERA_SETTINGS, {}, true);
  assert.equal(valueOf(args, '--codec'), 'libav');
  assert.equal(valueOf(args, '--libav-format'), 'h264');
  assert.ok(args.includes('--low-latency'));
});
