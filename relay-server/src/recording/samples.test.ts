import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AccessUnitSplitter, NalType, nalType, splitNalUnits } from '@picam/protocol';
import { maxMp4SampleBytes, writeMp4Sample } from './samples.ts';

/** What an MP4 sample of this access unit holds, the slow way: each NAL unit after its length, delimiters left out. */
function expected(annexB: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  for (const nal of splitNalUnits(annexB)) {
    if (nalType(nal[0]!) === NalType.Aud) continue;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(nal.byteLength);
    parts.push(length, Buffer.from(nal));
  }
  return Buffer.concat(parts);
}

function converted(annexB: Uint8Array, from = 0, prefix = Buffer.alloc(0)): Buffer {
  const input = Buffer.concat([prefix, annexB]);
  const out = Buffer.alloc(maxMp4SampleBytes(input.byteLength) + 8, 0xee);
  const size = writeMp4Sample(input, from + prefix.byteLength, out, 8);
  assert.ok(out.subarray(0, 8).every((b) => b === 0xee), 'nothing written before `at`');
  return out.subarray(8, 8 + size);
}

test('every access unit of the camera clips becomes the same MP4 sample as NAL units split one by one', () => {
  for (const clip of ['1280x720-main.h264', '640x480-baseline.h264', '1920x1080-high.h264']) {
    const bytes = new Uint8Array(readFileSync(fileURLToPath(new URL(`../../../test/fixtures/clips/${clip}`, import.meta.url))));
    const splitter = new AccessUnitSplitter();
    const units = [...splitter.push(bytes), ...splitter.flush()];
    assert.ok(units.length > 30, clip);
    for (const [i, unit] of units.entries()) {
      // After a 16-byte header that itself holds `00 00 01` (as a frame header's fields may): it is not searched.
      assert.deepEqual(converted(unit.data, 0, Buffer.from([0, 0, 1, 0x65, 0, 0, 0, 1, 9, 0, 0, 1, 0, 0, 0, 0])), expected(unit.data), `${clip} access unit ${i}`);
    }
  }
});

test('3- and 4-byte start codes, trailing zeros, delimiters and a unit with no start code', () => {
  const sps = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
  const idr = [0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x00, 0x21];
  const cases: number[][] = [
    [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, ...sps, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, ...idr],
    [0, 0, 1, ...idr, 0, 0],
    [0, 0, 0, 1, ...sps, 0, 0, 0, 0, 0, 0, 1, ...idr, 0],
    [0, 0, 1, 0x09, 0x10],
    [0x41, 0x9a, 0x22],
    [0, 0, 1],
    [],
  ];
  for (const c of cases) assert.deepEqual(converted(Uint8Array.from(c)), expected(Uint8Array.from(c)), Buffer.from(c).toString('hex'));
  assert.equal(converted(Uint8Array.from(cases[3]!)).byteLength, 0, 'a lone delimiter is no sample data');
});
