import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseSps, codecStringFromSps, videoFormatOfSps } from './sps.ts';
import { describeAccessUnit, removeEmulationPrevention, splitNalUnits } from './nal.ts';
import { BitReader } from './exp-golomb.ts';
import { ProtocolError } from '../errors.ts';
import { SpsWriter, clipPath, hasFfprobe, prng, randomBytes, readClip } from './test-support.ts';

const spsOf = (clip: string): Uint8Array => describeAccessUnit(readClip(clip)).sps!;
const hexBytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
const isCode = (code: string) => (e: unknown) => e instanceof ProtocolError && e.code === code;

/** profile names as ffprobe prints them -> profile_idc. */
const PROFILE_IDC: Record<string, number> = {
  'Constrained Baseline': 66,
  Baseline: 66,
  Main: 77,
  High: 100,
  'High 10': 110,
  'High 4:2:2': 122,
  'High 4:4:4 Predictive': 244,
};

/**
 * The fixture clips as ffprobe 6 reports them (`ffprobe -v error -show_entries
 * stream=profile,level,width,height,coded_width,coded_height,field_order,r_frame_rate`), hard-coded so
 * the test runs without ffprobe; the test below re-checks them live when ffprobe is installed.
 * ffprobe's coded_height for 1080p is 1088 (the macroblock-aligned size). ffprobe's coded size for
 * the 854x480 clip is the cropped one, so the macroblock size there is worked out by hand: 54 MBs = 864.
 */
const CLIPS = [
  { clip: '640x480-baseline.h264', profile: 'Constrained Baseline', level: 30, width: 640, height: 480, coded: [640, 480], interlaced: false, fps: 30 },
  { clip: '1280x720-main.h264', profile: 'Main', level: 31, width: 1280, height: 720, coded: [1280, 720], interlaced: false, fps: 30 },
  { clip: '1920x1080-high.h264', profile: 'High', level: 40, width: 1920, height: 1080, coded: [1920, 1088], interlaced: false, fps: 30 },
  { clip: 'sps-interlaced-720x576.h264', profile: 'High', level: 30, width: 720, height: 576, coded: [720, 576], interlaced: true, fps: 25 },
  { clip: 'sps-scaling-lists-854x480.h264', profile: 'High', level: 31, width: 854, height: 480, coded: [864, 480], interlaced: false, fps: 30 },
] as const;

