import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AAC_LC_CODEC, adtsCodecString, adtsFrameDurationUs, audioSpecificConfig, parseAdtsHeader } from './adts.ts';
import { AdtsSplitter, type AdtsSplitterOptions } from './adts-splitter.ts';
import { ProtocolError } from '../errors.ts';
import { clipPath, concat, ffprobePackets, hasFfprobe, prng, randomBytes, randomChunks, readClip } from '../h264/test-support.ts';

/**
 * Frame counts, rates and channels from ffprobe 6:
 *   ffprobe -v error -count_frames -show_entries stream=nb_read_frames,sample_rate,channels,profile CLIP
 */
const CLIPS = [
  { name: 'tone-48k-mono.aac', frames: 189, sampleRate: 48000, channels: 1, asc: [0x11, 0x88] },
  { name: 'tone-44k1-stereo.aac', frames: 45, sampleRate: 44100, channels: 2, asc: [0x12, 0x10] },
];

function run(chunks: Iterable<Uint8Array>, options: AdtsSplitterOptions = {}) {
  const splitter = new AdtsSplitter(options);
  const frames: Uint8Array[] = [];
  for (const chunk of chunks) frames.push(...splitter.push(chunk));
  frames.push(...splitter.flush());
  return { frames, splitter };
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
function assertSameFrames(actual: Uint8Array[], expected: Uint8Array[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: frame count`);
  for (let i = 0; i < expected.length; i++) assert.ok(same(actual[i]!, expected[i]!), `${label}: frame ${i}`);
}
const isAdtsInvalid = (e: unknown): boolean => e instanceof ProtocolError && e.code === 'ERR_ADTS_INVALID';

test('parseAdtsHeader reads the fixture headers', () => {
  for (const c of CLIPS) {
    const h = parseAdtsHeader(readClip(c.name));
    assert.equal(h.objectType, 2, c.name);
    assert.equal(h.sampleRate, c.sampleRate, c.name);
    assert.equal(h.channels, c.channels, c.name);
    assert.equal(h.headerLength, 7, c.name);
    assert.equal(h.rawBlocks, 1, c.name);
    assert.deepEqual([...audioSpecificConfig(h)], c.asc, c.name);
    assert.equal(adtsCodecString(h), AAC_LC_CODEC);
  }
  assert.equal(AAC_LC_CODEC, 'mp4a.40.2');
  const mono = parseAdtsHeader(readClip('tone-48k-mono.aac'));
  assert.equal(mono.frameLength, 199); // ffprobe's first packet size
  assert.equal(mono.samplingFrequencyIndex, 3);
  assert.ok(Math.abs(adtsFrameDurationUs(mono) - 21333.333) < 0.001, 'duration of 1024 samples at 48 kHz');
  assert.ok(Math.abs(adtsFrameDurationUs(parseAdtsHeader(readClip('tone-44k1-stereo.aac'))) - 23219.955) < 0.001, '44.1 kHz');
});

test('parseAdtsHeader: CRC header, offsets, 7.1 and typed errors', () => {
  // protection_absent = 0 (CRC follows), AAC-LC, 44.1 kHz, channel config 7, frame_length 300, 2 blocks.
  const withCrc = Uint8Array.of(0xff, 0xf0, 0x51, 0xc0 | (300 >> 11), (300 >> 3) & 0xff, ((300 & 7) << 5) | 0x1f, 0xfc | 1, 0xab, 0xcd);
  const h = parseAdtsHeader(concat([Uint8Array.of(1, 2, 3), withCrc]), 3);
  assert.deepEqual(
    [h.headerLength, h.frameLength, h.sampleRate, h.channelConfiguration, h.channels, h.rawBlocks],
    [9, 300, 44100, 7, 8, 2],
  );
  assert.equal(adtsFrameDurationUs(h), (2048 * 1e6) / 44100);
  const good = readClip('tone-48k-mono.aac').slice(0, 7);
  const broken = (edit: (b: Uint8Array) => void): Uint8Array => {
    const b = good.slice();
    edit(b);
    return b;
  };
  assert.throws(() => parseAdtsHeader(good.subarray(0, 6)), isAdtsInvalid);
  assert.throws(() => parseAdtsHeader(good, 1), isAdtsInvalid);
  assert.throws(() => parseAdtsHeader(good, -1), isAdtsInvalid);
  assert.throws(() => parseAdtsHeader(broken((b) => (b[1] = 0xe1))), isAdtsInvalid); // no syncword
  assert.throws(() => parseAdtsHeader(broken((b) => (b[1] = 0xf3))), isAdtsInvalid); // layer 1
  assert.throws(() => parseAdtsHeader(broken((b) => (b[2] = (b[2]! & 0xc3) | (13 << 2)))), isAdtsInvalid); // reserved rate
  assert.throws(() => parseAdtsHeader(broken((b) => ((b[2] = b[2]! & 0xfe), (b[3] = b[3]! & 0x3f)))), isAdtsInvalid); // PCE
  assert.throws(() => parseAdtsHeader(broken((b) => ((b[3] = b[3]! & 0xfc), (b[4] = 0), (b[5] = b[5]! & 0x1f)))), isAdtsInvalid);
});

test('splitter yields ffprobe’s frames, byte-identical, in any chunking', () => {
  for (const c of CLIPS) {
    const data = readClip(c.name);
    const { frames, splitter } = run([data]);
    assert.equal(frames.length, c.frames, c.name);
    assert.ok(same(concat(frames), data), `${c.name}: concatenation equals the file`);
    for (const f of frames) assert.equal(parseAdtsHeader(f).frameLength, f.length, c.name);
    assert.equal(splitter.resyncs, 0, c.name);
    for (const seed of [1, 2, 3]) assertSameFrames(run(randomChunks(data, prng(seed), seed * 150)).frames, frames, `${c.name} seed ${seed}`);
    const bytes = Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
    assertSameFrames(run(bytes).frames, frames, `${c.name} 1-byte chunks`);
  }
});

test('splitter frame sizes match a live ffprobe run', { skip: !hasFfprobe && 'ffprobe not installed' }, () => {
  for (const c of CLIPS) {
    const sizes = ffprobePackets(clipPath(c.name)).map((p) => p.size);
    assert.deepEqual(run([readClip(c.name)]).frames.map((f) => f.length), sizes, c.name);
  }
});

test('every split point across the first frames gives the same frames', () => {
  const all = run([readClip('tone-48k-mono.aac')]).frames;
  const data = concat(all.slice(0, 6));
  for (let k = 0; k <= data.length; k++) {
    const { frames } = run([data.subarray(0, k), data.subarray(k)]);
    if (frames.length !== 6 || !frames.every((f, i) => same(f, all[i]!))) assertSameFrames(frames, all.slice(0, 6), `split at ${k}`);
  }
});

test('resync after garbage: at the start, between frames, with fake syncwords in it', () => {
  const data = readClip('tone-48k-mono.aac');
  const all = run([data]).frames;
  const rand = prng(9);
  const noFF = randomBytes(rand, 3000).map((b) => (b === 0xff ? 0 : b));
  // A header-shaped fake (valid fields, frame_length 100) whose "next frame" is not there.
  const fake = concat([all[0]!.slice(0, 7), new Uint8Array(93)]);
  fake[3] = (fake[3]! & 0xfc) | (100 >> 11);
  fake[4] = (100 >> 3) & 0xff;
  fake[5] = ((100 & 7) << 5) | (fake[5]! & 0x1f);
  const garbage = concat([noFF, fake, Uint8Array.of(0xff, 0xf1, 0xff), noFF.subarray(0, 50)]);
  const at = all.slice(0, 50).reduce((n, f) => n + f.length, 0);
  const stream = concat([garbage, data.subarray(0, at), garbage, data.subarray(at)]);
  for (const chunks of [[stream], randomChunks(stream, rand, 400)]) {
    const errors: ProtocolError[] = [];
    const { frames, splitter } = run(chunks, { onError: (e) => errors.push(e) });
    assertSameFrames(frames, all, 'garbage around');
    assert.equal(splitter.resyncs, 2);
    assert.equal(splitter.skippedBytes, 2 * garbage.length);
    assert.equal(errors.length, 2);
    assert.ok(errors.every(isAdtsInvalid), 'lost sync is reported as ERR_ADTS_INVALID');
  }
});

test('resync after a frame cut short: only the damaged frames are lost', () => {
  const data = readClip('tone-44k1-stereo.aac');
  const all = run([data]).frames;
  const damaged = concat([...all.slice(0, 20), all[20]!.subarray(0, 60), ...all.slice(21)]);
  const { frames, splitter } = run(randomChunks(damaged, prng(3), 100));
  const originals = frames.filter((f) => all.some((g) => same(f, g)));
  assert.ok(originals.length >= all.length - 3, `kept ${originals.length} of ${all.length}`);
  assert.ok(frames.length - originals.length <= 1, 'at most the frame that swallowed the cut is junk');
  assert.ok(splitter.resyncs >= 1, 'sync was lost and found again');
  assertSameFrames(frames.slice(0, 20), all.slice(0, 20), 'frames before the cut');
});

test('flush() accepts a resync candidate whose successor has not arrived', () => {
  const frame = run([readClip('tone-48k-mono.aac')]).frames[3]!;
  const splitter = new AdtsSplitter();
  assert.deepEqual(splitter.push(concat([Uint8Array.of(1, 2, 3), frame])), []);
  const flushed = splitter.flush();
  assert.equal(flushed.length, 1);
  assert.ok(same(flushed[0]!, frame), 'the frame itself');
});

test('oversize frames are dropped and reported as ERR_ACCESS_UNIT_TOO_LARGE', () => {
  const data = readClip('tone-48k-mono.aac');
  const all = run([data]).frames;
  const kept = all.filter((f) => f.length <= 200);
  assert.ok(kept.length > 20 && kept.length < all.length, 'the limit splits the clip');
  for (const chunks of [[data], randomChunks(data, prng(8), 30)]) {
    const errors: ProtocolError[] = [];
    const { frames, splitter } = run(chunks, { maxFrameBytes: 200, onError: (e) => errors.push(e) });
    assertSameFrames(frames, kept, 'under the limit');
    assert.equal(splitter.oversizeDropped, all.length - kept.length);
    assert.ok(errors.length === splitter.oversizeDropped && errors.every((e) => e.code === 'ERR_ACCESS_UNIT_TOO_LARGE'), 'typed');
    assert.equal(splitter.resyncs, 0);
  }
});

test('splitter never throws on random input, random flushes, tiny limits', () => {
  const rand = prng(77);
  for (let i = 0; i < 300; i++) {
    const n = Math.floor(rand() * 4000);
    const input = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      const r = rand();
      input[j] = r < 0.2 ? 0xff : r < 0.35 ? 0xf1 : Math.floor(rand() * 256);
    }
    const splitter = new AdtsSplitter({ maxFrameBytes: 8 + Math.floor(rand() * 3000), onError: (e) => assert.ok(e instanceof ProtocolError, 'typed') });
    for (const chunk of randomChunks(input, rand, 200)) {
      for (const f of splitter.push(chunk)) assert.equal(parseAdtsHeader(f).frameLength, f.length);
      if (rand() < 0.2) splitter.flush();
    }
    splitter.flush();
  }
  assert.deepEqual(new AdtsSplitter().push(new Uint8Array(0)), []);
});
