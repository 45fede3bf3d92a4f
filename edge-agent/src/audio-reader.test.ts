import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AdtsSplitter, type AudioFormat } from '@picam/protocol';
import { AUDIO_RESYNC_US, AudioReader, type CapturedAudioFrame } from './audio-reader.ts';

const clip = (name: string) => readFileSync(new URL(`../../test/fixtures/clips/${name}`, import.meta.url));
const MONO = new AdtsSplitter().push(clip('tone-48k-mono.aac'));
const STEREO = new AdtsSplitter().push(clip('tone-44k1-stereo.aac'));
const FRAME_US = (1024 * 1e6) / 48000;
/** epoch µs: doubles there step by 0.25 µs, so stamps are compared within 2 µs */
const T0 = 1_700_000_000_000_000;

/** A reader on a hand-driven clock. */
function harness() {
  let now = T0;
  const frames: CapturedAudioFrame[] = [];
  const formats: AudioFormat[] = [];
  const errors: string[] = [];
  const reader = new AudioReader({
    clock: { nowUs: () => now },
    onFrame: (f) => frames.push(f),
    onFormat: (f) => formats.push(f),
    onError: (m) => errors.push(m),
  });
  return {
    reader,
    frames,
    formats,
    errors,
    /** pushes `chunk` as read at `atUs` */
    at(atUs: number, chunk: Uint8Array) {
      now = atUs;
      reader.push(chunk);
    },
  };
}

function assertIncreasing(frames: CapturedAudioFrame[]): void {
  for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.captureTimeUs > frames[i - 1]!.captureTimeUs, `stamp ${i} increases`);
}

test('frames pass byte-identical, format announced once, stamped at the start of their sound', () => {
  const h = harness();
  // A real-time source: frame i is read the moment its last sample exists, at T0 + (i + 1) * duration.
  MONO.forEach((frame, i) => h.at(T0 + (i + 1) * FRAME_US, frame));
  assert.equal(h.frames.length, MONO.length);
  h.frames.forEach((f, i) => assert.ok(Buffer.from(f.data).equals(Buffer.from(MONO[i]!)), `frame ${i} identical`));
  assert.deepEqual(h.formats, [{ codec: 'mp4a.40.2', sampleRate: 48000, channels: 1 }]);
  assert.deepEqual(h.errors, []);
  h.frames.forEach((f, i) => {
    assert.ok(Math.abs(f.captureTimeUs - (T0 + i * FRAME_US)) <= 2, `frame ${i} stamped at its first sample`);
    assert.ok(Math.abs(f.durationUs - FRAME_US) < 0.001);
  });
  assertIncreasing(h.frames);
});

test('several frames in one read are laid end to end, the last ending at the read', () => {
  const h = harness();
  const chunk = Buffer.concat(MONO.slice(0, 4));
  h.at(T0, chunk);
  assert.equal(h.frames.length, 4);
  h.frames.forEach((f, i) => assert.ok(Math.abs(f.captureTimeUs - (T0 - (4 - i) * FRAME_US)) <= 1, `frame ${i}`));
});

test('frames split across reads, bytes one at a time, still whole and stamped when complete', () => {
  const h = harness();
  const bytes = Buffer.concat(MONO.slice(0, 3));
  let t = T0;
  for (const b of bytes) h.at((t += 10), Uint8Array.of(b));
  assert.equal(h.frames.length, 3);
  assertIncreasing(h.frames);
});

test('read jitter (late only) is filtered out: stamps follow the earliest reads, gapless', () => {
  const h = harness();
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < MONO.length; i++) h.at(T0 + (i + 1) * FRAME_US + rand() * 8000, MONO[i]!);
  assertIncreasing(h.frames);
  h.frames.forEach((f, i) => {
    const late = f.captureTimeUs - (T0 + i * FRAME_US);
    assert.ok(late >= -2 && late <= 8000, `frame ${i} within the jitter, ${late.toFixed(0)} µs late`);
  });
  // After the first second the timeline has found the early edge: within 2 ms of the truth.
  for (const [i, f] of h.frames.entries()) if (i > 60) assert.ok(f.captureTimeUs - (T0 + i * FRAME_US) < 2000, `frame ${i} settled`);
  // Nearly all steps are exactly one frame long (a player plays them gapless).
  const exact = h.frames.slice(1).filter((f, i) => Math.abs(f.captureTimeUs - h.frames[i]!.captureTimeUs - FRAME_US) <= 2).length;
  assert.ok(exact > h.frames.length * 0.8, `${exact} of ${h.frames.length} steps exactly one frame`);
});

test('a sound card clock slower than the system clock: the timeline follows the reads', () => {
  const h = harness();
  const slow = 1.0005; // 500 ppm: reads fall behind the nominal timeline by 10.7 µs a frame
  for (let i = 0; i < 3000; i++) h.at(T0 + (i + 1) * FRAME_US * slow, MONO[i % MONO.length]!);
  assertIncreasing(h.frames);
  const last = h.frames.length - 1;
  const behind = T0 + last * FRAME_US * slow - h.frames[last]!.captureTimeUs;
  assert.ok(Math.abs(behind) < 2000, `after 64 s, within 2 ms of the reads (${behind.toFixed(0)} µs)`);
});

test('a gap in the reads (lost samples, restarted encoder) re-anchors on the read time', () => {
  const h = harness();
  for (let i = 0; i < 10; i++) h.at(T0 + (i + 1) * FRAME_US, MONO[i]!);
  const resume = T0 + 10 * FRAME_US + AUDIO_RESYNC_US + 50_000;
  h.at(resume + FRAME_US, MONO[10]!);
  assert.ok(Math.abs(h.frames[10]!.captureTimeUs - resume) <= 1, 'stamped at its read, not glued to the old timeline');
  // Reads that come early after late ones never make a stamp go back.
  h.at(resume, MONO[11]!);
  assertIncreasing(h.frames);
});

test('a format change is announced; garbage is reported, never thrown', () => {
  const h = harness();
  h.at(T0, MONO[0]!);
  h.at(T0 + 100_000, Buffer.concat([Buffer.from('not adts at all'), ...STEREO.slice(0, 3)]));
  h.reader.end();
  assert.deepEqual(h.formats.map((f) => [f.sampleRate, f.channels]), [[48000, 1], [44100, 2]]);
  assert.ok(h.errors.some((e) => /non-ADTS/.test(e)), `lost sync reported: ${h.errors.join('; ')}`);
  assert.equal(h.frames.length, 4);
  assertIncreasing(h.frames);
  h.at(T0 + 200_000, MONO[1]!);
  assert.equal(h.frames.length, 4, 'nothing after end()');
});

test('AAC other than LC is dropped with one report', () => {
  const h = harness();
  const main = MONO.slice(0, 3).map((f) => {
    const copy = Uint8Array.from(f);
    copy[2] = copy[2]! & 0x3f; // profile 0: AAC Main (object type 1)
    return copy;
  });
  for (const [i, f] of main.entries()) h.at(T0 + i * FRAME_US, f);
  assert.equal(h.frames.length, 0);
  assert.equal(h.errors.length, 1);
  assert.match(h.errors[0]!, /not AAC-LC/);
});
