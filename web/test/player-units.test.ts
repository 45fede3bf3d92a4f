import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  AccessUnitSplitter,
  describeAccessUnit,
  splitNalUnits,
} from '@picam/protocol';
import { annexBToLengthPrefixed, sameBytes } from '../src/player/annexb.ts';
import { ClockOffset } from '../src/player/clock.ts';
import { formatBitrate, formatTimeLeft } from '../src/format.ts';
import { Router } from '../src/router.ts';

const CLIP = new URL('../../test/fixtures/clips/640x480-baseline.h264', import.meta.url);

function firstAccessUnits(count: number): Uint8Array[] {
  const units: Uint8Array[] = [];
  const splitter = new AccessUnitSplitter();
  const data = new Uint8Array(readFileSync(CLIP));
  for (const au of splitter.push(data)) {
    units.push(au.data);
    if (units.length >= count) break;
  }
  return units;
}

test('annexBToLengthPrefixed: 4-byte lengths, NAL bodies unchanged, SPS/PPS/AUD left to the description', () => {
  const [keyframe] = firstAccessUnits(1);
  assert.ok(keyframe && describeAccessUnit(keyframe).keyframe, 'the clip starts with a keyframe');
  const kept = splitNalUnits(keyframe).filter((n) => ![7, 8, 9].includes(n[0]! & 0x1f));
  const avc = annexBToLengthPrefixed(keyframe);
  const view = new DataView(avc.buffer, avc.byteOffset, avc.byteLength);
  let offset = 0;
  for (const nal of kept) {
    const length = view.getUint32(offset);
    assert.equal(length, nal.length);
    assert.ok(sameBytes(avc.subarray(offset + 4, offset + 4 + length), nal));
    offset += 4 + length;
  }
  assert.equal(offset, avc.length);
  assert.ok(kept.some((n) => (n[0]! & 0x1f) === 5), 'the IDR slice is kept');
});

test('annexBToLengthPrefixed: 3- and 4-byte start codes, a NAL ending in 0x00 0x03 kept whole', () => {
  const au = new Uint8Array([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x88, 0x00, 0x03, 0, 0, 0, 1, 0x06, 0x05]);
  const avc = annexBToLengthPrefixed(au);
  assert.deepEqual([...avc], [0, 0, 0, 4, 0x65, 0x88, 0x00, 0x03, 0, 0, 0, 2, 0x06, 0x05]);
});

test('ClockOffset: in-sync clocks are left alone, a browser behind or far ahead is corrected', () => {
  const sync = new ClockOffset();
  for (let i = 0; i < 30; i++) sync.observe((1_000_000 + i * 33) * 1000, 1_000_000 + i * 33 + 8 + (i % 5));
  assert.equal(sync.offsetMs(), 0);
  assert.equal(Math.round(sync.latencyMs(1_000_000_000, 1_000_020)), 20);

  const behind = new ClockOffset(); // browser clock 500 ms behind the Pi
  for (let i = 0; i < 30; i++) behind.observe((1_000_000 + i * 33) * 1000, 1_000_000 + i * 33 - 500 + 10);
  assert.equal(Math.round(behind.offsetMs()), -490);

  const ahead = new ClockOffset(); // browser 5 s ahead
  for (let i = 0; i < 30; i++) ahead.observe((1_000_000 + i * 33) * 1000, 1_000_000 + i * 33 + 5000 + 10);
  assert.equal(Math.round(ahead.latencyMs(1_000_000_000, 1_005_030)), 20);
});

test('format helpers', () => {
  assert.equal(formatTimeLeft(0), 'expired');
  assert.equal(formatTimeLeft(59_000), '59 s');
  assert.equal(formatTimeLeft(15 * 60_000), '15 min 00 s');
  assert.equal(formatTimeLeft(3600_000), '1 h 00 min');
  assert.equal(formatTimeLeft(7 * 86400_000), '7 d 0 h');
  assert.equal(formatBitrate(2_000_000), '2.0 Mbit/s');
  assert.equal(formatBitrate(900_000), '900 kbit/s');
});

test('router: page routes match with their parameters, others do not', () => {
  const router = new Router([{ path: '/' }, { path: '/cameras/:id' }, { path: '/admin/cameras/:id/shares' }, { path: '/s/:shareId' }], () => {});
  assert.deepEqual(router.match('/cameras/abc')?.params, { id: 'abc' });
  assert.deepEqual(router.match('/admin/cameras/x1/shares')?.params, { id: 'x1' });
  assert.deepEqual(router.match('/s/shr_1')?.params, { shareId: 'shr_1' });
  assert.equal(router.match('/')?.route.path, '/');
  assert.equal(router.match('/cameras'), null);
  assert.equal(router.match('/cameras/a/b'), null);
});
