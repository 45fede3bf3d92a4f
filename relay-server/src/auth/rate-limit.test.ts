import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimiter } from './rate-limit.ts';

test('sliding window: blocks at the limit, tells how long, frees as events age out', () => {
  const clock = { now: 0 };
  const limiter = createRateLimiter({ limit: 3, windowMs: 60_000, now: () => clock.now });
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.blockedFor('k'), undefined);
    limiter.record('k');
    clock.now += 10_000;
  }
  assert.equal(limiter.blockedFor('k'), 30);
  assert.equal(limiter.blockedFor('other'), undefined);
  clock.now = 60_001;
  assert.equal(limiter.blockedFor('k'), undefined);
  limiter.record('k');
  limiter.reset('k');
  assert.equal(limiter.blockedFor('k'), undefined);
});

test('memory is bounded: the least recently used keys are forgotten first', () => {
  const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, now: () => 0, maxKeys: 2 });
  limiter.record('a');
  limiter.record('b');
  limiter.record('c');
  assert.equal(limiter.blockedFor('a'), undefined);
  assert.ok(limiter.blockedFor('c'));
});

test('refund takes back the newest event (an admitted attempt that succeeded); count reports the window', () => {
  const clock = { now: 0 };
  const limiter = createRateLimiter({ limit: 2, windowMs: 60_000, now: () => clock.now });
  limiter.record('k');
  clock.now = 1000;
  limiter.record('k');
  assert.equal(limiter.count('k'), 2);
  assert.ok(limiter.blockedFor('k'));
  limiter.refund('k');
  assert.equal(limiter.count('k'), 1);
  assert.equal(limiter.blockedFor('k'), undefined);
  limiter.refund('k');
  limiter.refund('k'); // nothing left: a no-op
  assert.equal(limiter.count('k'), 0);
  clock.now = 120_000;
  limiter.record('k');
  assert.equal(limiter.count('k'), 1, 'aged-out events are not counted');
});
