import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloseCode, Track, decodeFrame, encodeFrame } from '@picam/protocol';
import type { HubFrame } from './frame.ts';
import { Offer, ViewerSession, type StreamContext, type ViewerSink } from './viewer-session.ts';

/** The per-viewer pacing rules alone, with a sink whose bufferedAmount the test sets. */

class FakeSink implements ViewerSink {
  bufferedAmount = 0;
  binary: Buffer[] = [];
  text: string[] = [];
  closedWith: number | undefined;
  sendBinary(message: Buffer) {
    this.binary.push(message);
  }
  sendText(text: string) {
    this.text.push(text);
  }
  close(code: number) {
    this.closedWith = code;
  }
}

const ctx: StreamContext = { formatKey: 'f1', initText: '{"type":"init"}', budgetBytes: 1000 };
let seq = 0;
function frame(keyframe: boolean, captureMs: number, track: Track = Track.Video): HubFrame {
  const sequence = seq++;
  const message = Buffer.from(encodeFrame({ track, keyframe, catchUp: false, sequence, captureTimeUs: captureMs * 1000 }, new Uint8Array([0, 0, 1, 0x65])));
  return { message, track, keyframe, captureTimeUs: captureMs * 1000, sequence };
}

describe('ViewerSession', () => {
  it('waits for a keyframe, sends init once, then every frame', () => {
    const sink = new FakeSink();
    const v = new ViewerSession(sink);
    assert.equal(v.offerVideo(frame(false, 0), undefined, ctx, 0), Offer.Waiting);
    assert.equal(v.offerAudio(frame(false, 0, Track.Audio), undefined, ctx), Offer.Waiting);
    assert.equal(v.offerVideo(frame(true, 33), undefined, ctx, 33), Offer.Sent);
    assert.equal(v.offerVideo(frame(false, 66), undefined, ctx, 66), Offer.Sent);
    assert.equal(v.offerVideo(frame(true, 99), undefined, ctx, 99), Offer.Sent);
    assert.deepEqual(sink.text, [ctx.initText]);
    assert.equal(sink.binary.length, 3);
  });

  it('over its byte budget skips to the next keyframe that finds the socket drained', () => {
    const sink = new FakeSink();
    const v = new ViewerSession(sink);
    v.offerVideo(frame(true, 0), undefined, ctx, 0);
    sink.bufferedAmount = 5000;
    assert.equal(v.offerVideo(frame(false, 33), undefined, ctx, 33), Offer.Slow);
    sink.bufferedAmount = 0;
    assert.equal(v.offerVideo(frame(false, 66), undefined, ctx, 66), Offer.Slow, 'still skipping: no keyframe yet');
    assert.equal(v.offerAudio(frame(false, 70, Track.Audio), undefined, ctx), Offer.Sent, 'audio flows within budget');
    sink.bufferedAmount = 5000;
    assert.equal(v.offerVideo(frame(true, 99), undefined, ctx, 99), Offer.Slow, 'a keyframe while over budget does not resume');
    assert.equal(v.offerAudio(frame(false, 100, Track.Audio), undefined, ctx), Offer.Slow);
    sink.bufferedAmount = 0;
    assert.equal(v.offerVideo(frame(true, 132), undefined, ctx, 132), Offer.Sent);
    assert.equal(v.offerVideo(frame(false, 165), undefined, ctx, 165), Offer.Sent);
  });

  it('skips on lag from acks, waits for the backlog to drain before resuming, and ignores a viewer that never acks', () => {
    const sink = new FakeSink();
    const v = new ViewerSession(sink);
    const first = frame(true, 0);
    v.offerVideo(first, undefined, ctx, 0);
    v.ack(first.sequence);
    let t = 0;
    let result: Offer = Offer.Sent;
    let lastSentSequence = first.sequence;
    while (result === Offer.Sent) {
      t += 33;
      const next = frame(false, t);
      result = v.offerVideo(next, undefined, ctx, t);
      if (result === Offer.Sent) lastSentSequence = next.sequence;
    }
    assert.equal(result, Offer.Lag);
    assert.ok(t > 500 && t < 600, `lag detected after ~500 ms of unacknowledged frames (${t})`);
    // Its backlog is still in flight: restarting now would only skip again ~500 ms later, forever.
    assert.equal(v.offerVideo(frame(true, t + 33), undefined, ctx, t + 33), Offer.Lag, 'no restart into an undrained backlog');
    // The viewer catches up with what it was sent (its acks reach the last frame sent)...
    v.ack(lastSentSequence);
    // ...and the next keyframe restarts it; the skipped interval itself does not count as lag.
    assert.equal(v.offerVideo(frame(true, t + 66), undefined, ctx, t + 66), Offer.Sent, 'resumes at the next keyframe once drained');
    assert.equal(v.offerVideo(frame(false, t + 99), undefined, ctx, t + 99), Offer.Sent);

    const silent = new ViewerSession(new FakeSink());
    silent.offerVideo(frame(true, 0), undefined, ctx, 0);
    for (let ms = 33; ms < 5000; ms += 33) assert.equal(silent.offerVideo(frame(false, ms), undefined, ctx, ms), Offer.Sent);
  });

  it('a pause in the stream is not lag: an up-to-date viewer gets the first frame after it', () => {
    const sink = new FakeSink();
    const v = new ViewerSession(sink);
    for (let ms = 0; ms <= 330; ms += 33) {
      const f = frame(ms === 0, ms);
      assert.equal(v.offerVideo(f, undefined, ctx, ms), Offer.Sent);
      v.ack(f.sequence);
    }
    // The camera stalls for 1.5 s (or the agent dropped frames up to a keyframe): the viewer has
    // everything it was sent, so the next frame plays at once instead of waiting for another keyframe.
    assert.equal(v.offerVideo(frame(true, 1830), undefined, ctx, 1830), Offer.Sent);
    assert.equal(v.offerVideo(frame(false, 1863), undefined, ctx, 1863), Offer.Sent);
  });

  it('closes a viewer over budget for 20 s with 4010', () => {
    const sink = new FakeSink();
    const v = new ViewerSession(sink);
    v.offerVideo(frame(true, 0), undefined, ctx, 0);
    sink.bufferedAmount = 5000;
    assert.equal(v.offerVideo(frame(false, 1000), undefined, ctx, 1000), Offer.Slow);
    assert.equal(v.offerVideo(frame(true, 20_000), undefined, ctx, 20_000), Offer.Slow);
    assert.equal(sink.closedWith, undefined);
    assert.equal(v.offerVideo(frame(false, 21_500), undefined, ctx, 21_500), Offer.Closed);
    assert.equal(sink.closedWith, CloseCode.TooSlow);
  });

  it('lets a catch-up burst exceed the budget until it drains', () => {
    const sink = new FakeSink();
    const v = new ViewerSession(sink);
    const gop = [frame(true, 0), frame(false, 33), frame(false, 66)];
    v.startWithCatchUp(ctx, gop);
    assert.equal(sink.binary.length, 3);
    assert.ok(sink.binary.every((m) => (m[2]! & 0b10) !== 0), 'catch-up flag set on the copies');
    assert.ok(gop.every((f) => (f.message[2]! & 0b10) === 0), 'live messages untouched');
    sink.bufferedAmount = 1000 + 60; // the burst itself, still in flight
    assert.equal(v.offerVideo(frame(false, 99), undefined, ctx, 99), Offer.Sent);
  });

  describe('keyframes only', () => {
    const tile = { keyframesOnly: true, minIntervalMs: 2000 };
    /** `seconds` of a 30 fps stream with a keyframe a second, each keyframe 5 ms early (capture jitter). */
    function stream(seconds: number): HubFrame[] {
      return Array.from({ length: seconds * 30 }, (_, i) => (i % 30 === 0 ? frame(true, Math.max(0, Math.round((i * 1000) / 30) - 5)) : frame(false, Math.round((i * 1000) / 30))));
    }
    const headers = (sink: FakeSink) => sink.binary.map((m) => decodeFrame(m).header);

    it('sends a keyframe at most every interval, no delta frame and no audio', () => {
      const sink = new FakeSink();
      const v = new ViewerSession(sink);
      v.setQuality(tile, []);
      // A GOP of 1 s with its keyframes a few ms early (jitter): one every 2 s, not one every 3 s.
      let started = false;
      for (const f of stream(10)) {
        const offer = v.offerVideo(f, undefined, ctx, f.captureTimeUs / 1000);
        assert.notEqual(offer, Offer.Slow);
        assert.notEqual(offer, Offer.Lag);
        if (offer === Offer.Sent) v.ack(f.sequence);
        if (offer === Offer.Sent) started = true;
        assert.equal(v.offerAudio(frame(false, f.captureTimeUs / 1000, Track.Audio), undefined, ctx), started ? Offer.NotWanted : Offer.Waiting);
      }
      const sent = headers(sink);
      assert.ok(sent.every((h) => h.keyframe && h.track === Track.Video), 'keyframes only');
      assert.deepEqual(
        sent.map((h) => h.captureTimeUs / 1000),
        [0, 1995, 3995, 5995, 7995],
      );
    });

    it('back to full rate: the rest of the GOP at once, flagged catch-up, then every frame', () => {
      const sink = new FakeSink();
      const v = new ViewerSession(sink);
      v.setQuality(tile, []);
      const frames = stream(3).filter((f) => f.captureTimeUs < 2_500_000);
      let gop: HubFrame[] = [];
      for (const f of frames) {
        if (f.keyframe) gop = [];
        gop.push(f);
        v.offerVideo(f, undefined, ctx, f.captureTimeUs / 1000);
      }
      // Keyframes sent at 0 and 1995; the GOP from there holds ~15 frames after its keyframe.
      assert.deepEqual(headers(sink).map((h) => h.captureTimeUs / 1000), [0, 1995]);
      sink.binary = [];
      v.setQuality({ keyframesOnly: false, minIntervalMs: 0 }, gop);
      const filled = headers(sink);
      assert.equal(filled.length, gop.length - 1, 'the GOP after the keyframe it already has');
      assert.ok(filled.every((h) => h.catchUp && !h.keyframe));
      assert.deepEqual(filled.map((h) => h.sequence), gop.slice(1).map((f) => f.sequence), 'in order, none missing');
      // Then live at full rate, the burst not counted as lag, with audio again.
      for (let ms = 2500; ms < 3500; ms += 33) {
        const f = frame(false, ms);
        assert.equal(v.offerVideo(f, undefined, ctx, ms), Offer.Sent);
        v.ack(f.sequence);
      }
      assert.equal(v.offerAudio(frame(false, 3500, Track.Audio), undefined, ctx), Offer.Sent);
    });

    it('back to full rate after a keyframe it did not get: the whole GOP from its keyframe; without a GOP, the next keyframe', () => {
      const sink = new FakeSink();
      const v = new ViewerSession(sink);
      v.setQuality(tile, []);
      v.offerVideo(frame(true, 0), undefined, ctx, 0);
      const gop = [frame(true, 1000), frame(false, 1033)];
      for (const f of gop) assert.equal(v.offerVideo(f, undefined, ctx, f.captureTimeUs / 1000), Offer.NotWanted);
      sink.binary = [];
      v.setQuality({ keyframesOnly: false, minIntervalMs: 0 }, gop);
      assert.deepEqual(headers(sink).map((h) => [h.sequence, h.keyframe, h.catchUp]), [
        [gop[0]!.sequence, true, true],
        [gop[1]!.sequence, false, true],
      ]);

      const waiting = new ViewerSession(new FakeSink());
      waiting.setQuality(tile, []);
      waiting.offerVideo(frame(true, 0), undefined, ctx, 0);
      waiting.setQuality({ keyframesOnly: false, minIntervalMs: 0 }, []);
      assert.equal(waiting.offerVideo(frame(false, 33), undefined, ctx, 33), Offer.Waiting, 'a delta frame after keyframes it never got would corrupt the picture');
      assert.equal(waiting.offerVideo(frame(true, 66), undefined, ctx, 66), Offer.Sent);
    });

    it('a tile that does not ack its keyframes is skipped like any slow viewer, and resumes once it has', () => {
      const sink = new FakeSink();
      const v = new ViewerSession(sink);
      v.setQuality({ keyframesOnly: true, minIntervalMs: 1000 }, []);
      const k0 = frame(true, 0);
      assert.equal(v.offerVideo(k0, undefined, ctx, 0), Offer.Sent);
      v.ack(k0.sequence);
      const k1 = frame(true, 1000);
      assert.equal(v.offerVideo(k1, undefined, ctx, 1000), Offer.Sent, 'one keyframe in flight is not lag');
      const k2 = frame(true, 2000);
      assert.equal(v.offerVideo(k2, undefined, ctx, 2000), Offer.Sent);
      assert.equal(v.offerVideo(frame(true, 3000), undefined, ctx, 3000), Offer.Lag, 'a second of keyframes unacknowledged');
      v.ack(k2.sequence);
      assert.equal(v.offerVideo(frame(true, 4000), undefined, ctx, 4000), Offer.Sent);
      sink.bufferedAmount = 5000;
      assert.equal(v.offerVideo(frame(false, 4033), undefined, ctx, 4033), Offer.NotWanted, 'a frame it does not want is not a drop');
      assert.equal(v.offerVideo(frame(true, 5000), undefined, ctx, 5000), Offer.Slow);
    });

    it('asked for before joining: the catch-up is the GOP keyframe alone', () => {
      const sink = new FakeSink();
      const v = new ViewerSession(sink);
      v.setQuality(tile, []);
      v.startWithCatchUp(ctx, [frame(true, 0), frame(false, 33), frame(false, 40, Track.Audio), frame(false, 66)]);
      assert.deepEqual(headers(sink).map((h) => [h.keyframe, h.catchUp, h.track]), [[true, true, Track.Video]]);
      assert.equal(v.offerVideo(frame(false, 99), undefined, ctx, 99), Offer.NotWanted);
    });
  });
});
