import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AccessUnitSplitter, type AccessUnit } from './access-unit-splitter.ts';
import { buildAvcDecoderConfigurationRecord } from './avc-config.ts';
import { describeAccessUnit, removeEmulationPrevention, splitNalUnits } from './nal.ts';
import { parseSps } from './sps.ts';
import { ProtocolError } from '../errors.ts';
import { SpsWriter, addEmulationPrevention, readClip } from './test-support.ts';
import { announceSeed, checkProperty, fuzzTimeoutMs, guarded, parsesOrRefuses } from '../../../test/helpers/fuzz-config.ts';
import { chunkSizes, concatBytes, cut, mutatedBytes, sameBytes, skewedBytes } from '../../../test/helpers/fuzz-inputs.ts';

/**
 * Fuzzing the H.264 parsers on camera and agent input: the streaming access-unit splitter, the NAL
 * unit splitter, emulation-prevention removal, the SPS parser and the avcC builder. Inputs are
 * mutated access units of the fixture clips (which reach deep into each parser) and skewed random
 * bytes. The fixed-clip properties (every split point, seeded chunk sizes, ffprobe's frames) live in
 * access-unit-splitter.test.ts; here the same invariance is checked on damaged streams.
 */

announceSeed(import.meta.url);
const timeout = fuzzTimeoutMs(60_000);
const isProtocolError = (err: unknown): boolean => err instanceof ProtocolError;

const CLIP_NAMES = [
  '640x480-baseline.h264',
  '1280x720-main.h264',
  '1920x1080-high.h264',
  'sps-interlaced-720x576.h264',
  'sps-scaling-lists-854x480.h264',
];
const clipUnits = CLIP_NAMES.map((name) => {
  const splitter = new AccessUnitSplitter();
  return [...splitter.push(readClip(name)), ...splitter.flush()];
});
/** Per clip: the IDR unit, two P frames, and the end of a GOP running into the next unit. */
const unitSamples = clipUnits.flatMap((units) => {
  const keyAt = units.findIndex((u, i) => i > 0 && u.keyframe);
  const boundary = keyAt > 0 ? keyAt - 1 : units.length - 2;
  return [units[0]!.data, concatBytes([units[1]!.data, units[2]!.data]), concatBytes([units[boundary]!.data, units[boundary + 1]!.data])];
});
const streamInput = fc.oneof({ weight: 3, arbitrary: mutatedBytes(unitSamples) }, { weight: 1, arbitrary: skewedBytes(4000) });

/** NAL units of every kind from the clips (SPS, PPS, SEI, slices), as parser samples. */
const nalSamples = clipUnits.flatMap((units) => splitNalUnits(units[0]!.data).map((nal) => nal.slice(0, 4096)));
const spsSamples = nalSamples.filter((nal) => (nal[0]! & 0x1f) === 7);
const ppsSamples = nalSamples.filter((nal) => (nal[0]! & 0x1f) === 8);

function runSplitter(chunks: Iterable<Uint8Array>, reuse = false): { units: AccessUnit[]; torn: number; oversize: number } {
  const splitter = new AccessUnitSplitter({ reusedChunks: reuse });
  const units: AccessUnit[] = [];
  // With reusedChunks a unit is valid until the next push: copy it out at once, as its owner would.
  const keep = (out: AccessUnit[]) => units.push(...out.map((u) => ({ data: u.data.slice(), keyframe: u.keyframe })));
  let buffer = new Uint8Array(0);
  for (const chunk of chunks) {
    if (!reuse) {
      keep(splitter.push(chunk));
      continue;
    }
    // One read buffer for the whole stream, overwritten by every read.
    if (buffer.length < chunk.length) buffer = new Uint8Array(chunk.length);
    buffer.fill(0xa5);
    buffer.set(chunk);
    keep(splitter.push(buffer.subarray(0, chunk.length)));
  }
  keep(splitter.flush());
  return { units, torn: splitter.tornFrames, oversize: splitter.oversizeDropped };
}

test('splitter: damaged streams give the same units in any chunking, reused buffers included', { timeout }, async (t) => {
  await checkProperty(
    t,
    'AccessUnitSplitter chunking',
    fc.property(streamInput, chunkSizes, fc.boolean(), (input, sizes, reuse) => {
      const whole = guarded('AccessUnitSplitter', input, () => runSplitter([input]));
      const chunked = guarded('AccessUnitSplitter', input, () => runSplitter(cut(input, sizes), reuse));
      assert.equal(chunked.units.length, whole.units.length, 'unit count');
      whole.units.forEach((u, i) => {
        assert.ok(sameBytes(chunked.units[i]!.data, u.data), `unit ${i} bytes`);
        assert.equal(chunked.units[i]!.keyframe, u.keyframe, `unit ${i} keyframe`);
      });
      assert.deepEqual([chunked.torn, chunked.oversize], [whole.torn, whole.oversize]);
    }),
    400,
  );
});

