import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAvcDecoderConfigurationRecord } from './avc-config.ts';
import { describeAccessUnit } from './nal.ts';
import { ProtocolError } from '../errors.ts';
import { readClip } from './test-support.ts';

/** Reads an avcC record back (ISO/IEC 14496-15 5.3.3.1) to check what was written. */
function readAvcC(rec: Uint8Array) {
  const view = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
  let o = 6;
  const spsLen = view.getUint16(o);
  const sps = rec.subarray(o + 2, o + 2 + spsLen);
  o += 2 + spsLen;
  const numPps = rec[o++]!;
  const pps: Uint8Array[] = [];
  for (let i = 0; i < numPps; i++) {
    const len = view.getUint16(o);
    pps.push(rec.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  return { version: rec[0], profile: rec[1], compat: rec[2], level: rec[3], lengthSize: (rec[4]! & 3) + 1, numSps: rec[5]! & 0x1f, sps, pps, rest: rec.subarray(o) };
}

test('avcC from each fixture clip round-trips SPS/PPS and profile bytes', () => {
  for (const clip of ['640x480-baseline.h264', '1280x720-main.h264', '1920x1080-high.h264', 'sps-interlaced-720x576.h264']) {
    const { sps, pps } = describeAccessUnit(readClip(clip));
    const rec = readAvcC(buildAvcDecoderConfigurationRecord(sps!, pps));
    assert.equal(rec.version, 1, clip);
    assert.deepEqual([rec.profile, rec.compat, rec.level], [sps![1], sps![2], sps![3]], clip);
    assert.equal(rec.lengthSize, 4, clip);
    assert.equal(rec.numSps, 1, clip);
    assert.deepEqual(rec.sps, sps, clip);
    assert.deepEqual(rec.pps, pps, clip);
    // Baseline/Main end after the PPS; High (100) adds chroma_format, bit depths, 0 SPS extensions.
    const expectedTail = sps![1] === 100 ? [0xfc | 1, 0xf8, 0xf8, 0] : [];
    assert.deepEqual([...rec.rest], expectedTail, clip);
  }
});

test('avcC for High 4:2:2 and High 10 carries chroma_format and bit depths', () => {
  // x264 SPS (-pix_fmt yuv422p, and yuv420p10le), reported as "High 4:2:2" and "High 10" by ffprobe.
  const pps = [Uint8Array.of(0x68, 0xeb, 0xe3, 0xcb)];
  const high422 = Uint8Array.from(Buffer.from('677a000bbcd942cde4f011000003000100000300300f14299600', 'hex'));
  assert.deepEqual([...readAvcC(buildAvcDecoderConfigurationRecord(high422, pps)).rest], [0xfc | 2, 0xf8 | 0, 0xf8 | 0, 0]);
  const high10 = Uint8Array.from(Buffer.from('676e0020a6cd94056061e6f011000003000100000300300f18319600', 'hex'));
  assert.deepEqual([...readAvcC(buildAvcDecoderConfigurationRecord(high10, pps)).rest], [0xfc | 1, 0xf8 | 2, 0xf8 | 2, 0]);
});

test('avcC refuses missing PPS or a non-SPS with ProtocolError', () => {
  const { sps, pps } = describeAccessUnit(readClip('640x480-baseline.h264'));
  const isProtocolError = (e: unknown): boolean => e instanceof ProtocolError && e.code === 'ERR_SPS_INVALID';
  assert.throws(() => buildAvcDecoderConfigurationRecord(sps!, []), isProtocolError);
  assert.throws(() => buildAvcDecoderConfigurationRecord(pps[0]!, pps), isProtocolError);
  assert.throws(() => buildAvcDecoderConfigurationRecord(sps!, [sps!]), isProtocolError);
});
