import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FRAME_HEADER_BYTES,
  Track,
  decodeFrame,
  encodeFrame,
  readFrameHeader,
  sequenceDistance,
  setCatchUpFlag,
} from './frame-header.ts';
import { ProtocolError } from './errors.ts';

const payload = new Uint8Array([0, 0, 0, 1, 0x65, 0x88, 0x84]);

test('a header round-trips every field, big-endian, at fixed offsets', () => {
  const header = { track: Track.Video, keyframe: true, catchUp: false, backfill: false, sequence: 0xfffffffe, captureTimeUs: 1_764_000_000_123_456 };
  const message = encodeFrame(header, payload);
  assert.equal(message.byteLength, FRAME_HEADER_BYTES + payload.byteLength);
  assert.deepEqual([...message.subarray(0, 4)], [1, 1, 1, 0]);
  assert.deepEqual([...message.subarray(4, 8)], [0xff, 0xff, 0xff, 0xfe]);
  const decoded = decodeFrame(message);
  assert.deepEqual(decoded.header, header);
  assert.deepEqual([...decoded.payload], [...payload]);
});

test('the payload is a view into the message, not a copy', () => {
  const message = encodeFrame({ track: Track.Audio, keyframe: false, catchUp: false, sequence: 1, captureTimeUs: 5 }, payload);
  const { payload: view } = decodeFrame(message);
  assert.equal(view.buffer, message.buffer);
});

test('the backfill flag is bit2, apart from keyframe and catch-up; a writer may leave it out (a live frame)', () => {
  const message = encodeFrame({ track: Track.Video, keyframe: true, catchUp: false, backfill: true, sequence: 3, captureTimeUs: 9 }, payload);
  assert.equal(message[2], 0b101);
  assert.deepEqual(
    { ...readFrameHeader(message) },
    { track: Track.Video, keyframe: true, catchUp: false, backfill: true, sequence: 3, captureTimeUs: 9 },
  );
  const live = encodeFrame({ track: Track.Audio, keyframe: false, catchUp: false, sequence: 4, captureTimeUs: 10 }, payload);
  assert.equal(live[2], 0);
  assert.equal(readFrameHeader(live).backfill, false);
});

test('the catch-up flag can be set and cleared in place', () => {
  const message = encodeFrame({ track: Track.Video, keyframe: true, catchUp: false, sequence: 7, captureTimeUs: 9 }, payload);
  setCatchUpFlag(message, true);
  assert.equal(readFrameHeader(message).catchUp, true);
  assert.equal(readFrameHeader(message).keyframe, true);
  setCatchUpFlag(message, false);
  assert.equal(readFrameHeader(message).catchUp, false);
});

test('malformed headers fail with typed codes', () => {
  const good = encodeFrame({ track: Track.Video, keyframe: false, catchUp: false, sequence: 1, captureTimeUs: 1 }, payload);
  const cases: Array<[string, Uint8Array, string]> = [
    ['too short', good.subarray(0, 15), 'ERR_FRAME_TOO_SHORT'],
    ['bad version', withByte(good, 0, 2), 'ERR_FRAME_VERSION'],
    ['bad track', withByte(good, 1, 3), 'ERR_FRAME_TRACK'],
    ['unknown flags', withByte(good, 2, 0x80), 'ERR_FRAME_FLAGS'],
    ['unknown flag bit3', withByte(good, 2, 0x08), 'ERR_FRAME_FLAGS'],
    ['reserved set', withByte(good, 3, 1), 'ERR_FRAME_RESERVED'],
    ['capture time past 2^53 us', withByte(good, 8, 0x01), 'ERR_FRAME_TIME'],
    ['empty payload', good.subarray(0, 16), 'ERR_FRAME_EMPTY'],
  ];
  for (const [name, bytes, code] of cases) {
    assert.throws(() => decodeFrame(bytes), (err: unknown) => err instanceof ProtocolError && err.code === code, name);
  }
  assert.throws(() => decodeFrame(good, 3), (err: unknown) => err instanceof ProtocolError && err.code === 'ERR_FRAME_TOO_LARGE');
});

test('random bytes never throw anything but ProtocolError', () => {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const bytes = Uint8Array.from({ length: next() % 40 }, next);
    try {
      decodeFrame(bytes);
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
    }
  }
});

test('sequence distance wraps at 2^32', () => {
  assert.equal(sequenceDistance(0xffffffff, 1), 2);
  assert.equal(sequenceDistance(10, 15), 5);
});

function withByte(source: Uint8Array, index: number, value: number): Uint8Array {
  const copy = source.slice();
  copy[index] = value;
  return copy;
}

test('capture times up to 2^53 - 1 microseconds round-trip exactly; a larger one is refused, not rounded', () => {
  for (const captureTimeUs of [0, 2 ** 32 - 1, 2 ** 32, 1_764_000_000_123_457, Number.MAX_SAFE_INTEGER]) {
    const message = encodeFrame({ track: Track.Video, keyframe: false, catchUp: false, sequence: 1, captureTimeUs }, payload);
    assert.equal(readFrameHeader(message).captureTimeUs, captureTimeUs);
  }
  const past = encodeFrame({ track: Track.Video, keyframe: false, catchUp: false, sequence: 1, captureTimeUs: 0 }, payload);
  new DataView(past.buffer, past.byteOffset).setUint32(8, 2 ** 21);
  assert.throws(() => readFrameHeader(past), (err: unknown) => err instanceof ProtocolError && err.code === 'ERR_FRAME_TIME' && err.closeCode === 1007);
});
