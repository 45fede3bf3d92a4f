/**
 * The fragmented MP4 (ISO/IEC 14496-12, -14, -15) the recorder writes and the clip builder reads back:
 * an init segment (ftyp + moov with mvex) and fragments (moof + mdat), one `traf` per track, each
 * trun with a duration, size and flags per sample and data offsets from the moof's start
 * (default-base-is-moof). Written here rather than with a muxing library because the recorder needs
 * fragments of at most 1 s whatever the camera's keyframe interval (a library that cuts fragments
 * only at keyframes loses a whole GOP on a power cut: 20 s at `--intra 600`), and the clip builder
 * rewrites fragments sample by sample (decode times, overlap with backfill): both need this exact
 * layout. Decode times (tfdt) are absolute: capture time since the Unix epoch in the track's
 * timescale, so fragments of any segment line up and a clip only shifts them by one constant.
 */

export const VIDEO_TRACK_ID = 1;
export const AUDIO_TRACK_ID = 2;
export const VIDEO_TIMESCALE = 90_000;
/** the movie header's timescale (durations in mvhd and mehd) */
const MOVIE_TIMESCALE = 1000;

/** sample_depends_on = 2: decodes alone */
export const SYNC_SAMPLE_FLAGS = 0x0200_0000;
/** sample_depends_on = 1, sample_is_non_sync_sample = 1 */
export const NON_SYNC_SAMPLE_FLAGS = 0x0101_0000;

export interface VideoTrackConfig {
  width: number;
  height: number;
  /** AVCDecoderConfigurationRecord (protocol's buildAvcDecoderConfigurationRecord) */
  avcC: Uint8Array;
}

export interface AudioTrackConfig {
  sampleRate: number;
  channels: number;
}

interface Sample {
  /** in the track's timescale */
  duration: number;
  size: number;
  flags: number;
  /** the sample's bytes in pieces, `size` in all */
  parts: readonly Uint8Array[];
}

export interface TrackRun {
  trackId: number;
  /** tfdt: decode time of the first sample, in the track's timescale */
  baseDecodeTime: number;
  samples: readonly Sample[];
}

// ---- writing -------------------------------------------------------------------------------------

/** A box under construction: its children or bytes are known before its size is. */
type Part = Uint8Array | BoxNode;
interface BoxNode {
  type: string;
  parts: Part[];
  size: number;
}

function box(type: string, ...parts: Part[]): BoxNode {
  let size = 8;
  for (const p of parts) size += p instanceof Uint8Array ? p.byteLength : p.size;
  return { type, parts, size };
}

function fullBox(type: string, version: number, flags: number, ...parts: Part[]): BoxNode {
  return box(type, u8(version), u24(flags), ...parts);
}

function serialize(node: BoxNode, out: Uint8Array = new Uint8Array(node.size), at = 0): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(at, node.size);
  for (let i = 0; i < 4; i++) out[at + 4 + i] = node.type.charCodeAt(i);
  let o = at + 8;
  for (const p of node.parts) {
    if (p instanceof Uint8Array) {
      out.set(p, o);
      o += p.byteLength;
    } else {
      serialize(p, out, o);
      o += p.size;
    }
  }
  return out;
}

const u8 = (v: number) => Uint8Array.of(v & 0xff);
const u16 = (v: number) => Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
const u24 = (v: number) => Uint8Array.of((v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}
const zeros = (n: number) => new Uint8Array(n);
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const MATRIX = Uint8Array.from([0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000].flatMap((v) => [...u32(v)]));

function trak(trackId: number, handler: 'vide' | 'soun', timescale: number, width: number, height: number, mediaInfo: BoxNode, sampleEntry: BoxNode): BoxNode {
  const video = handler === 'vide';
  return box(
    'trak',
    // flags: enabled | in movie
    fullBox('tkhd', 0, 3, u32(0), u32(0), u32(trackId), u32(0), u32(0), zeros(8), u16(0), u16(video ? 0 : 1), u16(video ? 0 : 0x0100), u16(0), MATRIX, u32(width << 16), u32(height << 16)),
    box(
      'mdia',
      fullBox('mdhd', 0, 0, u32(0), u32(0), u32(timescale), u32(0), u16(0x55c4 /* und */), u16(0)),
      fullBox('hdlr', 0, 0, u32(0), ascii(handler), zeros(12), ascii(video ? 'VideoHandler\0' : 'SoundHandler\0')),
      box(
        'minf',
        mediaInfo,
        box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))),
        box('stbl', fullBox('stsd', 0, 0, u32(1), sampleEntry), fullBox('stts', 0, 0, u32(0)), fullBox('stsc', 0, 0, u32(0)), fullBox('stsz', 0, 0, u32(0), u32(0)), fullBox('stco', 0, 0, u32(0))),
      ),
    ),
  );
}

