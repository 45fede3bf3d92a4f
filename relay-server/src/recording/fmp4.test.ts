import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUDIO_TRACK_ID, NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS, VIDEO_TRACK_ID, initSegment, mediaFragment, parseFragment, setInitDuration, trackTimescales } from './fmp4.ts';

// A Baseline 640x480 SPS and a PPS as the Pi's encoder writes them (emulation prevention kept).
const SPS = Uint8Array.from([0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x3d, 0xa1, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x8f, 0x16, 0x2e, 0x48]);
const AVCC = Uint8Array.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, SPS.length, ...SPS, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);

test('a fragment written is read back: decode times, durations, sizes, flags and where each sample lies', () => {
  const video = [Buffer.from('key frame bytes'), Buffer.from('p1'), Buffer.from('p-two')];
  const audio = [Buffer.from('aac-1'), Buffer.from('aac-22')];
  const bytes = mediaFragment(7, [
    {
      trackId: VIDEO_TRACK_ID,
      baseDecodeTime: 157_000_000_000_000,
      samples: video.map((d, i) => ({ duration: 3000 + i, size: d.byteLength, flags: i === 0 ? SYNC_SAMPLE_FLAGS : NON_SYNC_SAMPLE_FLAGS, parts: [d] })),
    },
    { trackId: AUDIO_TRACK_ID, baseDecodeTime: 83_000_000_000_000, samples: audio.map((d) => ({ duration: 1024, size: d.byteLength, flags: SYNC_SAMPLE_FLAGS, parts: [d] })) },
  ]);
  const parsed = parseFragment(bytes);
  assert.ok(parsed);
  assert.equal(parsed.sequence, 7);
  assert.equal(parsed.size, bytes.byteLength);
  const [v, a] = parsed.runs;
  assert.equal(v!.trackId, VIDEO_TRACK_ID);
  assert.equal(v!.baseDecodeTime, 157_000_000_000_000, 'a 64-bit decode time (capture time since the epoch) survives');
  assert.deepEqual(v!.samples.map((s) => s.duration), [3000, 3001, 3002]);
  assert.deepEqual(v!.samples.map((s) => s.flags), [SYNC_SAMPLE_FLAGS, NON_SYNC_SAMPLE_FLAGS, NON_SYNC_SAMPLE_FLAGS]);
  assert.deepEqual([...v!.samples, ...a!.samples].map((s) => bytes.subarray(s.dataOffset, s.dataOffset + s.size).toString()), [...video, ...audio].map(String));
  assert.equal(a!.baseDecodeTime, 83_000_000_000_000);
});

test('a moof cut short, or bytes that are no moof, are not a fragment', () => {
  const bytes = mediaFragment(1, [{ trackId: VIDEO_TRACK_ID, baseDecodeTime: 0, samples: [{ duration: 1, size: 1, flags: SYNC_SAMPLE_FLAGS, parts: [Buffer.from('x')] }] }]);
  assert.equal(parseFragment(bytes.subarray(0, 40)), undefined);
  assert.equal(parseFragment(Buffer.from('not an mp4 box at all, really')), undefined);
  // The mdat's data need not be there: its header says where the fragment ends (repair reads only this).
  const moofSize = bytes.readUInt32BE(0);
  assert.equal(parseFragment(bytes.subarray(0, moofSize + 8))?.size, bytes.byteLength);
});

test('the init segment names each track with its timescale, and takes a duration', () => {
  const init = initSegment({ width: 640, height: 480, avcC: AVCC }, { sampleRate: 48000, channels: 1 });
  assert.equal(Buffer.from(init.subarray(4, 8)).toString(), 'ftyp');
  assert.deepEqual([...trackTimescales(init)], [
    [VIDEO_TRACK_ID, 90000],
    [AUDIO_TRACK_ID, 48000],
  ]);
  assert.deepEqual([...trackTimescales(initSegment({ width: 640, height: 480, avcC: AVCC }, null))], [[VIDEO_TRACK_ID, 90000]]);
  const copy = Uint8Array.from(init);
  setInitDuration(copy, 61_500);
  assert.notDeepEqual(copy, init);
  assert.equal(Buffer.from(copy).indexOf(Buffer.from([0, 0, 0xf0, 0x3c])) > 0, true, 'mvhd/mehd hold 61500 ms');
});
