import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyEvents, longestGap, stallReport, type Shown } from './stalls.ts';

/** 30 writes at 33 ms from t = 1000; each shown 20 ms later, except where `late` says otherwise. */
function stream(late: Record<number, number | null> = {}): { writes: number[]; shown: Shown[] } {
  const writes = Array.from({ length: 30 }, (_, i) => 1000 + i * 33);
  const shown: Shown[] = [];
  writes.forEach((w, i) => {
    const latency = late[i] === undefined ? 20 : late[i];
    if (latency !== null) shown.push({ writtenAt: w, shownAt: w + latency, latency });
  });
  return { writes, shown };
}

test('stalls: the longest gap counts the window edges as events', () => {
  assert.equal(longestGap([110, 120, 300], 100, 320), 180);
  assert.equal(longestGap([], 100, 150), 50);
});

test('stalls: writes never shown, and the longest run of them', () => {
  const { writes, shown } = stream({ 3: null, 10: null, 11: null, 12: null });
  const r = stallReport(writes, shown, emptyEvents(), { from: 1000, to: 2100 }, 20);
  assert.equal(r.neverShown, 4);
  assert.equal(r.longestUnshownRun, 3);
  assert.equal(r.stalls.length, 0);
});

test('stalls: a late picture is put down to the main thread when long tasks cover its wait, to the socket when nothing arrived', () => {
  const { writes, shown } = stream({ 5: 200, 20: 200 });
  const events = emptyEvents();
  // Messages, decoder output and rendering updates every 16 ms, except: a 190 ms long task around
  // picture 5, and no message for 180 ms before picture 20 is shown.
  for (let t = 990; t < 2100; t += 16) {
    const quietSocket = t > 1000 + 20 * 33 && t < 1000 + 20 * 33 + 180;
    if (!quietSocket) events.binary.push(t);
    events.outputs.push(t + 5);
    events.ticks.push(t + 8);
  }
  events.longTasks.push([1000 + 5 * 33 + 5, 190]);
  const r = stallReport(writes, shown, events, { from: 1000, to: 2100 }, 20);
  assert.equal(r.stalls.length, 2);
  assert.equal(r.stalls[0]!.stage, 'main thread');
  assert.equal(r.stalls[1]!.stage, 'socket');
  assert.equal(r.longTasks.count, 1);
  assert.equal(r.socketGaps.over100ms, 1);
});
