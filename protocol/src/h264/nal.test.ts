import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NalType, describeAccessUnit, isVcl, nalType, removeEmulationPrevention, splitNalUnits } from './nal.ts';
import { AccessUnitSplitter } from './access-unit-splitter.ts';
import { readClip } from './test-support.ts';

const u8 = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
const hex = (parts: Uint8Array[]): string[] => parts.map((p) => Buffer.from(p).toString('hex'));

test('NalType values follow H.264 Table 7-1', () => {
  assert.equal(NalType.NonIdrSlice, 1);
  assert.equal(NalType.PartitionA, 2);
  assert.equal(NalType.Idr, 5);
  assert.equal(NalType.Sei, 6);
  assert.equal(NalType.Sps, 7);
  assert.equal(NalType.Pps, 8);
  assert.equal(NalType.Aud, 9);
  assert.equal(NalType.EndOfSequence, 10);
  assert.equal(NalType.EndOfStream, 11);
  assert.equal(NalType.Filler, 12);
  assert.equal(NalType.SpsExt, 13);
  assert.equal(NalType.Prefix, 14);
  assert.equal(NalType.SubsetSps, 15);
  assert.equal(nalType(0x67), NalType.Sps);
  assert.equal(nalType(0x65), NalType.Idr);
  assert.equal(nalType(0x41), NalType.NonIdrSlice);
  assert.ok(isVcl(1) && isVcl(5) && !isVcl(6) && !isVcl(0));
});

test('splitNalUnits: 3- and 4-byte start codes, leading garbage, trailing zeros', () => {
  const stream = u8(0xaa, 0xbb, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0, 0);
  assert.deepEqual(hex(splitNalUnits(stream)), ['670102', '6803', '6504']);
});

test('splitNalUnits: a NAL unit may contain 0x00 and 00 00 xx (xx > 1) when no start code follows', () => {
  const stream = u8(0, 0, 1, 0x06, 0, 5, 0, 0, 2, 0, 0, 3, 0, 7, 0, 0, 1, 0x41, 0x80);
  assert.deepEqual(hex(splitNalUnits(stream)), ['0600050000020000030007', '4180']);
});

test('splitNalUnits: 00 00 00 ends a NAL unit, empty NAL units are skipped, views not copies', () => {
  const stream = u8(0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0x11, 0, 0, 1, 0, 0, 1, 0x41, 0x9a);
  const units = splitNalUnits(stream);
  assert.deepEqual(hex(units), ['09f0', '419a']);
  assert.equal(units[0]!.buffer, stream.buffer);
  assert.deepEqual(splitNalUnits(u8()), []);
  assert.deepEqual(splitNalUnits(u8(1, 2, 3, 0, 0)), []);
});

test('splitNalUnits on real clips finds every NAL unit', () => {
  // Counts of `00 00 01` in each file (checked with a byte search); every NAL header is valid.
  const expected: Record<string, number> = {
    '640x480-baseline.h264': 249,
    '1280x720-main.h264': 249,
    '1920x1080-high.h264': 245,
    'sps-interlaced-720x576.h264': 23,
    'sps-scaling-lists-854x480.h264': 15,
  };
  for (const [name, count] of Object.entries(expected)) {
    const units = splitNalUnits(readClip(name));
    assert.equal(units.length, count, name);
    for (const nal of units) {
      assert.equal(nal[0]! & 0x80, 0, `${name}: forbidden_zero_bit`);
      assert.notEqual(nal[nal.length - 1], 0, `${name}: a NAL unit never ends in 0x00`);
    }
  }
});

test('removeEmulationPrevention strips 00 00 03 only', () => {
  assert.deepEqual(hex([removeEmulationPrevention(u8(0x67, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3))]), ['6700000100000000']);
  assert.deepEqual(hex([removeEmulationPrevention(u8(0, 0, 3, 0, 0, 3, 0))]), ['0000000000']);
  // After a removed 03 the zero count restarts: `00 00 03 00 03` keeps the second 03.
  assert.deepEqual(hex([removeEmulationPrevention(u8(0, 0, 3, 0, 3))]), ['00000003']);
  const plain = u8(0x67, 0, 3, 0, 1);
  assert.equal(removeEmulationPrevention(plain), plain, 'nothing to strip: same array back');
});

test('describeAccessUnit: IDR unit of a real clip carries SPS and PPS', () => {
  const splitter = new AccessUnitSplitter();
  const units = [...splitter.push(readClip('640x480-baseline.h264')), ...splitter.flush()];
  const first = describeAccessUnit(units[0]!.data);
  // rpicam-vid/x264 --inline order: SPS, PPS, SEI (x264 version string), then the two IDR slices.
  assert.deepEqual(first.nalTypes, [7, 8, 6, 5, 5]);
  assert.equal(first.keyframe, true);
  assert.equal(first.sps?.[0], 0x67);
  assert.equal(first.pps.length, 1);
  assert.equal(first.pps[0]![0], 0x68);
  const second = describeAccessUnit(units[1]!.data);
  assert.deepEqual(second, { keyframe: false, nalTypes: [1, 1], pps: [] });
});
