import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeGop, encodeGop } from './gop-codec.ts';

describe('GOP reply codec', () => {
  const meta = { node: 'node-a', epoch: 7, info: { agentVersion: '1.2.3', framerate: 30, audio: null }, camera: 'running' as const };

  it('carries the meta and every frame, each its own copy', () => {
    const frames = [Buffer.from('first frame'), Buffer.alloc(0), Buffer.from([1, 2, 3, 4, 5])];
    const encoded = encodeGop(meta, frames);
    const decoded = decodeGop(encoded);
    assert.ok(decoded);
    assert.deepEqual(decoded.meta, meta);
    assert.deepEqual(decoded.frames.map((f) => [...f]), frames.map((f) => [...f]));
    // The local stream stamps its sequence into what it is given: the reply's bytes stay as they were.
    decoded.frames[0]![0] = 0;
    assert.equal(encoded[encoded.byteLength - 5 - 4 - 4 - 11], 'f'.charCodeAt(0));
  });

  it('an empty GOP (the camera has not sent a keyframe yet) is the meta alone', () => {
    assert.deepEqual(decodeGop(encodeGop(meta, []))?.frames, []);
  });

  it('refuses what is cut short or not its shape', () => {
    const encoded = encodeGop(meta, [Buffer.from('frame')]);
    assert.equal(decodeGop(encoded.subarray(0, encoded.byteLength - 1)), undefined);
    assert.equal(decodeGop(encoded.subarray(0, 3)), undefined);
    assert.equal(decodeGop(encodeGop({ ...meta, epoch: 'x' } as unknown as typeof meta, [])), undefined);
  });
});