type SplitterStep = { push: number } | { flush: true };
const steps: fc.Arbitrary<SplitterStep[]> = fc.array(
  fc.oneof({ weight: 4, arbitrary: fc.record({ push: fc.integer({ min: 1, max: 3000 }) }) }, { weight: 1, arbitrary: fc.constant({ flush: true as const }) }),
  { minLength: 1, maxLength: 40 },
);

test('splitter: pushes, flushes and tiny caps never throw; units are well-formed, memory bounded', { timeout }, async (t) => {
  await checkProperty(
    t,
    'AccessUnitSplitter steps',
    fc.property(streamInput, steps, fc.integer({ min: 1, max: 20_000 }), (input, script, cap) => {
      const errors: unknown[] = [];
      const splitter = new AccessUnitSplitter({ maxAccessUnitBytes: cap, onError: (e) => errors.push(e) });
      const units: AccessUnit[] = [];
      guarded('AccessUnitSplitter steps', input, () => {
        let at = 0;
        // The script repeats until the input is used up (a script of flushes alone pushes it at the end).
        for (let i = 0; (at < input.length || i < script.length) && i < input.length + script.length; i++) {
          const step = script[i % script.length]!;
          if ('flush' in step) units.push(...splitter.flush());
          else {
            units.push(...splitter.push(input.subarray(at, at + step.push)));
            at += step.push;
          }
          // A unit that never ends is dropped while it grows: only the cap and a start code's bytes are held.
          assert.ok(splitter.pendingBytes <= cap + 8, `pending ${splitter.pendingBytes} bytes over cap ${cap}`);
        }
        units.push(...splitter.push(input.subarray(at)), ...splitter.flush());
      });
      for (const unit of units) {
        const d = unit.data;
        assert.ok(d.length > 0 && d.length <= cap, `unit of ${d.length} bytes, cap ${cap}`);
        assert.ok(d[0] === 0 && d[1] === 0 && (d[2] === 1 || (d[2] === 0 && d[3] === 1)), 'a unit begins with a start code');
        assert.equal(unit.keyframe, describeAccessUnit(d).keyframe, 'keyframe flag matches the IDR slices inside');
      }
      assert.ok(errors.every((e) => e instanceof ProtocolError && e.code === 'ERR_ACCESS_UNIT_TOO_LARGE'), 'typed errors');
      assert.equal(errors.length, splitter.oversizeDropped);
    }),
    400,
  );
});

/** Joins NAL unit bodies into an Annex-B stream. */
const joinNals = (nals: readonly Uint8Array[]): Uint8Array => concatBytes(nals.flatMap((n) => [Uint8Array.of(0, 0, 0, 1), n]));

test('splitNalUnits: bodies are in-order views with no start code inside, and re-joining them round-trips', { timeout }, async (t) => {
  await checkProperty(
    t,
    'splitNalUnits',
    fc.property(streamInput, (input) => {
      const nals = guarded('splitNalUnits', input, () => splitNalUnits(input));
      let end = 0;
      for (const nal of nals) {
        assert.equal(nal.buffer, input.buffer, 'a view into the input');
        const offset = nal.byteOffset - input.byteOffset;
        assert.ok(nal.length > 0 && offset >= end + 3 && offset + nal.length <= input.length, 'in order, after a start code');
        end = offset + nal.length;
        assert.notEqual(nal[nal.length - 1], 0, 'trailing zeros belong to the next start code');
        for (let i = 2; i < nal.length; i++) {
          assert.ok(!(nal[i - 2] === 0 && nal[i - 1] === 0 && nal[i]! <= 1), `00 00 0${nal[i]} inside a NAL unit`);
        }
      }
      const again = splitNalUnits(joinNals(nals));
      assert.equal(again.length, nals.length);
      again.forEach((nal, i) => assert.ok(sameBytes(nal, nals[i]!), `NAL ${i} survives re-joining`));
      const info = guarded('describeAccessUnit', input, () => describeAccessUnit(input));
      assert.equal(info.nalTypes.length, nals.length);
    }),
    1500,
  );
});

test('removeEmulationPrevention undoes what an encoder inserts, for any payload', { timeout }, async (t) => {
  await checkProperty(
    t,
    'removeEmulationPrevention',
    fc.property(skewedBytes(600), (rbsp) => {
      const escaped = addEmulationPrevention(rbsp);
      assert.ok(sameBytes(guarded('removeEmulationPrevention', escaped, () => removeEmulationPrevention(escaped)), rbsp));
    }),
    2000,
  );
});

