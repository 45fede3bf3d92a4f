import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ADTS_HEADER_BYTES, audioSpecificConfig, parseAdtsHeader } from './adts.ts';
import { AdtsSplitter } from './adts-splitter.ts';
import { ProtocolError } from '../errors.ts';
import { readClip } from '../h264/test-support.ts';
import { announceSeed, checkProperty, fuzzTimeoutMs, guarded, parsesOrRefuses } from '../../../test/helpers/fuzz-config.ts';
import { chunkSizes, concatBytes, cut, mutatedBytes, sameBytes, skewedBytes } from '../../../test/helpers/fuzz-inputs.ts';

/**
 * Fuzzing the ADTS parsers: the header parser the relay runs on every audio frame an agent sends,
 * and the streaming splitter the agent runs on the microphone pipe. Inputs are mutated frames of the
 * fixture tones and skewed random bytes. The clean-clip properties (ffprobe's frames in any chunking,
 * every split point, resync after garbage) live in adts.test.ts.
 */

announceSeed(import.meta.url);
const timeout = fuzzTimeoutMs(60_000);
const isProtocolError = (err: unknown): boolean => err instanceof ProtocolError;

const clipFrames = ['tone-48k-mono.aac', 'tone-44k1-stereo.aac'].map((name) => {
  const splitter = new AdtsSplitter();
  return [...splitter.push(readClip(name)), ...splitter.flush()];
});
/** Runs of one to four frames from each tone, from the start and the middle. */
const frameSamples = clipFrames.flatMap((frames) => [
  frames[0]!,
  concatBytes(frames.slice(1, 3)),
  concatBytes(frames.slice(20, 24)),
  concatBytes(frames.slice(-3)),
]);
const streamInput = fc.oneof({ weight: 3, arbitrary: mutatedBytes(frameSamples) }, { weight: 1, arbitrary: skewedBytes(3000) });

interface HeaderFields {
  objectType: number;
  samplingFrequencyIndex: number;
  channelConfiguration: number;
  frameLength: number;
  protectionAbsent: boolean;
  rawBlocks: number;
}

/** An ADTS header (ISO/IEC 13818-7 6.2) with the given fields, MPEG-4, CRC bytes zero when present. */
function writeHeader(f: HeaderFields): Uint8Array {
  const h = new Uint8Array(f.protectionAbsent ? 7 : 9);
  h[0] = 0xff;
  h[1] = 0xf0 | (f.protectionAbsent ? 1 : 0);
  h[2] = ((f.objectType - 1) << 6) | (f.samplingFrequencyIndex << 2) | (f.channelConfiguration >> 2);
  h[3] = ((f.channelConfiguration & 3) << 6) | (f.frameLength >> 11);
  h[4] = (f.frameLength >> 3) & 0xff;
  h[5] = ((f.frameLength & 7) << 5) | 0x1f;
  h[6] = 0xfc | (f.rawBlocks - 1);
  return h;
}

const headerFields: fc.Arbitrary<HeaderFields> = fc
  .record({
    objectType: fc.integer({ min: 1, max: 4 }),
    samplingFrequencyIndex: fc.integer({ min: 0, max: 12 }),
    channelConfiguration: fc.integer({ min: 1, max: 7 }),
    protectionAbsent: fc.boolean(),
    rawBlocks: fc.integer({ min: 1, max: 4 }),
    frameLength: fc.integer({ min: 10, max: 8191 }),
  });

test('ADTS header: every valid header reads back field for field', { timeout }, async (t) => {
  await checkProperty(
    t,
    'parseAdtsHeader round trip',
    fc.property(headerFields, fc.nat({ max: 8 }), (f, offset) => {
      const bytes = concatBytes([new Uint8Array(offset), writeHeader(f)]);
      const h = parseAdtsHeader(bytes, offset);
      assert.deepEqual(
        [h.objectType, h.samplingFrequencyIndex, h.channelConfiguration, h.frameLength, h.headerLength, h.rawBlocks],
        [f.objectType, f.samplingFrequencyIndex, f.channelConfiguration, f.frameLength, f.protectionAbsent ? 7 : 9, f.rawBlocks],
      );
      assert.equal(h.channels, f.channelConfiguration === 7 ? 8 : f.channelConfiguration);
      // The AudioSpecificConfig carries the same three fields, 5 + 4 + 4 bits.
      const asc = audioSpecificConfig(h);
      assert.deepEqual([asc[0]! >> 3, ((asc[0]! & 7) << 1) | (asc[1]! >> 7), (asc[1]! >> 3) & 15], [f.objectType, f.samplingFrequencyIndex, f.channelConfiguration]);
    }),
    2000,
  );
});

