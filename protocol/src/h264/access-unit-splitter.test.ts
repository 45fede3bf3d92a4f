import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessUnitSplitter, type AccessUnit, type AccessUnitSplitterOptions } from './access-unit-splitter.ts';
import { describeAccessUnit } from './nal.ts';
import { ProtocolError } from '../errors.ts';
import { clipPath, concat, ffprobePackets, hasFfprobe, prng, randomBytes, randomChunks, readClip } from './test-support.ts';

/**
 * Frame and keyframe counts per clip, from ffprobe 6:
 *   ffprobe -v error -count_frames -show_entries stream=nb_read_frames CLIP
 *   ffprobe -v error -show_frames -show_entries frame=key_frame -of csv CLIP | sort | uniq -c
 * (the last test below re-checks packet sizes and key flags live when ffprobe is installed).
 */
const CLIPS = [
  { name: '640x480-baseline.h264', frames: 120, keyframes: 4 },
  { name: '1280x720-main.h264', frames: 120, keyframes: 4 },
  { name: '1920x1080-high.h264', frames: 120, keyframes: 2 },
  { name: 'sps-interlaced-720x576.h264', frames: 10, keyframes: 1 },
  { name: 'sps-scaling-lists-854x480.h264', frames: 12, keyframes: 1 },
];

const clipCache = new Map<string, Uint8Array>();
function clip(name: string): Uint8Array {
  let data = clipCache.get(name);
  if (!data) clipCache.set(name, (data = readClip(name)));
  return data;
}

/** Pushes every chunk, then flushes once (or after every chunk: the agent's behaviour on silence). */
function run(chunks: Iterable<Uint8Array>, options: AccessUnitSplitterOptions = {}, flushEach = false) {
  const splitter = new AccessUnitSplitter(options);
  const units: AccessUnit[] = [];
  for (const chunk of chunks) {
    units.push(...splitter.push(chunk));
    if (flushEach) units.push(...splitter.flush());
  }
  units.push(...splitter.flush());
  return { units, splitter };
}

