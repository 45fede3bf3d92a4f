import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackfillPace, DelayGate } from './backfill-pace.ts';

/** Sends as fast as the pace lets it, on a simulated clock: the bytes it let through in `seconds`. */
function drain(pace: BackfillPace, frameBytes: number, seconds: number, startMs: number, live?: { bytesPerFrame: number; fps: number }): number {
  let now = startMs;
  let sent = 0;
  let nextLiveMs = startMs;
  const endMs = startMs + seconds * 1000;
  while (now < endMs) {
    while (live && nextLiveMs <= now) {
      pace.noteLive(live.bytesPerFrame, nextLiveMs);
      nextLiveMs += 1000 / live.fps;
    }
    const wait = pace.waitMs(frameBytes, now);
    if (wait > 0) {
      now += wait;
      continue;
    }
    pace.take(frameBytes, now);
    sent += frameBytes;
  }
  return sent;
}

test('the live rate is what was captured over the window', () => {
  const pace = new BackfillPace({ multiple: 2, minBytesPerSecond: 1000, windowMs: 5_000 });
  for (let i = 0; i < 300; i++) pace.noteLive(10_000, i * (1000 / 30)); // 30 fps x 10 kB = 300 kB/s for 10 s
  assert.ok(Math.abs(pace.liveBytesPerSecond(10_000) - 300_000) <= 10_000, String(pace.liveBytesPerSecond(10_000)));
  // Nothing captured for a whole window: back to 0, and the floor applies.
  assert.equal(pace.liveBytesPerSecond(20_000), 0);
  assert.equal(pace.bytesPerSecond(20_000), 1000);
});

test('backfill goes at the set multiple of the live rate, whatever the frame sizes', () => {
  for (const frameBytes of [1_000, 8_000, 120_000]) {
    const pace = new BackfillPace({ multiple: 2, minBytesPerSecond: 1000 });
    const live = { bytesPerFrame: 8_000, fps: 30 }; // 240 kB/s live
    drain(pace, 1, 5, 0, live); // warm the live window up
    const sent = drain(pace, frameBytes, 20, 5_000, live);
    const rate = sent / 20;
    // 2 x 240 kB/s, give or take one frame and the bucket.
    assert.ok(rate >= 480_000 * 0.9 && rate <= 480_000 * 1.1 + frameBytes / 20, `${frameBytes}-byte frames: ${rate.toFixed(0)} B/s`);
  }
});

test('the floor keeps a run moving while the camera is quiet, and no faster', () => {
  const pace = new BackfillPace({ multiple: 4, minBytesPerSecond: 50_000 });
  const sent = drain(pace, 5_000, 10, 0);
  assert.ok(sent / 10 >= 45_000 && sent / 10 <= 56_000, `${sent / 10} B/s`);
});

test('bursts are short: after a quiet spell the bucket holds only ~100 ms of the rate', () => {
  const pace = new BackfillPace({ multiple: 1, minBytesPerSecond: 100_000, burstMs: 100 });
  assert.equal(pace.waitMs(1_000, 0), 0);
  // An hour of nothing, then as much as it allows at once.
  let burst = 0;
  while (pace.waitMs(1_000, 3_600_000) === 0) {
    pace.take(1_000, 3_600_000);
    burst += 1_000;
  }
  assert.ok(burst >= 10_000 && burst <= 11_000, `${burst} bytes at once`);
});

test('options are checked', () => {
  assert.throws(() => new BackfillPace({ multiple: 0, minBytesPerSecond: 1 }), RangeError);
  assert.throws(() => new BackfillPace({ multiple: 1, minBytesPerSecond: 0 }), RangeError);
});

test('the delay gate holds backfill until a round trip is known, and while the path queues more than the target', () => {
  const gate = new DelayGate(60);
  assert.equal(gate.holding(0), true, 'nothing measured yet');
  gate.probeSent(0);
  gate.probeAnswered(20);
  assert.equal(gate.holding(10), false, 'the round trip of the path itself');
  // Backfill fills a queue down the path: the round trip grows past base + target.
  gate.probeSent(100);
  gate.probeAnswered(70);
  assert.equal(gate.holding(180), false, '50 ms over the base: within the target');
  gate.probeSent(200);
  assert.equal(gate.holding(250), false, 'a probe out for 50 ms');
  assert.equal(gate.holding(290), true, 'a probe out for longer than base + target: the queue is long already');
  gate.probeAnswered(150);
  assert.equal(gate.holding(360), true, '130 ms over the base');
  assert.equal(gate.queueingMs, 130);
  gate.probeSent(400);
  gate.probeAnswered(30);
  assert.equal(gate.holding(440), false, 'drained');
  gate.reset();
  assert.equal(gate.holding(500), true, 'a new run measures again');
  assert.throws(() => new DelayGate(0), RangeError);
});
