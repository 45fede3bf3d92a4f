import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPi5Family, readBoardModel } from './pi-model.ts';

test('recognises the Pi 5 family and nothing else', () => {
  assert.equal(isPi5Family('Raspberry Pi 5 Model B Rev 1.0'), true);
  assert.equal(isPi5Family('Raspberry Pi 500 Rev 1.0'), true);
  assert.equal(isPi5Family('Raspberry Pi Compute Module 5 Rev 1.0'), true);
  assert.equal(isPi5Family('Raspberry Pi 4 Model B Rev 1.4'), false);
  assert.equal(isPi5Family('Raspberry Pi Zero 2 W Rev 1.0'), false);
  assert.equal(isPi5Family('Raspberry Pi 3 Model B Plus Rev 1.3'), false);
  assert.equal(isPi5Family(null), false);
});

test('reads the NUL-terminated device-tree string, null when absent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'picam-model-'));
  const path = join(dir, 'model');
  writeFileSync(path, 'Raspberry Pi 5 Model B Rev 1.0\0');
  assert.equal(readBoardModel(path), 'Raspberry Pi 5 Model B Rev 1.0');
  assert.equal(readBoardModel(join(dir, 'missing')), null);
});
