import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyframeHold, type HeldKind } from '../src/player/keyframe-hold.ts';

/** 'K3' keyframe 3, 'd4' delta 4, anything else (a text message, 'open') is not a frame. */
const kindOf = (item: string): HeldKind => (item.startsWith('K') ? 'keyframe' : item.startsWith('d') ? 'frame' : 'other');

test('keyframe hold: a keyframe drops the frames before it; other items stay, in order', () => {
  const hold = new KeyframeHold(kindOf);
  const dropped = ['open', 'K0', 'd1', '{init}', 'd2', 'K3', 'd4'].map((item) => hold.push(item));
  assert.deepEqual(dropped, [0, 0, 0, 0, 0, 3, 0], 'K3 dropped K0, d1 and d2');
  assert.equal(hold.frameCount, 2);
  assert.deepEqual(hold.take(), ['open', '{init}', 'K3', 'd4']);
  assert.deepEqual(hold.take(), [], 'take empties it');
});

test('keyframe hold: frames before the first keyframe are held (the consumer decides what to do with them)', () => {
  const hold = new KeyframeHold(kindOf);
  hold.push('d7');
  hold.push('d8');
  assert.deepEqual(hold.take(), ['d7', 'd8']);
});

test('keyframe hold: past its limit it drops every frame and refuses more until the next keyframe', () => {
  const hold = new KeyframeHold(kindOf, 3);
  for (const item of ['K0', 'd1', '{state}', 'd2']) assert.equal(hold.push(item), 0);
  assert.equal(hold.push('d3'), 4, 'the three held and the one refused');
  assert.equal(hold.frameCount, 0);
  assert.equal(hold.push('d4'), 1, 'a delta without its keyframe is refused');
  assert.equal(hold.push('{expiring}'), 0, 'other items are still kept');
  assert.equal(hold.push('K5'), 0);
  assert.equal(hold.push('d6'), 0);
  assert.deepEqual(hold.take(), ['{state}', '{expiring}', 'K5', 'd6']);
});

test('keyframe hold: clear drops everything, says how many frames, and takes any frame afterwards', () => {
  const hold = new KeyframeHold(kindOf, 1);
  hold.push('K0');
  hold.push('d1'); // over the limit: now waiting for a keyframe
  hold.push('open');
  assert.equal(hold.clear(), 0);
  assert.deepEqual(hold.take(), []);
  hold.push('K2');
  assert.equal(hold.clear(), 1);
  assert.equal(hold.push('d3'), 0, 'a cleared hold is not waiting for a keyframe');
  assert.deepEqual(hold.take(), ['d3']);
});
