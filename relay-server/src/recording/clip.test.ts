import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { openDatabase } from '../db/client.ts';
import { insertCamera } from '../db/cameras.ts';
import { indexWritten, insertSegment, type NewFragment } from '../db/recordings.ts';
import { clipBytes, planClip } from './clip.ts';
import { VIDEO_TRACK_ID, initSegment, parseFragment } from './fmp4.ts';
import { createLogger } from '../logger.ts';
import { repairRecordings } from './repair.ts';
import { SegmentWriter } from './segment-writer.ts';

// A Baseline 640x480 SPS and a PPS as the Pi's encoder writes them (emulation prevention kept).
const SPS = Uint8Array.from([0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x3d, 0xa1, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x8f, 0x16, 0x2e, 0x48]);
const AVCC = Uint8Array.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, SPS.length, ...SPS, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);
const VIDEO = { width: 640, height: 480, avcC: AVCC };

/** Frame n as Annex B: one NAL unit holding its number (no zero bytes), so the clip's samples say which frames they are. */
const FRAME_MARK = 0x10101010;
function frameBytes(n: number): Buffer {
  const b = Buffer.from([0, 0, 0, 1, n === 0 ? 0x65 : 0x41, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
  b.writeUInt32BE(FRAME_MARK + n, 8);
  return b;
}

type Opened = Awaited<ReturnType<typeof openDatabase>>;

/** A camera and one live segment being written in a temp dir; `written` collects the fragments as the writer reports them. */
async function recordingFixture(startUs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'picam-clip-'));
  const opened: Opened = await openDatabase({ dataDir: join(dir, 'data') });
  const cameraId = 'cam-clip';
  await insertCamera(opened.db, { id: cameraId, name: 'Clip', settings: DEFAULT_CAMERA_SETTINGS, createdAt: Date.now() });
  const init = initSegment(VIDEO, null);
  const path = `${cameraId}/segment.mp4`;
  const segmentId = insertSegment(opened.index, { cameraId, path, startUs, endUs: startUs, bytes: init.byteLength, initBytes: init.byteLength, backfill: false });
  const written: NewFragment[] = [];
  const failures: Error[] = [];
  const writer = new SegmentWriter({
    segmentId,
    cameraId,
    file: join(dir, 'rec', path),
    startUs,
    backfill: false,
    video: VIDEO,
    audio: null,
    framerate: 30,
    init,
    sink: {
      written: (_w, f) => written.push(f),
      failed: (_w, err) => failures.push(err),
      dropped: () => assert.fail('nothing is dropped'),
    },
  });
  const index = (fragments: NewFragment[]) =>
    indexWritten(opened.index, [{ segmentId, cameraId, fragments, endUs: fragments.at(-1)!.endUs, bytes: fragments.at(-1)!.offset + fragments.at(-1)!.length }]);
  const cleanup = async () => {
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, recordings: join(dir, 'rec'), opened, cameraId, writer, written, failures, index, cleanup };
}

/** The clip from `fromUs` to `toUs`, served: its video samples' frame numbers and decode times. */
async function clipFrames(db: Opened['index'], recordings: string, cameraId: string, fromUs: number, toUs: number) {
  const plan = await planClip(db, recordings, cameraId, fromUs, toUs);
  assert.ok(plan);
  const chunks: Uint8Array[] = [];
  for await (const c of clipBytes(plan, recordings, 0, plan.size)) chunks.push(c);
  const clip = Buffer.concat(chunks);
  assert.equal(clip.byteLength, plan.size);
  const frames: number[] = [];
  const dts: number[] = [];
  let at = plan.init.byteLength;
  while (at < clip.byteLength) {
    const moofSize = clip.readUInt32BE(at);
    const mdatSize = clip.readUInt32BE(at + moofSize);
    const fragment = clip.subarray(at, at + moofSize + mdatSize);
    const parsed = parseFragment(fragment);
    assert.ok(parsed, `a fragment at byte ${at}`);
    for (const run of parsed.runs.filter((r) => r.trackId === VIDEO_TRACK_ID)) {
      let t = run.baseDecodeTime;
      for (const s of run.samples) {
        frames.push(fragment.readUInt32BE(s.dataOffset + 8) - FRAME_MARK);
        dts.push(t);
        t += s.duration;
      }
    }
    at += fragment.byteLength;
  }
  return { frames, dts };
}

test('a clip holds every recorded frame, also a lone frame whose fragment spans microseconds (a burst under load)', async () => {
  const startUs = 1_700_000_000_000_000;
  const rec = await recordingFixture(startUs);
  try {
    // Frames 0..29 a GOP, 30 a keyframe. The agent stalls before frame 29: it is stamped more than a
    // second after frame 0 (a fragment of its own, FRAGMENT_MAX_US) and keyframe 30 comes 200 µs later.
    // Frame 31, the segment's last, comes more than a second after 30: a fragment of its own that
    // ends 1 µs after it (closed without a next frame).
    const times = Array.from({ length: 30 }, (_, n) => startUs + n * 33_333);
    times[29] = startUs + 1_010_000;
    times.push(times[29]! + 200, times[29]! + 1_010_200);
    times.forEach((t, n) => {
      const keyframe = n % 30 === 0;
      assert.ok(rec.writer.addVideo(t, keyframe, frameBytes(n)));
    });
    await rec.writer.close();
    assert.deepEqual(rec.failures, []);
    for (const n of [29, 31]) {
      const lone = rec.written.find((f) => f.startUs === times[n]);
      assert.ok(lone && lone.endUs - lone.startUs < 1000, `frame ${n} has a fragment of its own spanning < 1 ms: ${JSON.stringify(rec.written)}`);
    }
    rec.index(rec.written);

    const { frames, dts } = await clipFrames(rec.opened.index, rec.recordings, rec.cameraId, startUs, times.at(-1)! + 1);
    assert.deepEqual(frames, Array.from({ length: 32 }, (_, n) => n), 'every frame, in order, once');
    assert.ok(
      dts.every((t, i) => i === 0 || t > dts[i - 1]!),
      `decode times only go forward: ${dts.join(',')}`,
    );
  } finally {
    await rec.cleanup();
  }
});

test('after a crash, fragments that only the file held join the indexed ones without losing the keyframe at the seam', async () => {
  // Capture times 14 ms past the decode-time grid (the agent stamps when it reads, at any phase of
  // the frame interval): a fragment's decode time then says it starts 14 ms before its capture time.
  const startUs = 1_700_000_000_000_000 + 14_000;
  const rec = await recordingFixture(startUs);
  try {
    const times = Array.from({ length: 120 }, (_, n) => startUs + n * 33_333);
    times.forEach((t, n) => assert.ok(rec.writer.addVideo(t, n % 30 === 0, frameBytes(n))));
    await rec.writer.close();
    assert.deepEqual(rec.failures, []);
    assert.equal(rec.written.length, 4, 'a fragment a GOP');
    // The index batch of the last two fragments never ran (kill -9): only the file has them.
    rec.index(rec.written.slice(0, 2));
    const result = repairRecordings(rec.opened.index, rec.recordings, createLogger('silent'));
    assert.equal(result.recovered, 2);

    const { frames } = await clipFrames(rec.opened.index, rec.recordings, rec.cameraId, startUs, times.at(-1)! + 1);
    assert.deepEqual(frames, Array.from({ length: 120 }, (_, n) => n), 'every frame, in order, once');
  } finally {
    await rec.cleanup();
  }
});
