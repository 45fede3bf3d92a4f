import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from './buffer-pool.ts';

test('a released buffer is handed out again for a frame of the same size class', () => {
  const pool = new BufferPool(1024 * 1024);
  const first = pool.acquire(33_000);
  assert.ok(first.byteLength >= 33_000);
  pool.release(first);
  assert.equal(pool.heldBytes, first.byteLength);
  const again = pool.acquire(40_000); // same power-of-two class (64 KiB)
  assert.equal(again, first);
  assert.equal(pool.heldBytes, 0);
  assert.notEqual(pool.acquire(200_000), first, 'a bigger frame gets a bigger buffer');
});

test('the pool never holds more than its cap, and ignores buffers it did not make', () => {
  const pool = new BufferPool(128 * 1024);
  const buffers = [pool.acquire(60_000), pool.acquire(60_000), pool.acquire(60_000)];
  for (const b of buffers) pool.release(b);
  assert.equal(pool.heldBytes, 128 * 1024, 'two of the three 64 KiB buffers kept');
  pool.release(new Uint8Array(1000)); // not a size class
  assert.equal(pool.heldBytes, 128 * 1024);
});
