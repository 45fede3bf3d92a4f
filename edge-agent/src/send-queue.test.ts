import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendQueue, Track } from './send-queue.ts';

test('a fresh queue waits for the first keyframe', () => {
  const q = new SendQueue(1000);
  assert.equal(q.admit(Track.Video, false, 10, 0), false);
  assert.equal(q.admit(Track.Video, true, 10, 0), true);
  assert.equal(q.admit(Track.Video, false, 10, 0), true);
  assert.equal(q.dropped, 1);
});

test('over the budget: drop that frame and everything up to the next keyframe', () => {
  const q = new SendQueue(1000);
  assert.equal(q.admit(Track.Video, true, 100, 0), true);
  assert.equal(q.admit(Track.Video, false, 100, 950), false);
  // The socket drained, but P-frames without their reference are useless: still dropping.
  assert.equal(q.admit(Track.Video, false, 100, 0), false);
  assert.equal(q.admit(Track.Video, false, 100, 0), false);
  assert.equal(q.admit(Track.Video, true, 100, 0), true);
  assert.equal(q.admit(Track.Video, false, 100, 0), true);
  assert.equal(q.dropped, 3);
});

test('a keyframe bigger than the budget still passes an empty socket', () => {
  const q = new SendQueue(1000);
  assert.equal(q.admit(Track.Video, true, 5000, 0), true);
  assert.equal(q.admit(Track.Video, true, 5000, 5000), false);
});

test('tracks are independent; audio drops frame by frame', () => {
  const q = new SendQueue(1000);
  assert.equal(q.admit(Track.Video, true, 100, 0), true);
  assert.equal(q.admit(Track.Audio, true, 100, 990), false);
  assert.equal(q.admit(Track.Audio, true, 100, 0), true);
  assert.equal(q.admit(Track.Video, false, 100, 0), true);
});

test('resync waits for a keyframe again', () => {
  const q = new SendQueue(1000);
  q.admit(Track.Video, true, 10, 0);
  q.resync();
  assert.equal(q.admit(Track.Video, false, 10, 0), false);
  assert.equal(q.admit(Track.Video, true, 10, 0), true);
});