// ---- SPS ----------------------------------------------------------------------------------------

const HIGH = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135, 144];
const BASIC = [66, 77, 88];

const spsFields = fc
  .record({
    profile: fc.constantFrom(...HIGH, ...BASIC),
    constraint: fc.nat({ max: 255 }),
    level: fc.nat({ max: 255 }),
    spsId: fc.nat({ max: 31 }),
    chroma: fc.nat({ max: 3 }),
    separatePlane: fc.boolean(),
    bitDepthLuma: fc.integer({ min: 8, max: 14 }),
    bitDepthChroma: fc.integer({ min: 8, max: 14 }),
    scaling: fc.option(fc.array(fc.option(fc.array(fc.integer({ min: -128, max: 127 }), { maxLength: 64 })), { minLength: 12, maxLength: 12 })),
    log2FrameNum: fc.nat({ max: 12 }),
    poc: fc.oneof(
      fc.record({ type: fc.constant(0), lsb: fc.nat({ max: 12 }) }),
      fc.record({ type: fc.constant(1), offsets: fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 20 }) }),
      fc.record({ type: fc.constant(2) }),
    ),
    refFrames: fc.nat({ max: 16 }),
    mbs: fc.tuple(fc.integer({ min: 1, max: 2048 }), fc.integer({ min: 1, max: 2048 })),
    frameMbsOnly: fc.boolean(),
    crop: fc.option(fc.tuple(fc.nat({ max: 40 }), fc.nat({ max: 40 }), fc.nat({ max: 40 }), fc.nat({ max: 40 }))),
    timing: fc.option(fc.tuple(fc.integer({ min: 1, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 2 ** 32 - 1 }))),
  })
  .map((f) => ({ ...f, high: HIGH.includes(f.profile) }));
type SpsFields = typeof spsFields extends fc.Arbitrary<infer T> ? T : never;

function writeSps(f: SpsFields): Uint8Array {
  const w = new SpsWriter().u(8, f.profile).u(8, f.constraint).u(8, f.level).ue(f.spsId);
  if (f.high) {
    w.ue(f.chroma);
    if (f.chroma === 3) w.u(1, f.separatePlane ? 1 : 0);
    w.ue(f.bitDepthLuma - 8).ue(f.bitDepthChroma - 8).u(1, 0);
    w.u(1, f.scaling ? 1 : 0);
    const lists = f.chroma === 3 ? 12 : 8;
    for (const list of (f.scaling ?? []).slice(0, lists)) {
      w.u(1, list ? 1 : 0);
      if (!list) continue;
      // Deltas until the list is full or nextScale reaches 0 (7.3.2.1.1.1).
      let last = 8;
      const size = f.scaling!.indexOf(list) < 6 ? 16 : 64;
      for (let j = 0; j < size; j++) {
        const delta = list[j % Math.max(1, list.length)] ?? 0;
        w.se(delta);
        const next = (last + delta + 256) % 256;
        if (next === 0) break;
        last = next;
      }
    }
  }
  w.ue(f.log2FrameNum).ue(f.poc.type);
  if (f.poc.type === 0) w.ue((f.poc as { lsb: number }).lsb);
  if (f.poc.type === 1) {
    const offsets = (f.poc as { offsets: number[] }).offsets;
    w.u(1, 0).se(-3).se(2).ue(offsets.length);
    for (const o of offsets) w.se(o);
  }
  w.ue(f.refFrames).u(1, 0).ue(f.mbs[0] - 1).ue(f.mbs[1] - 1).u(1, f.frameMbsOnly ? 1 : 0);
  if (!f.frameMbsOnly) w.u(1, 0);
  w.u(1, 1).u(1, f.crop ? 1 : 0);
  for (const c of f.crop ?? []) w.ue(c);
  w.u(1, f.timing ? 1 : 0);
  if (f.timing) w.u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 1).u(32, f.timing[0]).u(32, f.timing[1]).u(1, 1);
  return w.nal();
}