const reference = (name: string): AccessUnit[] => run([clip(name)]).units;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function assertSameUnits(actual: AccessUnit[], expected: AccessUnit[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: unit count`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(equalBytes(actual[i]!.data, expected[i]!.data), `${label}: unit ${i} bytes`);
    assert.equal(actual[i]!.keyframe, expected[i]!.keyframe, `${label}: unit ${i} keyframe`);
  }
}

const u8 = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
// Hand-made NAL units with 4-byte start codes. Slices: 0x80 after the header = first_mb_in_slice 0,
// 0x40 = first_mb_in_slice 1 (ue '010').
const AUD = u8(0, 0, 0, 1, 0x09, 0xf0);
const SPS = u8(0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9);
const PPS = u8(0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80);
const SEI = u8(0, 0, 0, 1, 0x06, 0x05, 0x01, 0x80);
const IDR0 = u8(0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21);
const IDR1 = u8(0, 0, 1, 0x65, 0x40, 0x11, 0x22);
const P0 = u8(0, 0, 0, 1, 0x41, 0x9a, 0x02, 0x03);
const P1 = u8(0, 0, 1, 0x41, 0x42, 0x05, 0x00, 0x07); // contains a lone 0x00 followed by data
const EOS = u8(0, 0, 0, 1, 0x0a);
const FILLER = u8(0, 0, 0, 1, 0x0c, 0xff, 0xff, 0x80);
const PREFIX = u8(0, 0, 0, 1, 0x0e, 0x80, 0x11);
const hex = (units: AccessUnit[]): string[] => units.map((u) => Buffer.from(u.data).toString('hex') + (u.keyframe ? ' K' : ''));
const hexOf = (...parts: Uint8Array[]): string => Buffer.from(concat(parts)).toString('hex');

test('each clip splits into exactly ffprobe’s frames and keyframes, byte-identical', () => {
  for (const c of CLIPS) {
    const data = clip(c.name);
    const { units, splitter } = run([data]);
    assert.equal(units.length, c.frames, c.name);
    assert.equal(units.filter((u) => u.keyframe).length, c.keyframes, c.name);
    assert.ok(equalBytes(concat(units.map((u) => u.data)), data), `${c.name}: concatenation equals the input`);
    for (const unit of units) {
      const info = describeAccessUnit(unit.data);
      assert.equal(unit.keyframe, info.keyframe, c.name);
      if (unit.keyframe) assert.ok(info.sps && info.pps.length > 0, `${c.name}: --inline headers travel with the IDR`);
      assert.deepEqual([...unit.data.subarray(0, 4)], [0, 0, 0, 1], c.name);
    }
    assert.equal(splitter.tornFrames, 0);
    assert.equal(splitter.oversizeDropped, 0);
  }
});

test('units match ffprobe’s packet sizes and key flags (live ffprobe)', { skip: !hasFfprobe && 'ffprobe not installed' }, () => {
  for (const c of CLIPS) {
    const packets = ffprobePackets(clipPath(c.name));
    const units = reference(c.name);
    assert.deepEqual(
      units.map((u) => [u.data.length, u.keyframe]),
      packets.map((p) => [p.size, p.key]),
      c.name,
    );
  }
});

test('every split point across the first frames (IDR, multi-slice P frames, start codes) gives the same units', () => {
  const all = reference('640x480-baseline.h264');
  // Four units: the IDR (SPS, PPS, SEI, 2 slices) and three 2-slice P frames. Every k in the first
  // three units and into the start code of the fourth is tried: [0, k) then [k, end).
  const data = concat(all.slice(0, 4).map((u) => u.data));
  const expected = all.slice(0, 4);
  const last = all[0]!.data.length + all[1]!.data.length + all[2]!.data.length + 8;
  for (let k = 0; k <= last; k++) {
    const { units, splitter } = run([data.subarray(0, k), data.subarray(k)]);
    if (units.length !== 4 || !units.every((u, i) => equalBytes(u.data, expected[i]!.data) && u.keyframe === expected[i]!.keyframe)) {
      assertSameUnits(units, expected, `split at ${k}`);
    }
    assert.equal(splitter.tornFrames, 0);
  }
});

test('random chunk sizes (seeded) and 1-byte chunks give the same units', () => {
  for (const c of CLIPS) {
    const expected = reference(c.name);
    for (const [seed, maxSize] of [
      [1, 7],
      [2, 300],
      [3, 5000],
      [4, 100_000],
    ] as const) {
      const { units } = run(randomChunks(clip(c.name), prng(seed), maxSize));
      assertSameUnits(units, expected, `${c.name} seed ${seed} max ${maxSize}`);
    }
  }
  const data = clip('640x480-baseline.h264');
  const bytes = (function* () {
    for (let i = 0; i < data.length; i++) yield data.subarray(i, i + 1);
  })();
  assertSameUnits(run(bytes).units, reference('640x480-baseline.h264'), '1-byte chunks');
});

test('reusedChunks: chunks read into ONE buffer that the caller overwrites give the same units', () => {
  for (const c of CLIPS) {
    const expected = reference(c.name);
    for (const [seed, maxSize, flushEvery] of [
      [5, 300, 0],
      [6, 70_000, 0],
      [7, 70_000, 3],
    ] as const) {
      const split = (reusedChunks: boolean) => {
        const splitter = new AccessUnitSplitter({ reusedChunks });
        const readBuffer = new Uint8Array(maxSize);
        const units: AccessUnit[] = [];
        // Units are valid until the next call: keep copies, as the agent's uplink does.
        const keep = (out: AccessUnit[]) => units.push(...out.map((u) => ({ data: u.data.slice(), keyframe: u.keyframe })));
        let pushes = 0;
        for (const chunk of randomChunks(clip(c.name), prng(seed), maxSize)) {
          if (reusedChunks) {
            readBuffer.set(chunk);
            keep(splitter.push(readBuffer.subarray(0, chunk.length)));
            readBuffer.fill(0xa5); // the next read overwrites it
          } else {
            keep(splitter.push(chunk));
          }
          if (flushEvery > 0 && ++pushes % flushEvery === 0) keep(splitter.flush());
        }
        keep(splitter.flush());
        return { units, torn: splitter.tornFrames };
      };
      const reused = split(true);
      if (flushEvery === 0) assertSameUnits(reused.units, expected, `${c.name} seed ${seed}`);
      // Flushes mid-frame tear frames: the same units and tears as with chunks that stay put.
      const kept = split(false);
      assertSameUnits(reused.units, kept.units, `${c.name} seed ${seed} flush every ${flushEvery}`);
      assert.equal(reused.torn, kept.torn);
    }
  }
});

test('camera-like writes (one unit per push, flush on silence): same units, no false tears', () => {
  for (const c of CLIPS) {
    const expected = reference(c.name);
    const splitter = new AccessUnitSplitter();
    const units: AccessUnit[] = [];
    for (const unit of expected) {
      assert.deepEqual(splitter.push(unit.data), [], 'nothing completes before the silence');
      units.push(...splitter.flush());
    }
    assertSameUnits(units, expected, c.name);
    assert.equal(splitter.tornFrames, 0, c.name);
  }
});

test('a 4-byte start code cut by a flush (zeros held back, 00 01 / 01 next) is a new unit, not a tear', () => {
  const data = clip('1280x720-main.h264');
  const expected = reference('1280x720-main.h264');
  for (const moved of [1, 2, 3]) {
    // Each write ends with the first `moved` bytes of the next unit's `00 00 00 01`.
    const writes: Uint8Array[] = [];
    let offset = 0;
    for (let i = 0; i < expected.length; i++) {
      const end = offset + expected[i]!.data.length + (i + 1 < expected.length ? moved : 0);
      writes.push(data.subarray(i === 0 ? 0 : offset + moved, end));
      offset += expected[i]!.data.length;
    }
    let torn = 0;
    const { units, splitter } = run(writes, { onTorn: () => torn++ }, true);
    assert.equal(splitter.tornFrames, 0, `moved ${moved}`);
    assert.equal(torn, 0);
    assert.equal(units.length, expected.length);
    assert.deepEqual(
      units.map((u) => u.keyframe),
      expected.map((u) => u.keyframe),
    );
    // The zeros at the end of a write begin the next unit's start code: every unit is whole, as
    // when the clip is split in one piece (a unit beginning `00 01` or `01` would be refused downstream).
    units.forEach((u, i) => assert.ok(equalBytes(u.data, expected[i]!.data), `moved ${moved}: unit ${i} begins with its start code`));
  }
});

test('a flush between `00 00 00` and `01`: the next unit still begins with its whole start code', () => {
  // Found by the fuzz pass (h264.fuzz.test.ts): the zeros went out with the flushed unit, the next
  // unit began `01 41 ..`, and the relay closes an agent whose video frame lacks a start code.
  const splitter = new AccessUnitSplitter();
  const first = [...splitter.push(concat([SPS, PPS, IDR0, P0.subarray(0, 3)])), ...splitter.flush()];
  const second = [...splitter.push(P0.subarray(3)), ...splitter.flush()];
  assert.deepEqual(hex(first), [hexOf(SPS, PPS, IDR0) + ' K']);
  assert.deepEqual(hex(second), [hexOf(P0)]);
  assert.equal(splitter.tornFrames, 0);
});

test('torn frame: half a frame, flush, the rest -> rest dropped, counted, reported once', () => {
  const expected = reference('1280x720-main.h264');
  const data = clip('1280x720-main.h264');
  const offsets = expected.map((_, i) => expected.slice(0, i).reduce((n, u) => n + u.data.length, 0));
  const half = offsets[5]! + Math.floor(expected[5]!.data.length / 2);
  let torn = 0;
  const splitter = new AccessUnitSplitter({ onTorn: () => torn++ });
  const units = [...splitter.push(data.subarray(0, half)), ...splitter.flush(), ...splitter.push(data.subarray(half)), ...splitter.flush()];
  assert.equal(splitter.tornFrames, 1);
  assert.equal(torn, 1);
  assertSameUnits(units.slice(0, 5), expected.slice(0, 5), 'before the tear');
  assert.ok(equalBytes(units[5]!.data, data.subarray(offsets[5]!, half)), 'the half frame went out on flush');
  assertSameUnits(units.slice(6), expected.slice(6), 'after the tear');
});

test('torn at a slice boundary: a slice with first_mb_in_slice > 0 after flush is a tear', () => {
  const expected = reference('640x480-baseline.h264');
  const p = expected[5]!.data; // two slices: `00 00 00 01 41 9a..` then `00 00 01 41 xx` (first_mb > 0)
  const second = Buffer.from(p).indexOf(Buffer.from([0, 0, 1]), 4);
  assert.ok(second > 0 && p[second + 4]! < 0x80, 'fixture frame has a second slice');
  for (const cut of [second, second + 1, second + 2, second + 3]) {
    // cut + 2: the write ends in `00 00`, the rest starts with `01`: still the same frame.
    const splitter = new AccessUnitSplitter();
    const units = [...splitter.push(p.subarray(0, cut)), ...splitter.flush(), ...splitter.push(p.subarray(cut)), ...splitter.flush()];
    units.push(...splitter.push(expected[6]!.data), ...splitter.flush());
    assert.equal(splitter.tornFrames, 1, `cut at ${cut}`);
    assert.equal(units.length, 2, `cut at ${cut}`);
    // flush() holds back what may begin the next unit: trailing zeros, or a start code whose NAL
    // header has not arrived. The first part ends where the second slice's start code begins.
    assert.ok(equalBytes(units[0]!.data, p.subarray(0, second)), `cut at ${cut}: first part`);
    assert.ok(equalBytes(units[1]!.data, expected[6]!.data), 'next frame survives');
  }
});

test('flush with only a start code pending keeps it for the next unit', () => {
  const splitter = new AccessUnitSplitter();
  const a = [...splitter.push(concat([SPS, PPS, IDR0, u8(0, 0, 0, 1)])), ...splitter.flush()];
  assert.deepEqual(hex(a), [hexOf(SPS, PPS, IDR0) + ' K']);
  const b = [...splitter.push(P0.subarray(4)), ...splitter.flush()];
  assert.deepEqual(hex(b), [hexOf(P0)]);
  assert.equal(splitter.tornFrames, 0);
  assert.deepEqual(splitter.flush(), []);
  assert.deepEqual(new AccessUnitSplitter().flush(), []);
});

test('7.4.1.2.3 boundaries: AUD, SPS/PPS/SEI/prefix after a slice, first_mb_in_slice == 0', () => {
  const stream = concat([AUD, SPS, PPS, SEI, IDR0, IDR1, AUD, P0, P1, FILLER, EOS, AUD, AUD, P0, SEI, P0, P1, P0, PREFIX, P0, SPS, PPS]);
  const { units } = run([stream]);
  assert.deepEqual(hex(units), [
    hexOf(AUD, SPS, PPS, SEI, IDR0, IDR1) + ' K',
    hexOf(AUD, P0, P1, FILLER, EOS), // filler and end of sequence stay with their picture
    hexOf(AUD), // AUD-only unit: an AUD always opens a new one
    hexOf(AUD, P0),
    hexOf(SEI, P0, P1), // SEI after a slice opens the next unit; multi-slice picture stays whole
    hexOf(P0), // first_mb_in_slice == 0 after slices: new picture
    hexOf(PREFIX, P0),
    hexOf(SPS, PPS), // parameter sets without a picture, completed by the final flush
  ]);
});

test('leading garbage is dropped up to the first start code', () => {
  const data = clip('sps-interlaced-720x576.h264');
  const expected = reference('sps-interlaced-720x576.h264');
  const rand = prng(11);
  const garbage = randomBytes(rand, 5000).map((b) => (b < 2 ? 0xaa : b)); // no 00/01: no start code
  assertSameUnits(run([concat([garbage, data])]).units, expected, 'garbage');
  // Zeros right before the start code: up to the 4-byte form belongs to the unit, the rest is garbage.
  assertSameUnits(run(randomChunks(concat([garbage, u8(0, 0, 0), data]), rand, 50)).units, expected, 'garbage + zeros');
  const tail = u8(0x12, 0x34, 0, 0, 2, 0, 0, 0);
  assertSameUnits(run([concat([tail, data])]).units, expected, 'zero runs in garbage');
});

test('oversize units are dropped to the next unit start and reported as ERR_ACCESS_UNIT_TOO_LARGE', () => {
  const expected = reference('640x480-baseline.h264');
  const max = 5000; // the 4 IDR units are ~9 kB, P frames ~3.5 kB
  const kept = expected.filter((u) => u.data.length <= max);
  assert.equal(expected.length - kept.length, 4);
  for (const [label, chunks, flushEach] of [
    ['one chunk', [clip('640x480-baseline.h264')], false],
    ['random chunks', randomChunks(clip('640x480-baseline.h264'), prng(5), 700), false],
    ['camera writes', expected.map((u) => u.data), true],
  ] as const) {
    const errors: ProtocolError[] = [];
    const { units, splitter } = run(chunks, { maxAccessUnitBytes: max, onError: (e) => errors.push(e) }, flushEach);
    assertSameUnits(units, kept, label);
    assert.equal(splitter.oversizeDropped, 4, label);
    assert.equal(errors.length, 4, label);
    assert.ok(errors.every((e) => e instanceof ProtocolError && e.code === 'ERR_ACCESS_UNIT_TOO_LARGE'), label);
    assert.equal(splitter.tornFrames, 0, label);
  }
});

test('never throws: random bytes, truncated and mutated clips, random flushes; output is the input minus garbage', () => {
  const rand = prng(42);
  const skewed = (n: number): Uint8Array => {
    // Mostly 0x00 and 0x01 so start codes, zero runs and NAL headers of every type turn up often.
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const r = rand();
      out[i] = r < 0.4 ? 0 : r < 0.55 ? 1 : Math.floor(rand() * 256);
    }
    return out;
  };
  const mutate = (data: Uint8Array): Uint8Array => {
    const out = data.slice();
    for (let i = 0; i < 200; i++) {
      const at = Math.floor(rand() * out.length);
      if (rand() < 0.5) out[at] = Math.floor(rand() * 256);
      else out.set(u8(0, 0, 1, Math.floor(rand() * 256)).subarray(0, Math.min(4, out.length - at)), at);
    }
    return out;
  };
  const inputs: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) inputs.push(skewed(1 + Math.floor(rand() * 3000)));
  for (let i = 0; i < 40; i++) inputs.push(randomBytes(rand, Math.floor(rand() * 3000)));
  const small = clip('sps-scaling-lists-854x480.h264');
  for (let i = 0; i < 20; i++) inputs.push(small.subarray(0, Math.floor(rand() * small.length)));
  for (let i = 0; i < 20; i++) inputs.push(mutate(small));

  for (const input of inputs) {
    // Without mid-stream flushes and with no cap in reach, nothing is lost but leading garbage and a
    // start code at the very end, which flush() keeps for the NAL unit it announces.
    const { units } = run(randomChunks(input, rand, 64));
    const out = concat(units.map((u) => u.data));
    if (!equalBytes(out, input.subarray(firstUnitStart(input), Math.max(firstUnitStart(input), heldBackEnd(input))))) {
      assert.fail(`lost bytes: in ${Buffer.from(input).toString('hex')} out ${Buffer.from(out).toString('hex')}`);
    }
    // With random flushes and a tiny cap: anything may be dropped, but nothing throws, errors are typed.
    const splitter = new AccessUnitSplitter({
      maxAccessUnitBytes: 1 + Math.floor(rand() * 500),
      onError: (e) => assert.ok(e instanceof ProtocolError, 'typed error'),
    });
    for (const chunk of randomChunks(input, rand, 100)) {
      for (const unit of splitter.push(chunk)) assert.ok(unit.data.length > 0, 'no empty units');
      if (rand() < 0.3) splitter.flush();
    }
    splitter.flush();
  }
  assert.deepEqual(new AccessUnitSplitter().push(new Uint8Array(0)), []);
});

/** Where the output must begin: the first `00 00 01`, with at most one more zero in front of it. */
function firstUnitStart(data: Uint8Array): number {
  const at = Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(Buffer.from([0, 0, 1]));
  if (at < 0) return data.length;
  return at > 0 && data[at - 1] === 0 ? at - 1 : at;
}

/**
 * Where the output must end: before a final start code whose NAL header never came, or before up to
 * three trailing zeros (flush() keeps both for a next unit that never comes).
 */
function heldBackEnd(data: Uint8Array): number {
  const n = data.length;
  if (n < 3 || data[n - 1] !== 1 || data[n - 2] !== 0 || data[n - 3] !== 0) {
    let zeros = 0;
    while (zeros < 3 && zeros < n && data[n - 1 - zeros] === 0) zeros++;
    return n - zeros;
  }
  return n >= 4 && data[n - 4] === 0 ? n - 4 : n - 3;
}
