import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePath, type PathChoice } from '../src/player/path-choice.ts';

const both = { webcodecs: true, mse: true };
const choice = (over: Partial<PathChoice>): PathChoice => ({ available: both, preference: 'auto', failed: null, audioNeedsMse: false, mseAudio: true, ...over });

test('path choice: WebCodecs when the browser has it, MSE when asked for or when it is all there is', () => {
  assert.equal(choosePath(choice({})), 'webcodecs');
  assert.equal(choosePath(choice({ preference: 'mse' })), 'mse');
  assert.equal(choosePath(choice({ preference: 'webcodecs' })), 'webcodecs');
  assert.equal(choosePath(choice({ available: { webcodecs: false, mse: true } })), 'mse', 'Safari 15: no VideoDecoder');
  assert.equal(choosePath(choice({ available: { webcodecs: true, mse: false }, preference: 'mse' })), 'webcodecs', 'asked for MSE where there is none');
  assert.equal(choosePath(choice({ available: { webcodecs: false, mse: false } })), null, 'neither: the player says unsupported');
});

test('path choice: sound WebCodecs cannot decode goes to MSE on auto, unless MSE may not play it', () => {
  assert.equal(choosePath(choice({ audioNeedsMse: true })), 'mse');
  assert.equal(choosePath(choice({ audioNeedsMse: true, preference: 'webcodecs' })), 'webcodecs', 'an explicit choice wins');
  assert.equal(choosePath(choice({ audioNeedsMse: true, mseAudio: false })), 'webcodecs');
});

test('path choice: a path that failed is not chosen again, even when preferred', () => {
  assert.equal(choosePath(choice({ failed: 'webcodecs' })), 'mse');
  assert.equal(choosePath(choice({ failed: 'mse', preference: 'mse' })), 'webcodecs');
  assert.equal(choosePath(choice({ failed: 'mse', available: { webcodecs: false, mse: true } })), null);
});