function avc1(video: VideoTrackConfig): BoxNode {
  return box(
    'avc1',
    zeros(6),
    u16(1), // data_reference_index
    zeros(16),
    u16(video.width),
    u16(video.height),
    u32(0x0048_0000), // 72 dpi
    u32(0x0048_0000),
    u32(0),
    u16(1), // frame_count
    zeros(32), // compressorname
    u16(0x0018),
    u16(0xffff),
    box('avcC', video.avcC),
  );
}

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** AudioSpecificConfig for AAC-LC (object type 2). */
function aacAudioSpecificConfig(audio: AudioTrackConfig): Uint8Array {
  const index = SAMPLE_RATES.indexOf(audio.sampleRate);
  if (index < 0) throw new RangeError(`AAC sample rate ${audio.sampleRate} has no index`);
  return Uint8Array.of((2 << 3) | (index >> 1), ((index & 1) << 7) | (audio.channels << 3));
}

function descriptor(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(2 + length);
  out[0] = tag;
  out[1] = length; // every descriptor here is shorter than 128 bytes
  let o = 2;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

function mp4a(audio: AudioTrackConfig): BoxNode {
  const decoderSpecificInfo = descriptor(0x05, aacAudioSpecificConfig(audio));
  // objectTypeIndication 0x40 (MPEG-4 audio), streamType 5 (audio) << 2 | 1, buffer size, bitrates
  const decoderConfig = descriptor(0x04, u8(0x40), u8(0x15), u24(0), u32(0), u32(0), decoderSpecificInfo);
  const esDescriptor = descriptor(0x03, u16(0), u8(0), decoderConfig, descriptor(0x06, u8(0x02)));
  return box('mp4a', zeros(6), u16(1), zeros(8), u16(audio.channels), u16(16), u16(0), u16(0), u32(audio.sampleRate << 16), fullBox('esds', 0, 0, esDescriptor));
}

/** ftyp + moov for a video track and, when given, an AAC track. */
export function initSegment(video: VideoTrackConfig, audio: AudioTrackConfig | null): Uint8Array {
  const ftyp = box('ftyp', ascii('isom'), u32(0x200), ascii('isom'), ascii('iso6'), ascii('avc1'), ascii('mp41'));
  const traks = [trak(VIDEO_TRACK_ID, 'vide', VIDEO_TIMESCALE, video.width, video.height, fullBox('vmhd', 0, 1, zeros(8)), avc1(video))];
  const trexes = [fullBox('trex', 0, 0, u32(VIDEO_TRACK_ID), u32(1), u32(0), u32(0), u32(0))];
  if (audio) {
    traks.push(trak(AUDIO_TRACK_ID, 'soun', audio.sampleRate, 0, 0, fullBox('smhd', 0, 0, zeros(4)), mp4a(audio)));
    trexes.push(fullBox('trex', 0, 0, u32(AUDIO_TRACK_ID), u32(1), u32(0), u32(0), u32(0)));
  }
  const mvhd = fullBox('mvhd', 0, 0, u32(0), u32(0), u32(MOVIE_TIMESCALE), u32(0), u32(0x0001_0000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(audio ? 3 : 2));
  // mehd holds the whole duration: the clip builder sets it (and mvhd's) so players know the length.
  const moov = box('moov', mvhd, ...traks, box('mvex', fullBox('mehd', 0, 0, u32(0)), ...trexes));
  const out = new Uint8Array(ftyp.size + moov.size);
  serialize(ftyp, out, 0);
  serialize(moov, out, ftyp.size);
  return out;
}

const TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400; // data offset, duration, size, flags per sample
const DEFAULT_BASE_IS_MOOF = 0x020000;

/** Sizes and flags of a run's samples, without their bytes. */
interface RunLayout {
  trackId: number;
  baseDecodeTime: number;
  samples: ReadonlyArray<{ duration: number; size: number; flags: number }>;
}

/**
 * A run's samples as columns: the recorder keeps them in typed arrays used again for every fragment,
 * with no object per sample (see segment-writer.ts).
 */
export interface RunColumns {
  trackId: number;
  baseDecodeTime: number;
  count: number;
  durations: ArrayLike<number>;
  sizes: ArrayLike<number>;
  flags: ArrayLike<number>;
}

function runColumns(run: RunLayout): RunColumns {
  const { samples } = run;
  return {
    trackId: run.trackId,
    baseDecodeTime: run.baseDecodeTime,
    count: samples.length,
    durations: samples.map((s) => s.duration),
    sizes: samples.map((s) => s.size),
    flags: samples.map((s) => s.flags),
  };
}

const MFHD_BYTES = 16;
const TFHD_BYTES = 16;
const TFDT_BYTES = 20;
const TRUN_FIXED_BYTES = 20;
const TRUN_ENTRY_BYTES = 12;

function writeBoxHeader(view: DataView, out: Uint8Array, at: number, size: number, type: string, versionAndFlags?: number): number {
  view.setUint32(at, size);
  for (let i = 0; i < 4; i++) out[at + 4 + i] = type.charCodeAt(i);
  if (versionAndFlags === undefined) return at + 8;
  view.setUint32(at + 8, versionAndFlags);
  return at + 12;
}

/**
 * The moof for `runs` (runs without samples are left out) followed by the mdat's header: the
 * samples' bytes, in run order, complete the fragment. Written field by field into one buffer: it
 * runs for every fragment of every recording camera, and a tree of small boxes per fragment was
 * a good part of the recorder's garbage.
 */
export function fragmentHeader(sequence: number, runs: readonly RunColumns[]): Buffer {
  let moofSize = 8 + MFHD_BYTES;
  for (const run of runs) if (run.count > 0) moofSize += 8 + TFHD_BYTES + TFDT_BYTES + TRUN_FIXED_BYTES + TRUN_ENTRY_BYTES * run.count;
  const out = Buffer.allocUnsafe(moofSize + 8);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = writeBoxHeader(view, out, 0, moofSize, 'moof');
  o = writeBoxHeader(view, out, o, MFHD_BYTES, 'mfhd', 0);
  view.setUint32(o, sequence);
  o += 4;
  let dataBytes = 0;
  for (const run of runs) {
    const n = run.count;
    if (n === 0) continue;
    const trunSize = TRUN_FIXED_BYTES + TRUN_ENTRY_BYTES * n;
    o = writeBoxHeader(view, out, o, 8 + TFHD_BYTES + TFDT_BYTES + trunSize, 'traf');
    o = writeBoxHeader(view, out, o, TFHD_BYTES, 'tfhd', DEFAULT_BASE_IS_MOOF);
    view.setUint32(o, run.trackId);
    o += 4;
    // version 1: a 64-bit decode time (capture time since the epoch does not fit 32 bits)
    o = writeBoxHeader(view, out, o, TFDT_BYTES, 'tfdt', 0x0100_0000);
    const dts = Math.max(0, Math.trunc(run.baseDecodeTime));
    view.setUint32(o, Math.floor(dts / 0x1_0000_0000));
    view.setUint32(o + 4, dts % 0x1_0000_0000);
    o += 8;
    o = writeBoxHeader(view, out, o, trunSize, 'trun', TRUN_FLAGS);
    view.setUint32(o, n);
    view.setInt32(o + 4, moofSize + 8 + dataBytes);
    o += 8;
    for (let i = 0; i < n; i++, o += TRUN_ENTRY_BYTES) {
      const size = run.sizes[i]!;
      view.setUint32(o, run.durations[i]!);
      view.setUint32(o + 4, size);
      view.setUint32(o + 8, run.flags[i]!);
      dataBytes += size;
    }
  }
  view.setUint32(moofSize, 8 + dataBytes);
  out.write('mdat', moofSize + 4, 'latin1');
  return out;
}

/** One moof + mdat holding `runs` (tracks without samples are left out), as one buffer. */
export function mediaFragment(sequence: number, runs: readonly TrackRun[]): Buffer {
  const header = fragmentHeader(sequence, runs.map(runColumns));
  let dataBytes = 0;
  for (const run of runs) for (const s of run.samples) dataBytes += s.size;
  const out = Buffer.allocUnsafe(header.byteLength + dataBytes);
  header.copy(out, 0);
  let o = header.byteLength;
  for (const run of runs) {
    for (const s of run.samples) {
      for (const p of s.parts) {
        out.set(p, o);
        o += p.byteLength;
      }
    }
  }
  return out;
}

// ---- reading -------------------------------------------------------------------------------------

interface BoxHeader {
  type: string;
  /** offset of the box in the buffer, and its whole size */
  start: number;
  size: number;
}

/** The boxes lying one after the other in `bytes[from, to)`; stops at the first that does not fit. */
function boxesIn(bytes: Uint8Array, from = 0, to = bytes.byteLength): BoxHeader[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: BoxHeader[] = [];
  for (let o = from; o + 8 <= to; ) {
    const size = view.getUint32(o);
    if (size < 8 || o + size > to) break;
    out.push({ type: String.fromCharCode(bytes[o + 4]!, bytes[o + 5]!, bytes[o + 6]!, bytes[o + 7]!), start: o, size });
    o += size;
  }
  return out;
}

function child(bytes: Uint8Array, parent: BoxHeader, type: string, headerBytes = 8): BoxHeader | undefined {
  return boxesIn(bytes, parent.start + headerBytes, parent.start + parent.size).find((b) => b.type === type);
}

interface ParsedSample {
  duration: number;
  size: number;
  flags: number;
  /** offset of its bytes from the start of the moof */
  dataOffset: number;
}

interface ParsedRun {
  trackId: number;
  baseDecodeTime: number;
  /** where the tfdt's 64-bit value sits, from the moof's start */
  baseDecodeTimeAt: number;
  samples: ParsedSample[];
}

export interface ParsedFragment {
  sequence: number;
  moofSize: number;
  /** moof + mdat */
  size: number;
  runs: ParsedRun[];
}

/**
 * Reads a moof (and the mdat header after it) that this module wrote; the mdat's data need not be
 * in `bytes`. Returns undefined when they are not a moof this module wrote.
 */
export function parseFragment(bytes: Uint8Array): ParsedFragment | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [moof] = boxesIn(bytes, 0, bytes.byteLength);
  if (!moof || moof.type !== 'moof' || moof.start !== 0 || moof.size + 8 > bytes.byteLength) return undefined;
  // Only the mdat's header need be there: its size says where the fragment ends.
  const mdatSize = view.getUint32(moof.size);
  if (String.fromCharCode(...bytes.subarray(moof.size + 4, moof.size + 8)) !== 'mdat' || mdatSize < 8) return undefined;
  const mfhd = child(bytes, moof, 'mfhd');
  if (!mfhd) return undefined;
  const runs: ParsedRun[] = [];
  for (const traf of boxesIn(bytes, moof.start + 8, moof.start + moof.size).filter((b) => b.type === 'traf')) {
    const tfhd = child(bytes, traf, 'tfhd');
    const tfdt = child(bytes, traf, 'tfdt');
    const trun = child(bytes, traf, 'trun');
    if (!tfhd || !tfdt || !trun) return undefined;
    const tfdtVersion = bytes[tfdt.start + 8];
    const baseDecodeTimeAt = tfdt.start + 12;
    const baseDecodeTime = tfdtVersion === 1 ? Number(view.getBigUint64(baseDecodeTimeAt)) : view.getUint32(baseDecodeTimeAt);
    const flags = view.getUint32(trun.start + 8) & 0xffffff;
    if (flags !== TRUN_FLAGS) return undefined;
    const count = view.getUint32(trun.start + 12);
    let dataOffset = view.getInt32(trun.start + 16);
    if (trun.size < 20 + count * 12) return undefined;
    const samples: ParsedSample[] = [];
    for (let i = 0, o = trun.start + 20; i < count; i++, o += 12) {
      const size = view.getUint32(o + 4);
      samples.push({ duration: view.getUint32(o), size, flags: view.getUint32(o + 8), dataOffset });
      dataOffset += size;
    }
    runs.push({ trackId: view.getUint32(tfhd.start + 12), baseDecodeTime, baseDecodeTimeAt: tfdtVersion === 1 ? baseDecodeTimeAt : -1, samples });
  }
  return { sequence: view.getUint32(mfhd.start + 12), moofSize: moof.size, size: moof.size + mdatSize, runs };
}

/** The whole duration (ms) in an init segment's mvhd and mehd, in place: players show the length. */
export function setInitDuration(init: Uint8Array, durationMs: number): void {
  const view = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const moov = boxesIn(init).find((b) => b.type === 'moov');
  if (!moov) return;
  const mvhd = child(init, moov, 'mvhd');
  if (mvhd && init[mvhd.start + 8] === 0) view.setUint32(mvhd.start + 24, durationMs);
  const mvex = child(init, moov, 'mvex');
  const mehd = mvex && child(init, mvex, 'mehd');
  if (mehd && init[mehd.start + 8] === 0) view.setUint32(mehd.start + 12, durationMs);
}

/** track id -> timescale, from an init segment this module wrote. */
export function trackTimescales(init: Uint8Array): Map<number, number> {
  const view = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const out = new Map<number, number>();
  const moov = boxesIn(init).find((b) => b.type === 'moov');
  if (!moov) return out;
  for (const trak of boxesIn(init, moov.start + 8, moov.start + moov.size).filter((b) => b.type === 'trak')) {
    const tkhd = child(init, trak, 'tkhd');
    const mdia = child(init, trak, 'mdia');
    const mdhd = mdia && child(init, mdia, 'mdhd');
    // version 0 boxes: creation and modification times are 32-bit
    if (tkhd && mdhd && init[tkhd.start + 8] === 0 && init[mdhd.start + 8] === 0) out.set(view.getUint32(tkhd.start + 20), view.getUint32(mdhd.start + 20));
  }
  return out;
}
