import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.ts';

test('grows exponentially up to the cap, without jitter', () => {
  const b = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0 });
  const delays = Array.from({ length: 10 }, () => b.next());
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.equal(b.attempts, 10);
});

test('jitter keeps each delay within [base * (1 - jitter), base]', () => {
  let r = 0;
  const values = [0, 0.9, 0.5];
  const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => values[r++ % values.length] ?? 0 });
  assert.equal(b.next(), 1000);
  assert.equal(b.next(), 550);
  assert.equal(b.next(), 750);
});

test('reset starts over from the initial delay', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 10_000, jitter: 0 });
  b.next();
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 100);
});

test('thousands of failures never produce NaN or Infinity', () => {
  const b = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0 });
  for (let i = 0; i < 5000; i++) b.next();
  assert.equal(b.next(), 30_000);
});

test('rejects nonsense options at construction', () => {
  assert.throws(() => new Backoff({ initialMs: 0, maxMs: 10 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 100, maxMs: 10 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 1, maxMs: 10, jitter: 2 }), RangeError);
});
