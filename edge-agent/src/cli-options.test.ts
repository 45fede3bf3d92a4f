import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { bitrate, decimal, integer, rotation } from './cli-options.ts';

test('bitrate accepts rpicam-vid spellings', () => {
  assert.equal(bitrate('2000000'), 2_000_000);
  assert.equal(bitrate('2mbps'), 2_000_000);
  assert.equal(bitrate('1.5M'), 1_500_000);
  assert.equal(bitrate('500kbps'), 500_000);
  assert.throws(() => bitrate('fast'), InvalidArgumentError);
});

test('numbers and rotation', () => {
  assert.equal(integer('1280'), 1280);
  assert.throws(() => integer('12.5'), InvalidArgumentError);
  assert.throws(() => integer('-1'), InvalidArgumentError);
  assert.equal(decimal('29.97'), 29.97);
  assert.throws(() => decimal('0'), InvalidArgumentError);
  assert.equal(rotation('180'), 180);
  assert.throws(() => rotation('90'), InvalidArgumentError);
});