const headerBytes = fc.oneof(
  mutatedBytes(frameSamples.map((s) => s.subarray(0, 12)), { maxMutations: 3 }),
  headerFields.chain((f) => mutatedBytes([writeHeader(f)], { maxMutations: 2 })),
  fc.uint8Array({ maxLength: 12 }),
);
const offsets = fc.oneof(fc.integer({ min: -2, max: 12 }), fc.constantFrom(0.5, Number.NaN, Number.POSITIVE_INFINITY));

test('ADTS header: any bytes at any offset parse to a consistent header or fail with ERR_ADTS_INVALID', { timeout }, async (t) => {
  await checkProperty(
    t,
    'parseAdtsHeader',
    fc.property(headerBytes, offsets, (bytes, offset) => {
      const result = parsesOrRefuses('parseAdtsHeader', bytes, () => parseAdtsHeader(bytes, offset), isProtocolError);
      if (!result.ok) {
        assert.equal((result.error as ProtocolError).code, 'ERR_ADTS_INVALID');
        return;
      }
      const h = result.value;
      assert.ok(offset >= 0 && offset + ADTS_HEADER_BYTES <= bytes.length, 'read within the input');
      assert.ok(h.frameLength > h.headerLength && h.frameLength <= 8191, 'frame length');
      assert.ok(h.sampleRate >= 7350 && h.sampleRate <= 96000 && h.channels >= 1 && h.channels <= 8, 'rate and channels');
      assert.ok(h.rawBlocks >= 1 && h.rawBlocks <= 4);
    }),
    4000,
  );
});

function runSplitter(chunks: Iterable<Uint8Array>, maxFrameBytes?: number) {
  const errors: unknown[] = [];
  const splitter = new AdtsSplitter({ ...(maxFrameBytes === undefined ? {} : { maxFrameBytes }), onError: (e) => errors.push(e) });
  const frames: Uint8Array[] = [];
  for (const chunk of chunks) frames.push(...splitter.push(chunk));
  frames.push(...splitter.flush());
  return { frames, errors, splitter };
}

test('ADTS splitter: damaged streams give the same frames in any chunking', { timeout }, async (t) => {
  await checkProperty(
    t,
    'AdtsSplitter chunking',
    fc.property(streamInput, chunkSizes, fc.option(fc.integer({ min: 8, max: 400 })), (input, sizes, cap) => {
      const whole = guarded('AdtsSplitter', input, () => runSplitter([input], cap ?? undefined));
      const chunked = guarded('AdtsSplitter', input, () => runSplitter(cut(input, sizes), cap ?? undefined));
      assert.equal(chunked.frames.length, whole.frames.length, 'frame count');
      whole.frames.forEach((f, i) => assert.ok(sameBytes(chunked.frames[i]!, f), `frame ${i}`));
      const counters = (s: AdtsSplitter) => [s.oversizeDropped, s.resyncs, s.skippedBytes];
      assert.deepEqual(counters(chunked.splitter), counters(whole.splitter));
    }),
    500,
  );
});

type SplitterStep = { push: number } | { flush: true };
const steps: fc.Arbitrary<SplitterStep[]> = fc.array(
  fc.oneof({ weight: 4, arbitrary: fc.record({ push: fc.integer({ min: 1, max: 600 }) }) }, { weight: 1, arbitrary: fc.constant({ flush: true as const }) }),
  { minLength: 1, maxLength: 30 },
);

test('ADTS splitter: pushes, flushes and caps never throw; every frame is whole and within the cap', { timeout }, async (t) => {
  await checkProperty(
    t,
    'AdtsSplitter steps',
    fc.property(streamInput, steps, fc.integer({ min: 8, max: 9000 }), (input, script, cap) => {
      const errors: unknown[] = [];
      const splitter = new AdtsSplitter({ maxFrameBytes: cap, onError: (e) => errors.push(e) });
      const frames: Uint8Array[] = [];
      guarded('AdtsSplitter steps', input, () => {
        let at = 0;
        // The script repeats until the input is used up (a script of flushes alone pushes it at the end).
        for (let i = 0; at < input.length && i < input.length + script.length; i++) {
          const step = script[i % script.length]!;
          if ('flush' in step) frames.push(...splitter.flush());
          else {
            frames.push(...splitter.push(input.subarray(at, at + step.push)));
            at += step.push;
          }
        }
        frames.push(...splitter.push(input.subarray(at)), ...splitter.flush());
      });
      for (const frame of frames) {
        assert.ok(frame.length <= cap, `frame of ${frame.length} bytes over the ${cap}-byte cap`);
        assert.equal(parseAdtsHeader(frame).frameLength, frame.length, 'a frame is exactly its header’s frame_length');
      }
      assert.ok(
        errors.every((e) => e instanceof ProtocolError && (e.code === 'ERR_ADTS_INVALID' || e.code === 'ERR_ACCESS_UNIT_TOO_LARGE')),
        'typed errors',
      );
      assert.ok(splitter.skippedBytes <= input.length, 'skipped bytes are input bytes');
    }),
    500,
  );
});
