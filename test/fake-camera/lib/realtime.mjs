// Real-time pacing without drift and without burning CPU.
//
// Frame n is due at start + n * interval (absolute), so timer lateness never accumulates.
// setTimeout alone is only millisecond-grained and often a millisecond late, and a busy spin
// would cost a core at 1080p; so we sleep coarsely with setTimeout (keeps the event loop free for
// signals and sockets) and finish with Atomics.wait, a futex sleep with sub-millisecond accuracy
// that costs no CPU and blocks the loop for at most ~1.5 ms.

import { setTimeout as delay } from 'node:timers/promises';

const futex = new Int32Array(new SharedArrayBuffer(4));
const COARSE_MARGIN_MS = 1.5;

/** Monotonic nanoseconds. */
export const nowNs = () => process.hrtime.bigint();

// Anchor the monotonic clock to the wall clock once, so timestamps are epoch-based yet µs-precise
// and immune to wall-clock steps while running. performance.timeOrigin is the epoch time of the
// process start with sub-millisecond precision (Date.now() would put every stamp up to 1 ms early).
const epochAnchorUs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) - nowNs() / 1000n;

/** Microseconds since the Unix epoch, µs precision. */
export const epochMicros = () => epochAnchorUs + nowNs() / 1000n;

export async function sleepUntil(dueNs) {
  const remainingMs = Number(dueNs - nowNs()) / 1e6;
  if (remainingMs > COARSE_MARGIN_MS + 0.5) await delay(remainingMs - COARSE_MARGIN_MS);
  const restMs = Number(dueNs - nowNs()) / 1e6;
  if (restMs > 0) Atomics.wait(futex, 0, 0, restMs);
}

/**
 * Calls `emit(n)` for n = 0, 1, 2, ... each at its due time, until `emit` returns false.
 *
 * Falling behind has two causes, handled the way a real camera's pipeline does:
 * - we woke up late (CPU contention): the sensor kept going and the encoder queued its frames,
 *   so the late frames go out back to back and the schedule is kept (this keeps `-t` exact);
 * - the output blocked (a reader that stopped reading): the sensor's frames were dropped
 *   meanwhile, so the schedule restarts from now instead of bursting a backlog.
 * Either way a gap of more than a second is not caught up (e.g. after SIGSTOP/SIGCONT).
 * @param {(n: number) => boolean | Promise<boolean>} emit
 * @param {(n: number) => bigint} intervalNsOf time from frame n to frame n+1
 */
export async function runPaced(emit, intervalNsOf) {
  const blockedFrames = 4n;
  const maxCatchUpNs = 1_000_000_000n;
  let due = nowNs();
  for (let n = 0; ; n++) {
    await sleepUntil(due);
    const began = nowNs();
    if (began - due > maxCatchUpNs) due = began;
    if ((await emit(n)) === false) return;
    const interval = intervalNsOf(n);
    due += interval;
    const now = nowNs();
    if (now - began > interval * blockedFrames) due = now;
  }
}