/** What 7-18..7-22 say the picture is, or undefined where the crop leaves nothing. */
function expectedSize(f: SpsFields): { width: number; height: number } | undefined {
  const chroma = f.high ? f.chroma : 1;
  const arrayType = f.high && chroma === 3 && f.separatePlane ? 0 : chroma;
  const subWidth = arrayType === 1 || arrayType === 2 ? 2 : 1;
  const subHeight = arrayType === 1 ? 2 : 1;
  const unitX = arrayType === 0 ? 1 : subWidth;
  const unitY = (arrayType === 0 ? 1 : subHeight) * (f.frameMbsOnly ? 1 : 2);
  const [l, r, top, b] = f.crop ?? [0, 0, 0, 0];
  const width = f.mbs[0] * 16 - unitX * (l + r);
  const height = (f.frameMbsOnly ? 1 : 2) * f.mbs[1] * 16 - unitY * (top + b);
  return width > 0 && height > 0 ? { width, height } : undefined;
}

test('parseSps reads back every field of a generated SPS (all profiles, scaling lists, crops, timing)', { timeout }, async (t) => {
  await checkProperty(
    t,
    'parseSps round trip',
    fc.property(spsFields, (f) => {
      const nal = writeSps(f);
      const expected = expectedSize(f);
      const result = parsesOrRefuses('parseSps', nal, () => parseSps(nal), isProtocolError);
      if (!expected) {
        assert.ok(!result.ok, 'a crop that leaves nothing is refused');
        return;
      }
      if (!result.ok) throw result.error;
      const info = result.value;
      assert.deepEqual([info.width, info.height], [expected.width, expected.height]);
      assert.deepEqual([info.profileIdc, info.constraintFlags, info.levelIdc, info.spsId], [f.profile, f.constraint, f.level, f.spsId]);
      assert.equal(info.frameMbsOnly, f.frameMbsOnly);
      if (f.high) assert.deepEqual([info.chromaFormatIdc, info.bitDepthLuma, info.bitDepthChroma], [f.chroma, f.bitDepthLuma, f.bitDepthChroma]);
      assert.equal(info.framerate, f.timing ? f.timing[1] / (2 * f.timing[0]) : undefined);
    }),
    1000,
  );
});

const spsInput = fc.oneof(
  { weight: 3, arbitrary: mutatedBytes(spsSamples, { maxMutations: 4 }) },
  { weight: 2, arbitrary: spsFields.chain((f) => mutatedBytes([writeSps(f)], { maxMutations: 3 })) },
  { weight: 1, arbitrary: mutatedBytes(nalSamples, { maxMutations: 2 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => (b.length > 0 ? (b[0] = 0x67, b) : b)) },
);

test('parseSps: mutated and random SPS give a sane picture or a ProtocolError', { timeout }, async (t) => {
  await checkProperty(
    t,
    'parseSps',
    fc.property(spsInput, (nal) => {
      const result = parsesOrRefuses('parseSps', nal, () => parseSps(nal), isProtocolError);
      if (!result.ok) return;
      const info = result.value;
      assert.ok(info.width > 0 && info.height > 0 && info.width <= info.codedWidth && info.height <= info.codedHeight, 'size');
      assert.ok(info.codedWidth <= 2048 * 16 && info.codedHeight <= 2 * 2048 * 16, 'coded size bounded');
      assert.match(info.codecString, /^avc1\.[0-9a-f]{6}$/);
      assert.ok(info.framerate === undefined || (Number.isFinite(info.framerate) && info.framerate > 0), 'frame rate');
    }),
    3000,
  );
});

test('avcC builder: mutated SPS/PPS give a well-formed record or a ProtocolError', { timeout }, async (t) => {
  const ppsInput = mutatedBytes(ppsSamples, { maxMutations: 3 });
  await checkProperty(
    t,
    'buildAvcDecoderConfigurationRecord',
    fc.property(spsInput, fc.array(ppsInput, { maxLength: 3 }), (sps, ppsList) => {
      const result = parsesOrRefuses('avcC', sps, () => buildAvcDecoderConfigurationRecord(sps, ppsList), isProtocolError);
      if (!result.ok) return;
      // Read the record back (ISO/IEC 14496-15 5.3.3.1): version, one SPS, the PPS list, as given.
      const r = result.value;
      const view = new DataView(r.buffer, r.byteOffset, r.byteLength);
      assert.deepEqual([r[0], r[4], r[5]], [1, 0xff, 0xe1]);
      assert.equal(view.getUint16(6), sps.length);
      assert.ok(sameBytes(r.subarray(8, 8 + sps.length), sps));
      let o = 8 + sps.length;
      assert.equal(r[o++], ppsList.length);
      for (const pps of ppsList) {
        assert.equal(view.getUint16(o), pps.length);
        assert.ok(sameBytes(r.subarray(o + 2, o + 2 + pps.length), pps));
        o += 2 + pps.length;
      }
      assert.ok(r.length === o || r.length === o + 4, 'nothing after the optional extension');
    }),
    1500,
  );
});
