import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Track, encodeFrame } from '@picam/protocol';
import { createMetrics } from '../metrics.ts';
import { preparedFrames } from '../ws/prepared-frames.ts';
import type { HubFrame } from './frame.ts';
import type { StreamObserver } from './hub.ts';
import { InProcessHub } from './in-process-hub.ts';
import type { ViewerSink } from './viewer-session.ts';

/**
 * The recorder's seat on a stream (StreamHub.observe): every frame after the viewers were offered
 * it, the publisher's hello and end, and the agent's demand counting it so an on-demand camera
 * keeps capturing; it is no viewer.
 */

function frame(keyframe: boolean, captureMs: number): HubFrame {
  const header = { track: Track.Video, keyframe, catchUp: false, sequence: 0, captureTimeUs: captureMs * 1000 };
  const message = Buffer.from(encodeFrame(header, new Uint8Array([0, 0, 0, 1, keyframe ? 0x65 : 0x41, 1])));
  return { message, track: Track.Video, keyframe, captureTimeUs: captureMs * 1000, sequence: 0 };
}

const sink = (log: string[]): ViewerSink => ({
  bufferedAmount: 0,
  sendBinary: () => log.push('viewer'),
  sendText: () => {},
  close: () => {},
});

describe('StreamHub.observe', () => {
  it('sees hello, every frame after the viewers, and the end; counts in demand but not in viewers', () => {
    const hub = new InProcessHub({ metrics: createMetrics(), encoder: preparedFrames });
    const demands: number[] = [];
    const publisher = hub.openPublisher('c1', { name: 'porch', onViewerCount: (n) => demands.push(n) });
    publisher.hello({ agentVersion: 't', framerate: 30, audio: null });
    const log: string[] = [];
    const subscription = hub.subscribe('c1', sink(log), { name: 'porch' });
    log.length = 0;

    const observer: StreamObserver = {
      publisherInfo: (info) => log.push(`hello ${info.agentVersion}`),
      frame: (f) => log.push(`frame ${f.captureTimeUs / 1000}`),
      publisherEnded: () => log.push('ended'),
    };
    const detach = hub.observe('c1', observer);
    assert.deepEqual(log, ['hello t'], 'attached to a live publisher: its hello at once');
    assert.equal(hub.viewerCount('c1'), 1, 'not a viewer');
    assert.equal(hub.demand('c1'), 2, 'but wanted: the agent keeps capturing');
    assert.equal(demands.at(-1), 2, 'and the agent is told');

    publisher.publish(frame(true, 0));
    publisher.publish(frame(false, 33));
    assert.deepEqual(log.slice(1), ['viewer', 'frame 0', 'viewer', 'frame 33'], 'after the viewers, each frame');

    subscription.close();
    assert.equal(hub.demand('c1'), 1, 'recording alone keeps the camera wanted');
    publisher.close();
    assert.equal(log.at(-1), 'ended');

    detach();
    assert.equal(hub.demand('c1'), 0);
  });
});
