import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameFlag, Track, decodeFrame, encodeFrame } from '@picam/protocol';
import { createMetrics } from '../metrics.ts';
import { PREPARE_MIN_VIEWERS, preparedFrames } from '../ws/prepared-frames.ts';
import type { HubFrame } from './frame.ts';
import { Stream } from './stream.ts';
import { ViewerSession, type ViewerSink } from './viewer-session.ts';

/**
 * Stream.publish with the relay's own WebSocket encoder (ws/prepared-frames.ts): stamp, then encode
 * once for all viewers when enough watch, then fan out. Sinks record what a socket would be given.
 */

class RecordingSink implements ViewerSink {
  bufferedAmount = 0;
  binary: Array<{ message: Buffer; wire: Buffer | undefined }> = [];
  sendBinary(message: Buffer, wire?: Buffer) {
    this.binary.push({ message, wire });
  }
  sendText() {}
  close() {}
}

const SPS = { codec: 'avc1.64001f', width: 640, height: 480 };

function agentFrame(keyframe: boolean, captureMs: number): HubFrame {
  // The agent's own sequence number, which the relay replaces with its own.
  const header = { track: Track.Video, keyframe, catchUp: false, sequence: 999, captureTimeUs: captureMs * 1000 };
  const message = Buffer.from(encodeFrame(header, new Uint8Array([0, 0, 0, 1, keyframe ? 0x65 : 0x41, captureMs & 0xff])));
  return { message, track: Track.Video, keyframe, captureTimeUs: captureMs * 1000, sequence: 0 };
}

function streamWithViewers(count: number): { stream: Stream; epoch: number; sinks: RecordingSink[] } {
  const stream = new Stream({ cameraId: 'c1', name: 'porch', metrics: createMetrics().forCamera('c1'), encoder: preparedFrames });
  const epoch = stream.attachPublisher(() => {});
  const sinks = Array.from({ length: count }, () => new RecordingSink());
  for (const sink of sinks) stream.addViewer(new ViewerSession(sink));
  return { stream, epoch, sinks };
}

/** The payload of a prepared WebSocket frame (FIN+binary, unmasked, any length form). */
function wirePayload(wire: Buffer): Buffer {
  const len = wire[1]!;
  return wire.subarray(len === 127 ? 10 : len === 126 ? 4 : 2);
}

describe('Stream.publish', () => {
  it(`below ${PREPARE_MIN_VIEWERS} viewers: the agent's message itself, stamped, goes to every viewer`, () => {
    const { stream, epoch, sinks } = streamWithViewers(PREPARE_MIN_VIEWERS - 1);
    const frame = agentFrame(true, 0);
    const received = frame.message;
    stream.publish(epoch, frame, SPS);
    assert.equal(frame.message, received, 'not copied');
    for (const sink of sinks) {
      assert.equal(sink.binary.length, 1);
      assert.equal(sink.binary[0]!.message, received);
      assert.equal(sink.binary[0]!.wire, undefined);
    }
    assert.equal(decodeFrame(received).header.sequence, 0, "the relay's sequence, not the agent's");
  });

  it(`from ${PREPARE_MIN_VIEWERS} viewers: encoded once after stamping, the same bytes to all, the GOP cache holding them once`, () => {
    const { stream, epoch, sinks } = streamWithViewers(PREPARE_MIN_VIEWERS);
    const frames = [agentFrame(true, 0), agentFrame(false, 33), agentFrame(false, 66)];
    for (const frame of frames) stream.publish(epoch, frame, frame.keyframe ? SPS : undefined);

    frames.forEach((frame, i) => {
      const { message, wire } = sinks[0]!.binary[i]!;
      assert.ok(wire, 'a prepared frame');
      assert.equal(decodeFrame(wirePayload(wire)).header.sequence, i, 'the stamp is on the wire');
      // The kept message is a view into the wire bytes: one copy per frame, not two.
      assert.equal(frame.message, message);
      assert.equal(message.buffer, wire.buffer);
      assert.equal(message.byteOffset, wire.byteOffset + wire.byteLength - message.byteLength);
      for (const sink of sinks) assert.equal(sink.binary[i]!.wire, wire, 'one encoding for every viewer');
    });

    // A joiner gets the cached GOP flagged catch-up, with the stamped sequence numbers.
    const joiner = new RecordingSink();
    stream.addViewer(new ViewerSession(joiner));
    assert.deepEqual(
      joiner.binary.map(({ message, wire }) => {
        const { header } = decodeFrame(message);
        return [header.sequence, (message[2]! & FrameFlag.CatchUp) !== 0, wire];
      }),
      [
        [0, true, undefined],
        [1, true, undefined],
        [2, true, undefined],
      ],
    );
  });
});

describe('Stream.publish with a forwarding publisher (a cluster owner)', () => {
  it("other nodes' copy is handed over, stamped, before any viewer here has the frame; the viewers get every frame in order before the next task", async () => {
    const stream = new Stream({ cameraId: 'c1', name: 'porch', metrics: createMetrics().forCamera('c1'), encoder: preparedFrames });
    const sink = new RecordingSink();
    const events: string[] = [];
    const epoch = stream.attachPublisher(
      () => {},
      (frame) => {
        events.push(`forward ${decodeFrame(frame.message).header.sequence} (viewer has ${sink.binary.length})`);
        // The NATS client flushes what was published on a microtask, queued at the first publish.
        if (events.length === 1) queueMicrotask(() => events.push(`flush (viewer has ${sink.binary.length})`));
        return true;
      },
    );
    stream.addViewer(new ViewerSession(sink));
    stream.publish(epoch, agentFrame(true, 0), SPS);
    stream.publish(epoch, agentFrame(false, 33));
    assert.equal(sink.binary.length, 0, 'not yet: the flush goes first');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, ['forward 0 (viewer has 0)', 'forward 1 (viewer has 0)', 'flush (viewer has 0)']);
    assert.deepEqual(
      sink.binary.map((b) => decodeFrame(b.message).header.sequence),
      [0, 1],
    );
  });

  it('a frame whose publisher left before its turn is not served', async () => {
    const stream = new Stream({ cameraId: 'c1', name: 'porch', metrics: createMetrics().forCamera('c1'), encoder: preparedFrames });
    const sink = new RecordingSink();
    const epoch = stream.attachPublisher(() => {}, () => true);
    stream.addViewer(new ViewerSession(sink));
    stream.publish(epoch, agentFrame(true, 0), SPS);
    stream.detachPublisher(epoch);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sink.binary.length, 0);
  });
});
