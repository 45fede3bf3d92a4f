import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, closeReason } from './close-codes.ts';
import { ProtocolError } from './errors.ts';
import { Track, decodeFrame, encodeFrame } from './frame-header.ts';
import { parseMessage, viewerMessageSchema } from './messages.ts';

function thrown(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, String(err));
    return err;
  }
  assert.fail('did not throw');
}

test('a ProtocolError carries the close code its failure calls for', () => {
  const frame = encodeFrame({ track: Track.Video, keyframe: false, catchUp: false, sequence: 1, captureTimeUs: 0 }, new Uint8Array(100));
  assert.equal(thrown(() => decodeFrame(frame, 10)).closeCode, CloseCode.MessageTooBig);
  const otherVersion = frame.slice();
  otherVersion[0] = 9;
  assert.equal(thrown(() => decodeFrame(otherVersion)).closeCode, CloseCode.PolicyViolation);
  assert.equal(thrown(() => decodeFrame(frame.subarray(0, 10))).closeCode, CloseCode.InvalidData);
  assert.equal(thrown(() => parseMessage(viewerMessageSchema, '{not json')).closeCode, CloseCode.InvalidData);
  assert.equal(thrown(() => parseMessage(viewerMessageSchema, '{"type":"ack"}')).closeCode, CloseCode.InvalidData);
});

test('closeReason keeps a short reason and cuts a long one to 123 bytes of UTF-8, never inside a character', () => {
  assert.equal(closeReason('frame before hello'), 'frame before hello');
  const long = 'é'.repeat(100); // 200 bytes
  const cut = closeReason(long);
  assert.ok(new TextEncoder().encode(cut).byteLength <= 123);
  assert.ok(cut.endsWith('...'));
  assert.ok(long.startsWith(cut.slice(0, -3)));
});
