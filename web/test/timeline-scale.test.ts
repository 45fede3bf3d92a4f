import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fittingZoom,
  fractionOf,
  rangeFromDrag,
  recordedMomentAt,
  spanAt,
  spansOnBar,
  thumbnailMoments,
  ticks,
  timeAt,
  zoomById,
  ZOOMS,
} from '../src/recordings/timeline-scale.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
// A fixed local afternoon, so tick alignment is checked against local wall-clock boundaries.
const T0 = new Date(2026, 11, 5, 14, 7, 30).getTime();

test('timeline: a time and its place on the bar map both ways; outside the window stays outside', () => {
  const win = { start: T0, end: T0 + HOUR };
  assert.equal(fractionOf(win, T0 + 15 * MIN), 0.25);
  assert.equal(timeAt(win, 0.25), T0 + 15 * MIN);
  assert.equal(timeAt(win, -3), T0, 'a pointer left of the bar means its start');
  assert.equal(timeAt(win, 7), T0 + HOUR, 'and right of it its end');
  assert.ok(fractionOf(win, T0 - MIN) < 0);
});

test('timeline: spans are clipped to the window and the ones outside it are not drawn', () => {
  const win = { start: T0, end: T0 + HOUR };
  const spans = [
    { start: T0 - 2 * HOUR, end: T0 - HOUR }, // before the window
    { start: T0 - 10 * MIN, end: T0 + 6 * MIN }, // runs into it
    { start: T0 + 30 * MIN, end: T0 + 90 * MIN }, // runs out of it
  ];
  const bars = spansOnBar(spans, win);
  assert.equal(bars.length, 2);
  assert.equal(bars[0]!.left, 0);
  assert.equal(bars[0]!.width, 0.1);
  assert.equal(bars[1]!.left, 0.5);
  assert.equal(bars[1]!.width, 0.5);
});

test('timeline: ticks fall on local wall-clock boundaries at every zoom', () => {
  for (const zoom of ZOOMS) {
    const win = { start: T0 - zoom.spanMs, end: T0 };
    const list = ticks(win, zoom);
    assert.ok(list.length >= 4 && list.length <= 13, `${zoom.id}: ${list.length} ticks`);
    for (const t of list) {
      assert.ok(t >= win.start && t <= win.end, `${zoom.id}: tick inside the window`);
      const d = new Date(t);
      assert.equal(d.getSeconds(), 0);
      if (zoom.tickMs >= HOUR) assert.equal(d.getMinutes(), 0, `${zoom.id}: whole hours`);
      if (zoom.id === '7d') assert.equal(d.getHours(), 0, 'days start at midnight');
      if (zoom.id === '1h') assert.equal(d.getMinutes() % 10, 0);
    }
  }
  assert.equal(zoomById('nonsense').id, '6h', 'an unknown stored zoom falls back to 6 h');
});

test('timeline: a click plays what is recorded there, or what was recorded next', () => {
  const spans = [
    { start: 1000, end: 5000 },
    { start: 9000, end: 20_000 },
  ];
  assert.equal(recordedMomentAt(spans, 2000), 2000, 'inside a span: that moment');
  assert.equal(recordedMomentAt(spans, 6000), 9000, 'in a gap: the next span');
  assert.equal(recordedMomentAt(spans, 500), 1000, 'before everything: the first span');
  assert.equal(recordedMomentAt(spans, 25_000), 10_000, 'after the end: shortly before the newest');
  assert.equal(recordedMomentAt([], 25_000), null, 'nothing recorded: nothing to play');
  assert.deepEqual(spanAt(spans, 9000), spans[1]);
  assert.equal(spanAt(spans, 5000), null, 'end is exclusive');
});

test('timeline: a drag chooses the range between its ends, at least a few seconds, never in the future', () => {
  assert.deepEqual(rangeFromDrag(50_000, 20_000, 100_000), { start: 20_000, end: 50_000 }, 'right to left is the same range');
  assert.deepEqual(rangeFromDrag(20_000, 21_000, 100_000), { start: 20_000, end: 25_000 }, 'a wobble is at least 5 s');
  assert.deepEqual(rangeFromDrag(98_000, 99_000, 100_000), { start: 95_000, end: 100_000 }, 'kept before now');
});

test('timeline: thumbnails sit on a grid fixed in time, one per partly recorded cell', () => {
  const spans = [{ start: T0 - 50 * MIN, end: T0 - 20 * MIN }];
  const win = { start: T0 - HOUR, end: T0 };
  const a = thumbnailMoments(spans, win, 6);
  assert.ok(a.length >= 3 && a.length <= 4, `${a.length} thumbnails for 30 min of 60 in 6 cells`);
  for (const m of a) assert.ok(m >= spans[0]!.start && m < spans[0]!.end, 'each one recorded');
  assert.equal(a[0], spans[0]!.start, 'the first is where the recording starts');
  // The clock moves on 20 s: the same moments come back (the cache keeps them), none new in between.
  const b = thumbnailMoments(spans, { start: win.start + 20_000, end: win.end + 20_000 }, 6);
  assert.deepEqual(
    b.filter((m) => !a.includes(m)),
    [],
  );
  assert.deepEqual(thumbnailMoments([], win, 6), []);
});

test('timeline: with no zoom chosen, the bar opens at the closest zoom that shows all that is recorded', () => {
  const sixHours = zoomById('6h');
  assert.equal(fittingZoom([{ start: T0 - 3 * MIN, end: T0 }], T0, sixHours).id, '1h', 'a camera recording for 3 minutes: the last hour');
  assert.equal(fittingZoom([{ start: T0 - 2 * HOUR, end: T0 - HOUR }, { start: T0 - 10 * MIN, end: T0 }], T0, sixHours).id, '6h', 'two hours back: 6 h still');
  assert.equal(fittingZoom([{ start: T0 - 50 * HOUR, end: T0 }], T0, sixHours).id, '6h', 'older than the window: never wider than asked');
  assert.equal(fittingZoom([], T0, sixHours).id, '6h', 'nothing recorded yet: as asked');
  assert.equal(fittingZoom([{ start: T0 - HOUR, end: T0 - 59 * MIN }], T0, sixHours).id, '1h', 'exactly an hour back: 1 h shows it');
  assert.equal(fittingZoom([{ start: T0 - 3 * MIN, end: T0 }], T0, zoomById('1h')).id, '1h');
});
