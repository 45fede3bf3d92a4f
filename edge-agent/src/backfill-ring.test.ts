import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKFILL_MAX_LEAD_US, Track } from '@picam/protocol';
import { BackfillRing } from './backfill-ring.ts';

/** A frame whose bytes say which one it is, so a test can tell an overwritten frame from a kept one. */
function frameBytes(n: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (n * 31 + i) & 0xff;
  return data;
}

/** 30 fps video with a keyframe every `gop` frames, starting at t0; returns the frames written. */
function writeVideo(ring: BackfillRing, count: number, options: { gop?: number; bytes?: number; keyBytes?: number; startIndex?: number } = {}) {
  const { gop = 10, bytes = 1000, keyBytes = 4000, startIndex = 0 } = options;
  const written: Array<{ n: number; keyframe: boolean; captureTimeUs: number; data: Uint8Array }> = [];
  for (let n = startIndex; n < startIndex + count; n++) {
    const keyframe = n % gop === 0;
    const frame = { n, keyframe, captureTimeUs: 1_000_000_000 + n * 33_333, data: frameBytes(n, keyframe ? keyBytes : bytes) };
    ring.append(Track.Video, keyframe, frame.captureTimeUs, frame.data);
    written.push(frame);
  }
  return written;
}

function heldFrames(ring: BackfillRing) {
  const frames = [];
  for (let id = ring.oldestId; id < ring.nextId; id++) frames.push(ring.get(id)!);
  return frames;
}

test('the ring stays within its byte bound, evicting whole GOPs oldest first, and what it keeps is intact', () => {
  const ring = new BackfillRing(50_000);
  // GOP = one 4000-byte keyframe + nine 1000-byte frames = 13 000 bytes: three fit, not four.
  const written = writeVideo(ring, 200);
  assert.ok(ring.bytes <= 50_000, `${ring.bytes} bytes held`);
  const held = heldFrames(ring);
  assert.equal(held[0]!.keyframe, true, 'the oldest frame held is a keyframe');
  assert.equal(held.length % 10, 0, 'only whole GOPs are held');
  assert.ok(held.length >= 30, `${held.length} frames held: at least the three newest GOPs`);
  // The newest frames, in order, with their bytes unchanged by the wrapping writes.
  const expected = written.slice(-held.length);
  held.forEach((frame, i) => {
    assert.equal(frame.captureTimeUs, expected[i]!.captureTimeUs);
    assert.deepEqual(frame.data, expected[i]!.data, `frame ${expected[i]!.n} intact`);
  });
  assert.ok(ring.evictedGops >= 16);
});

test('audio is kept between the video frames of its GOP and goes with it', () => {
  const ring = new BackfillRing(30_000);
  ring.append(Track.Audio, false, 1, frameBytes(1, 100)); // before any keyframe: nothing to decode it with
  assert.equal(ring.size, 0);
  for (let n = 0; n < 100; n++) {
    const t = 1_000_000_000 + n * 33_333;
    ring.append(Track.Video, n % 10 === 0, t, frameBytes(n, n % 10 === 0 ? 4000 : 1000));
    ring.append(Track.Audio, false, t + 10_000, frameBytes(1000 + n, 200));
  }
  const held = heldFrames(ring);
  assert.equal(held[0]!.track, Track.Video);
  assert.equal(held[0]!.keyframe, true);
  assert.equal(held.filter((f) => f.track === Track.Audio).length, held.filter((f) => f.track === Track.Video).length);
  assert.ok(ring.bytes <= 30_000);
});

test('the run start is the keyframe at or before fromUs; complete only when the ring reaches back that far', () => {
  const ring = new BackfillRing(1_000_000);
  const written = writeVideo(ring, 100);
  const key = (n: number) => written[n]!.captureTimeUs;

  // fromUs between keyframes 20 and 30: start on 20.
  assert.deepEqual(ring.runStart(key(25), key(90)), { id: 20, captureTimeUs: key(20), complete: true });
  // fromUs exactly on a keyframe: that one.
  assert.deepEqual(ring.runStart(key(30), key(90)), { id: 30, captureTimeUs: key(30), complete: true });
  // fromUs before anything held: the oldest keyframe, incomplete.
  assert.deepEqual(ring.runStart(key(0) - 5_000_000, key(90)), { id: 0, captureTimeUs: key(0), complete: false });
  // Nothing before toUs.
  assert.equal(ring.runStart(key(0) - 10_000_000, key(0)), null);

  // After eviction the same question is answered from what is left.
  const small = new BackfillRing(30_000);
  const w2 = writeVideo(small, 100);
  const start = small.runStart(w2[5]!.captureTimeUs, w2[99]!.captureTimeUs)!;
  assert.equal(start.complete, false);
  assert.equal(start.id, small.oldestId);
  assert.equal(small.get(start.id)!.keyframe, true);
  assert.equal(small.get(start.id - 1), undefined, 'evicted frames are gone');
});

test('a keyframe older than BACKFILL_MAX_LEAD_US before fromUs is not a run start (the relay would refuse it)', () => {
  const ring = new BackfillRing(1_000_000);
  // Keyframes 70 s apart (one GOP of two frames each).
  const t0 = 1_000_000_000;
  ring.append(Track.Video, true, t0, frameBytes(0, 100));
  ring.append(Track.Video, false, t0 + 33_333, frameBytes(1, 100));
  ring.append(Track.Video, true, t0 + 70_000_000, frameBytes(2, 100));
  const fromUs = t0 + BACKFILL_MAX_LEAD_US + 1_000_000;
  assert.deepEqual(ring.runStart(fromUs, t0 + 80_000_000), { id: 2, captureTimeUs: t0 + 70_000_000, complete: false });
});

test('a GOP bigger than the ring is not kept at all; the ring starts again at the next keyframe', () => {
  const ring = new BackfillRing(10_000);
  writeVideo(ring, 20, { gop: 20, bytes: 1000, keyBytes: 2000 }); // 21 000 bytes in one GOP
  assert.equal(ring.size, 0);
  assert.equal(ring.bytes, 0);
  writeVideo(ring, 5, { gop: 20, bytes: 1000, keyBytes: 2000, startIndex: 20 });
  assert.equal(ring.size, 5);
  assert.equal(ring.get(ring.oldestId)!.keyframe, true);
  // A single frame larger than the ring empties it too.
  ring.append(Track.Video, true, 2_000_000_000, new Uint8Array(10_001));
  assert.equal(ring.size, 0);
});

test('capacity must be a positive whole number', () => {
  assert.throws(() => new BackfillRing(0), RangeError);
  assert.throws(() => new BackfillRing(1.5), RangeError);
});
