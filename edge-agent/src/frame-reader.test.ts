import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AccessUnitSplitter, sameBytes } from '@picam/protocol';
import { CaptureClock } from './clock.ts';
import { FrameReader, type CapturedFrame } from './frame-reader.ts';
import { AgentStats } from './stats.ts';

const clip = readFileSync(new URL('../../test/fixtures/clips/640x480-baseline.h264', import.meta.url));
const splitter = new AccessUnitSplitter();
const units = [...splitter.push(clip), ...splitter.flush()];

/** A reader whose frames can be awaited one by one (event-driven, no sleeps). */
function harness(options: { flushDelayMs?: number } = {}): {
  reader: FrameReader;
  stats: AgentStats;
  next: () => Promise<CapturedFrame>;
  frames: CapturedFrame[];
  drainFlushOff: () => boolean;
} {
  const stats = new AgentStats();
  let drainFlushOff = false;
  const frames: CapturedFrame[] = [];
  let waiter: ((f: CapturedFrame) => void) | null = null;
  const reader = new FrameReader({
    clock: new CaptureClock(),
    stats,
    flushDelayMs: options.flushDelayMs ?? 2,
    onDrainFlushOff: () => (drainFlushOff = true),
    onFrame: (frame) => {
      frames.push(frame);
      const w = waiter;
      waiter = null;
      w?.(frame);
    },
  });
  const next = () => new Promise<CapturedFrame>((resolve) => (waiter = resolve));
  return { reader, stats, next, frames, drainFlushOff: () => drainFlushOff };
}

/** Lets the event loop go round `turns` times (each turn polls I/O once): no wall-clock wait. */
async function loopTurns(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A silence timer this long never fires during a test: anything that comes out came out on drain. */
const NEVER_MS = 3_600_000;

test('one write per unit: each unit comes out whole after the pipe goes quiet, not a frame later', async () => {
  const { reader, next, stats } = harness();
  let last = 0;
  for (const unit of units.slice(0, 40)) {
    const before = Date.now() * 1000;
    const pending = next();
    reader.push(unit.data);
    const frame = await pending;
    assert.ok(sameBytes(frame.data, unit.data));
    assert.equal(frame.keyframe, unit.keyframe);
    // Stamped when read (before the flush timer fired), and strictly increasing.
    assert.ok(frame.captureTimeUs >= before - 2000 && frame.captureTimeUs <= Date.now() * 1000 + 2000);
    assert.ok(frame.captureTimeUs > last);
    last = frame.captureTimeUs;
  }
  reader.close();
  assert.equal(stats.framesCaptured, 40);
  assert.equal(stats.tornFrames, 0);
});

test('a unit is complete as soon as the pipe is drained, without waiting for the silence timer', async () => {
  const { reader, next, stats } = harness({ flushDelayMs: NEVER_MS });
  for (const unit of units.slice(0, 40)) {
    const pending = next();
    reader.push(unit.data);
    const frame = await pending;
    assert.ok(sameBytes(frame.data, unit.data));
  }
  reader.close();
  assert.equal(stats.framesCaptured, 40);
  assert.equal(stats.tornFrames, 0);
});

test('a unit written in pieces back to back (glibc blocks + tail) comes out whole', async () => {
  const { reader, next, stats } = harness({ flushDelayMs: NEVER_MS });
  const keyframe = units.find((u) => u.keyframe && u.data.length > 2 * 4096)!.data;
  const pending = next();
  // fwrite's pieces: one block, the remaining whole blocks, the tail; one loop turn apart at most.
  const blocks = keyframe.length - (keyframe.length % 4096);
  reader.push(keyframe.subarray(0, 4096));
  await loopTurns(1);
  reader.push(keyframe.subarray(4096, blocks));
  reader.push(keyframe.subarray(blocks));
  const frame = await pending;
  assert.ok(sameBytes(frame.data, keyframe));
  assert.equal(stats.tornFrames, 0);
  reader.close();
});

test('a unit whose length so far is a whole number of stdio blocks is not completed on drain (more blocks may follow)', async () => {
  const { reader, next, frames } = harness({ flushDelayMs: NEVER_MS });
  const keyframe = units.find((u) => u.keyframe && u.data.length > 2 * 4096 && u.data.length % 4096 !== 0)!.data;
  reader.push(keyframe.subarray(0, 2 * 4096));
  await loopTurns(4); // a drain check would have completed it by now
  assert.equal(frames.length, 0, 'not completed on drain');
  const pending = next();
  reader.push(keyframe.subarray(2 * 4096)); // the tail: now it completes on drain
  assert.ok(sameBytes((await pending).data, keyframe));
  reader.close();
});

test('a frame torn by a pause mid-write: dropped to the next keyframe, and the run falls back to the silence timer', async () => {
  const { reader, next, stats, frames, drainFlushOff } = harness({ flushDelayMs: 2 });
  const first = next();
  reader.push(units[0]!.data);
  await first;
  const torn = units[1]!.data;
  const half = Math.floor(torn.length / 2) | 1; // not a whole number of blocks
  const early = next();
  reader.push(torn.subarray(0, half));
  await early; // completed on drain: the camera paused longer than two loop turns
  reader.push(torn.subarray(half));
  assert.equal(stats.tornFrames, 1);
  assert.ok(drainFlushOff(), 'completing on drain is off after a tear');
  // Units 2..29 are P-frames: dropped. Unit 30 is the next keyframe, now completed by the timer.
  for (const unit of units.slice(2, 30)) reader.push(unit.data);
  const resumed = next();
  reader.push(units[30]!.data);
  assert.ok(sameBytes((await resumed).data, units[30]!.data));
  assert.equal(frames.length, 3);
  reader.close();
});

test('arbitrary chunking of a burst still yields the same units', () => {
  const { reader, frames } = harness();
  const burst = clip.subarray(0, 200_000);
  for (let i = 0; i < burst.length; i += 777) reader.push(burst.subarray(i, i + 777));
  reader.end();
  const expected = new AccessUnitSplitter();
  const reference = [...expected.push(burst), ...expected.flush()];
  assert.equal(frames.length, reference.length);
  frames.forEach((f, i) => assert.ok(sameBytes(f.data, reference[i]?.data), `unit ${i}`));
});

test('a torn frame drops everything up to the next keyframe, counted', async () => {
  const { reader, next, stats, frames } = harness();
  // Units 0..2 normally; unit 3 arrives in two writes with a pause between them (the flush fires).
  for (const unit of units.slice(0, 3)) {
    const pending = next();
    reader.push(unit.data);
    await pending;
  }
  const torn = units[3]!.data;
  const half = Math.floor(torn.length / 2);
  const first = next();
  reader.push(torn.subarray(0, half));
  await first;
  reader.push(torn.subarray(half));
  // Units 4..29 are P-frames: dropped. Unit 30 is the next keyframe.
  for (const unit of units.slice(4, 31)) reader.push(unit.data);
  reader.end();
  assert.equal(stats.tornFrames, 1);
  assert.equal(units[30]?.keyframe, true);
  const after = frames.slice(4);
  assert.ok(after.length >= 1 && after[0]?.keyframe, 'resumes at the keyframe');
  assert.ok(sameBytes(after[0]?.data, units[30]?.data));
  assert.equal(stats.framesDropped, 26);
});