test('parseSps matches ffprobe on every fixture clip', () => {
  for (const c of CLIPS) {
    const sps = spsOf(c.clip);
    const info = parseSps(sps);
    assert.equal(info.profileIdc, PROFILE_IDC[c.profile], c.clip);
    assert.equal(info.levelIdc, c.level, c.clip);
    assert.equal(info.width, c.width, c.clip);
    assert.equal(info.height, c.height, c.clip);
    assert.deepEqual([info.codedWidth, info.codedHeight], c.coded, c.clip);
    assert.equal(info.frameMbsOnly, !c.interlaced, c.clip);
    assert.equal(info.framerate, c.fps, c.clip);
    assert.equal(info.chromaFormatIdc, 1, c.clip);
    assert.equal(info.bitDepthLuma, 8, c.clip);
    // Constrained Baseline is Baseline with constraint_set1_flag (A.2.1.1).
    if (c.profile === 'Constrained Baseline') assert.equal(info.constraintFlags & 0x40, 0x40);
    const expected = `avc1.${[info.profileIdc, sps[2]!, c.level].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
    assert.equal(info.codecString, expected, c.clip);
    assert.equal(codecStringFromSps(sps), expected);
  }
  assert.equal(parseSps(spsOf('640x480-baseline.h264')).codecString, 'avc1.42c01e');
  assert.equal(parseSps(spsOf('1280x720-main.h264')).codecString, 'avc1.4d401f');
  assert.equal(parseSps(spsOf('1920x1080-high.h264')).codecString, 'avc1.640028');
});

test('SPS scaling lists: x264 fixture SPS re-written with 8 and 12 lists, checked by ffmpeg', () => {
  // x264 (the fixture's encoder) writes its cqm into the PPS, never the SPS: the fixture's own SPS has
  // seq_scaling_matrix_present_flag = 0. So these two SPS were made from real ones by setting that flag
  // and inserting lists (full 16/64-entry lists with zeros in the deltas, "use default" lists, a list
  // that repeats its last value, absent lists), then spliced back into their streams: ffprobe 6
  // reported the sizes below and ffmpeg decoded every frame without error. A reader that skips the
  // lists wrongly lands on the wrong bits for the size fields.
  const eight =
    '6764001fadba74e9d3a68462040215d3a74e9d395d10ae8857442ba215d10ae8857442ba215d10ae8857442ba215d423640360f79bc044000003000400000300f03c60c920';
  const twelve =
    '67f4001591b74e9d3a74d08c408042ba74e9d3a72ba215d10ae8857442ba215d10ae8857442ba215d10ae8857442ba84657442ba215d10ae8857442ba215d10ae8857442ba215d10ae8857484657442ba215d10ae8857442ba215d10ae8857442ba215d10ae88575b28691e79b011000000300100000030321f1429960';
  const a = parseSps(hexBytes(eight));
  assert.deepEqual([a.profileIdc, a.width, a.height, a.codedWidth, a.framerate], [100, 854, 480, 864, 30]);
  const b = parseSps(hexBytes(twelve));
  assert.deepEqual([b.profileIdc, b.chromaFormatIdc, b.width, b.height, b.frameMbsOnly, b.framerate], [244, 3, 202, 118, false, 25]);
  // The fixture itself: matrices in the PPS (pic_scaling_matrix_present_flag = 1), none in the SPS.
  const r = new BitReader(removeEmulationPrevention(spsOf('sps-scaling-lists-854x480.h264')).subarray(4));
  r.readUe(); // seq_parameter_set_id
  assert.equal(r.readUe(), 1); // chroma_format_idc
  r.readUe();
  r.readUe();
  r.skip(1);
  assert.equal(r.readBit(), 0, 'seq_scaling_matrix_present_flag');
});

test('parseSps agrees with a live ffprobe run', { skip: !hasFfprobe && 'ffprobe not installed' }, () => {
  for (const c of CLIPS) {
    const out = execFileSync('/usr/bin/ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=profile,level,width,height', '-of', 'json', clipPath(c.clip)], {
      encoding: 'utf8',
    });
    const stream = (JSON.parse(out) as { streams: { profile: string; level: number; width: number; height: number }[] }).streams[0]!;
    const info = parseSps(spsOf(c.clip));
    assert.deepEqual(
      [PROFILE_IDC[stream.profile], stream.level, stream.width, stream.height],
      [info.profileIdc, info.levelIdc, info.width, info.height],
      c.clip,
    );
  }
});

test('parseSps on x264 SPS with 4:2:2, 4:4:4, 4:0:0, 10-bit and interlaced cropping', () => {
  // Made with `ffmpeg -f lavfi -i testsrc=size=WxH -c:v libx264 -pix_fmt PF [-x264-params interlaced=1]`;
  // the expected values are what ffprobe printed for each file.
  const cases = [
    { hex: '677a000bbcd942cde4f011000003000100000300300f14299600', profile: 122, chroma: 2, depth: 8, w: 170, h: 96, mbsOnly: true },
    { hex: '67f4000b90d9b28688f3c4e022000003000200000300601e28532c00', profile: 244, chroma: 3, depth: 10, w: 202, h: 120, mbsOnly: true },
    { hex: '6764000af3651c9e363f016c800000030080000018078912cb00', profile: 100, chroma: 0, depth: 8, w: 100, h: 50, mbsOnly: true },
    { hex: '676e0020a6cd94056061e6f011000003000100000300300f18319600', profile: 110, chroma: 1, depth: 10, w: 1366, h: 768, mbsOnly: true },
    { hex: '677a0015bcd942dbc9260220000003002000000643e28532c000', profile: 122, chroma: 2, depth: 8, w: 170, h: 90, mbsOnly: false },
    { hex: '67f40015919b28691e79b011000003000100000300321f14299600', profile: 244, chroma: 3, depth: 8, w: 202, h: 118, mbsOnly: false },
    { hex: '67640015acd942c8fc460220000003002000000643e28532c000', profile: 100, chroma: 1, depth: 8, w: 176, h: 100, mbsOnly: false },
  ];
  for (const c of cases) {
    const info = parseSps(hexBytes(c.hex));
    assert.deepEqual(
      [info.profileIdc, info.chromaFormatIdc, info.bitDepthLuma, info.bitDepthChroma, info.width, info.height, info.frameMbsOnly],
      [c.profile, c.chroma, c.depth, c.depth, c.w, c.h, c.mbsOnly],
      c.hex,
    );
  }
});


interface SpsFields {
  profile: number;
  constraint?: number;
  level?: number;
  chroma?: number;
  separatePlane?: boolean;
  bitDepth?: number;
  /** One entry per list: undefined = flag 0, else the delta_scale values written. */
  scalingLists?: (number[] | undefined)[];
  poc?: { type: 0 } | { type: 1; offsets: number[] } | { type: 2 };
  mbs: [number, number];
  frameMbsOnly?: boolean;
  crop?: [number, number, number, number];
  vui?: (w: SpsWriter) => void;
}

function buildSps(f: SpsFields): Uint8Array {
  const w = new SpsWriter().u(8, f.profile).u(8, f.constraint ?? 0).u(8, f.level ?? 40).ue(0);
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(f.profile)) {
    w.ue(f.chroma ?? 1);
    if ((f.chroma ?? 1) === 3) w.u(1, f.separatePlane ? 1 : 0);
    w.ue((f.bitDepth ?? 8) - 8).ue((f.bitDepth ?? 8) - 8).u(1, 0);
    w.u(1, f.scalingLists ? 1 : 0);
    for (const list of f.scalingLists ?? []) {
      w.u(1, list ? 1 : 0);
      for (const delta of list ?? []) w.se(delta);
    }
  }
  w.ue(4); // log2_max_frame_num_minus4
  const poc = f.poc ?? { type: 0 };
  w.ue(poc.type);
  if (poc.type === 0) w.ue(2);
  if (poc.type === 1) {
    w.u(1, 0).se(-5).se(7).ue(poc.offsets.length);
    for (const o of poc.offsets) w.se(o);
  }
  w.ue(3).u(1, 0).ue(f.mbs[0] - 1).ue(f.mbs[1] - 1);
  w.u(1, f.frameMbsOnly === false ? 0 : 1);
  if (f.frameMbsOnly === false) w.u(1, 1);
  w.u(1, 1); // direct_8x8_inference_flag
  w.u(1, f.crop ? 1 : 0);
  for (const c of f.crop ?? []) w.ue(c);
  w.u(1, f.vui ? 1 : 0);
  f.vui?.(w);
  return w.nal();
}

test('hand-made SPS: separate_colour_plane uses 1-sample crop units', () => {
  const info = parseSps(buildSps({ profile: 244, chroma: 3, separatePlane: true, mbs: [10, 5], crop: [1, 2, 3, 1] }));
  assert.equal(info.separateColourPlane, true);
  assert.deepEqual([info.width, info.height], [160 - 3, 80 - 4]);
});

test('hand-made SPS: 8 and 12 scaling lists (explicit, default-matrix, absent) are skipped exactly', () => {
  const full16 = Array.from({ length: 16 }, (_, i) => (i % 3) - 1);
  const full64 = Array.from({ length: 64 }, (_, i) => (i % 5) - 2);
  const useDefault = [-8]; // nextScale becomes 0 at j = 0: default matrix, no more deltas
  const repeatAfter3 = [4, 4, -16]; // 12, 16, 0: "repeat the last value" after three deltas
  const lists8 = [full16, undefined, useDefault, repeatAfter3, undefined, full16, full64, useDefault];
  const a = parseSps(buildSps({ profile: 100, scalingLists: lists8, mbs: [54, 30], crop: [0, 5, 0, 0] }));
  assert.deepEqual([a.width, a.height], [854, 480]);
  const lists12 = [...lists8, full64, undefined, useDefault, full64];
  const b = parseSps(buildSps({ profile: 244, chroma: 3, bitDepth: 10, scalingLists: lists12, mbs: [40, 23], crop: [0, 0, 0, 8] }));
  assert.deepEqual([b.width, b.height, b.bitDepthLuma], [640, 360, 10]);
});

test('hand-made SPS: pic_order_cnt_type 1 and 2, emulation prevention bytes inside', () => {
  // Offsets of 2^20 code as long runs of zero bits: the NAL needs 00 00 03 escapes.
  const nal = buildSps({ profile: 77, poc: { type: 1, offsets: [2 ** 20, -(2 ** 21), 3] }, mbs: [80, 45] });
  assert.ok(Buffer.from(nal).includes(Buffer.from([0, 0, 3])), 'test SPS contains emulation prevention');
  assert.deepEqual([parseSps(nal).width, parseSps(nal).height], [1280, 720]);
  const poc2 = parseSps(buildSps({ profile: 66, constraint: 0xc0, level: 31, poc: { type: 2 }, mbs: [120, 68], crop: [0, 0, 0, 4] }));
  assert.deepEqual([poc2.width, poc2.height, poc2.codecString], [1920, 1080, 'avc1.42c01f']);
});

test('hand-made SPS: interlaced 4:2:0 crop counts field rows (crop unit 4)', () => {
  const info = parseSps(buildSps({ profile: 100, mbs: [45, 18], frameMbsOnly: false, crop: [0, 0, 0, 2] }));
  assert.deepEqual([info.codedWidth, info.codedHeight, info.width, info.height], [720, 576, 720, 568]);
});

test('hand-made SPS: full VUI up to timing_info gives 29.97 fps; broken VUI gives none', () => {
  const vui = (w: SpsWriter): void => {
    w.u(1, 1).u(8, 255).u(16, 4).u(16, 3); // aspect ratio: Extended_SAR 4:3
    w.u(1, 1).u(1, 0); // overscan
    w.u(1, 1).u(3, 5).u(1, 1).u(1, 1).u(8, 1).u(8, 1).u(8, 1); // video signal + colour description
    w.u(1, 1).ue(1).ue(1); // chroma location
    w.u(1, 1).u(32, 1001).u(32, 60000).u(1, 1); // timing
  };
  assert.equal(parseSps(buildSps({ profile: 77, mbs: [80, 45], vui })).framerate, 60000 / 2002);
  const truncatedVui = (w: SpsWriter): void => void w.u(1, 1).u(8, 255).u(4, 0);
  const info = parseSps(buildSps({ profile: 77, mbs: [80, 45], vui: truncatedVui }));
  assert.equal(info.framerate, undefined);
  assert.equal(info.width, 1280);
});

test('a VUI tick that is no frame rate (past MAX_FRAMERATE) gives a video format without one, for the sender to fill in', () => {
  const timing = (unitsInTick: number, timeScale: number) => (w: SpsWriter): void => {
    w.u(1, 0).u(1, 0).u(1, 0).u(1, 0); // no aspect ratio, overscan, signal type, chroma location
    w.u(1, 1).u(32, unitsInTick).u(32, timeScale).u(1, 0);
  };
  const ticks = parseSps(buildSps({ profile: 77, mbs: [80, 45], vui: timing(1, 90_000) }));
  assert.equal(ticks.framerate, 45_000, 'the SPS itself is reported as it is');
  assert.equal(videoFormatOfSps(ticks).framerate, undefined);
  assert.equal(videoFormatOfSps(parseSps(buildSps({ profile: 77, mbs: [80, 45], vui: timing(1, 240) }))).framerate, 120);
});

test('parseSps rejects bad input with typed errors', () => {
  assert.throws(() => parseSps(new Uint8Array(0)), isCode('ERR_SPS_INVALID'));
  assert.throws(() => parseSps(hexBytes('68ce3c80')), isCode('ERR_SPS_INVALID'));
  assert.throws(() => parseSps(buildSps({ profile: 99, mbs: [10, 10] })), isCode('ERR_SPS_UNSUPPORTED'));
  assert.throws(() => parseSps(buildSps({ profile: 100, chroma: 4, mbs: [10, 10] })), isCode('ERR_SPS_INVALID'));
  assert.throws(() => parseSps(buildSps({ profile: 66, mbs: [10, 10], crop: [40, 40, 0, 0] })), isCode('ERR_SPS_INVALID'));
  assert.throws(() => parseSps(spsOf('1920x1080-high.h264').subarray(0, 6)), isCode('ERR_SPS_INVALID'));
});

test('parseSps throws nothing but ProtocolError on random, truncated and bit-flipped SPS', () => {
  const rand = prng(7);
  const tryParse = (nal: Uint8Array): void => {
    try {
      parseSps(nal);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
    }
  };
  for (let i = 0; i < 5000; i++) {
    const bytes = randomBytes(rand, 1 + Math.floor(rand() * 40));
    bytes[0] = 0x67;
    tryParse(bytes);
  }
  for (const c of CLIPS) {
    const sps = spsOf(c.clip);
    for (let n = 0; n <= sps.length; n++) tryParse(sps.subarray(0, n));
    for (let bit = 8; bit < sps.length * 8; bit++) {
      const flipped = sps.slice();
      flipped[bit >> 3]! ^= 0x80 >> (bit & 7);
      tryParse(flipped);
    }
  }
  // Every NAL unit of a clip given as an SPS: wrong types are refused with ProtocolError too.
  for (const nal of splitNalUnits(readClip('sps-interlaced-720x576.h264'))) tryParse(nal);
});
