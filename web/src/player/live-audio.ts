import { AAC_LC_CODEC, AAC_SAMPLES_PER_BLOCK, ADTS_HEADER_BYTES, adtsFrameDurationUs, audioSpecificConfig, isAdtsSync, parseAdtsHeader, type AdtsHeader, type InitMessage } from '@picam/protocol';
import type { IncomingFrame, PresentationClock } from './renderer.ts';

/**
 * Sound on the WebCodecs path: ADTS AAC (track 2) -> WebCodecs AudioDecoder -> one
 * AudioBufferSourceNode per decoded chunk in a Web Audio AudioContext, started at a chosen time.
 *
 * Synchronisation: the sound is the master clock and the picture follows it.
 *
 * - One fixed mapping from capture time (agent clock) to AudioContext time,
 *       ctxStart(capture) = (capture - baseUs) / 1e6 + offsetS,
 *   and each decoded chunk is started exactly there. Consecutive chunks therefore play back to back,
 *   sample-accurate, without playbackRate games; `offsetS` (the playout delay) changes only in a
 *   re-anchor, which is counted (`audioResyncs`).
 * - The picture is held until the moment its capture time is HEARD: `presentationTimeMs(capture)`
 *   maps ctxStart(capture) to performance.now() through `getOutputTimestamp()`, which pairs the context
 *   time of the sample leaving the output device with a performance.now() value, so the device's
 *   output latency (Bluetooth: 150-300 ms) delays the picture by as much, and only by as much.
 *   The renderer asks at paint time, so a re-anchor moves the picture with the sound.
 * - The playout delay is learnt from what each track needs: a chunk can be started no earlier than
 *   the render position plus a margin (`audio need`), a picture can be shown no earlier than it is
 *   decoded (`video need`). offsetS = a high quantile of the recent needs of either track, plus
 *   headroom: one slow decode or one late chunk must not delay everything after it. A chunk too
 *   late for its place is left out (a 21 ms gap in the sound) and a late picture is shown late; only
 *   when chunks or pictures KEEP arriving too late (LATE_EVENTS within LATE_WINDOW_MS) does the
 *   delay step UP at once, and it steps DOWN only after a quiet spell in which the needs stayed more
 *   than HYSTERESIS_S below it. The sound already queued moves with it (one silence or
 *   one skip, at the same moment the picture moves). Learnt once, it stays put: jitter within the
 *   headroom and hysteresis changes nothing, so there is no re-anchor storm.
 * - Capture times of decoded chunks come from what was fed, not from AudioData.timestamp: the
 *   decoder gets a sample count as timestamp and the capture time is looked up by it. Decoders time
 *   their output by the samples they have put out (Chromium's AAC decoder does), so with capture
 *   times as input timestamps every gap in the stream (a skipped chunk, a microphone restart) would
 *   shift all later sound later against the picture, for good.
 * - Drift between the agent's sample clock and the output device shows up as the back-to-back
 *   schedule moving away from ctxStart(); past DRIFT_S it is re-anchored (a few times an hour).
 *
 * Muted, nothing is decoded or scheduled and the picture is at the live edge: latency grows by the
 * audio's playout delay only while sound is on. Browsers allow sound only after a gesture: no
 * AudioContext exists until `setMuted(false)` is called from a click.
 */

/** Never start a chunk closer to the context's render position than this (s). */
const SCHEDULE_MARGIN_S = 0.02;
/** A picture is due no earlier than this after it decodes (ms): it still has to be painted. */
const PAINT_MARGIN_MS = 8;
/** Playout delay above the largest need seen (s): the jitter it absorbs without a re-anchor.
 * Doubled at each step up that follows another within SETTLE_MS (a machine that is late again soon
 * after needs more than the last excess), back to this after a quiet spell. */
const HEADROOM_S = 0.04;
const MAX_HEADROOM_S = 0.12;
/** The delay comes down only when the needs stayed this much further below it (s). */
const HYSTERESIS_S = 0.03;
/** Quiet spell before the delay may come down: short after the first anchor (decoder warm-up makes
 * the first chunks late), long after a step up (a machine that stalled once will stall again). */
const FIRST_SETTLE_MS = 4_000;
const SETTLE_MS = 20_000;
/** Needs are remembered this long. */
const NEED_WINDOW_MS = 20_000;
/** The share of recent pictures and chunks the playout delay leaves time for. */
const VIDEO_NEED_QUANTILE = 0.9;
const AUDIO_NEED_QUANTILE = 0.98;
/** Pictures later than the playout delay by more than this, or chunks too late for their place,
 * LATE_EVENTS times within LATE_WINDOW_MS, raise it (one or two late is a hiccup, not a pattern). */
const LATE_PICTURE_S = 0.03;
const LATE_EVENTS = 3;
const LATE_WINDOW_MS = 2_000;
/** The back-to-back schedule may stray this far from ctxStart() before it is re-anchored (s). */
const DRIFT_S = 0.02;
const MAX_OFFSET_S = 2;
/** Encoded chunks waiting in the AudioDecoder beyond which new ones are skipped: a page too busy to
 * decode in real time catches up with a gap instead of falling further and further behind. */
const MAX_DECODE_QUEUE = 12;
/** How fast the decode-latency figures in stats follow (per chunk / picture). */
const SMOOTHING = 0.05;
/** Decoder inputs remembered until their output (far more than a decoder holds). */
const MAX_IN_FLIGHT = 256;
/** Chunks remembered for the "what is playing now" clock: all that are queued (the delay is capped) and a little played. */
const MAX_SCHEDULED = 512;
/** Chunks left out after unmute or a restart: a new decoder and a new AudioContext put their first
 * outputs out hundreds of ms late, and a delay learnt from those would hold for seconds. */
const WARM_UP_CHUNKS = 4;
/** Decoder errors in ERROR_WINDOW_MS after which audio gives up (video goes on). */
const FATAL_ERRORS = 3;
const ERROR_WINDOW_MS = 10_000;

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export type InitAudio = NonNullable<InitMessage['audio']>;

export interface LiveAudioStats {
  audioFramesDecoded: number;
  /** decoded chunks not played: before the first picture, or skipped when the playout delay came down */
  audioFramesDropped: number;
  /** sound is coming out now (unmuted, context running, a chunk playing) */
  audioPlaying: boolean;
  /** capture time (agent clock, µs) of the sample heard now, from the AudioContext output clock */
  audioClockUs: number | null;
  /** the AudioContext time being heard now, as this page reckons it (getOutputTimestamp); null when silent */
  audioOutputTime: number | null;
  /** capture -> heard (browser clock - agent clock, ms): the playout delay, which the picture follows */
  audioTargetLatencyMs: number | null;
  /** how much later than the muted live edge sound and picture play (playout delay - video decode latency, ms) */
  audioLagMs: number;
  /** capture -> AudioDecoder output, smoothed (ms) */
  audioDecodeLatencyMs: number | null;
  /** the context's outputLatency + baseLatency (ms); in Gecko its baseLatency only (live-audio.ts GECKO) */
  audioOutputLatencyMs: number | null;
  /** re-anchors of the schedule (the playout delay stepped, or drift): each a short silence or skip */
  audioResyncs: number;
  audioError: string | null;
}

/** What a player without WebCodecs sound reports. */
export const NO_LIVE_AUDIO_STATS: Readonly<LiveAudioStats> = {
  audioFramesDecoded: 0,
  audioFramesDropped: 0,
  audioPlaying: false,
  audioClockUs: null,
  audioOutputTime: null,
  audioTargetLatencyMs: null,
  audioLagMs: 0,
  audioDecodeLatencyMs: null,
  audioOutputLatencyMs: null,
  audioResyncs: 0,
  audioError: null,
};

/** Recent values over a sliding window, for a quantile (~600 pictures or ~940 chunks in the window). */
class WindowValues {
  private times: number[] = [];
  private values: number[] = [];

  add(now: number, value: number): void {
    this.times.push(now);
    this.values.push(value);
    let drop = 0;
    while (drop < this.times.length && now - this.times[drop]! > NEED_WINDOW_MS) drop++;
    if (drop > 0) {
      this.times = this.times.slice(drop);
      this.values = this.values.slice(drop);
    }
  }

  /** The q-quantile of the values added at or after `since` (-Infinity when none). */
  quantileSince(since: number, q: number): number {
    const recent: number[] = [];
    for (let i = this.times.length - 1; i >= 0 && this.times[i]! >= since; i--) recent.push(this.values[i]!);
    if (recent.length === 0) return Number.NEGATIVE_INFINITY;
    recent.sort((a, b) => a - b);
    return recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!;
  }

  clear(): void {
    this.times = [];
    this.values = [];
  }
}

interface Scheduled {
  source: AudioBufferSourceNode;
  buffer: AudioBuffer;
  startCtx: number;
  endCtx: number;
  captureUs: number;
}

/** An ADTS header equivalent to the init message's format (for the support check before any frame). */
function headerFromInit(audio: InitAudio): AdtsHeader | null {
  const samplingFrequencyIndex = SAMPLE_RATES.indexOf(audio.sampleRate);
  if (samplingFrequencyIndex < 0 || audio.channels < 1 || audio.channels > 8 || audio.channels === 7) return null;
  return {
    objectType: 2,
    sampleRate: audio.sampleRate,
    samplingFrequencyIndex,
    channelConfiguration: audio.channels === 8 ? 7 : audio.channels,
    channels: audio.channels,
    frameLength: 0,
    headerLength: ADTS_HEADER_BYTES,
    rawBlocks: 1,
  };
}

function decoderConfig(h: AdtsHeader): AudioDecoderConfig {
  return { codec: AAC_LC_CODEC, sampleRate: h.sampleRate, numberOfChannels: h.channels, description: audioSpecificConfig(h) };
}

/** Whether this browser can decode the stream's audio with WebCodecs (false: use the MSE path for sound). */
export async function webCodecsAudioSupported(audio: InitAudio): Promise<boolean> {
  if (typeof AudioDecoder === 'undefined' || typeof EncodedAudioChunk === 'undefined' || typeof AudioContext === 'undefined') return false;
  const header = headerFromInit(audio);
  if (!header) return false;
  try {
    const support = await AudioDecoder.isConfigSupported(decoderConfig(header));
    return support.supported === true;
  } catch {
    return false;
  }
}

export class LiveAudio {
  private ctx: AudioContext | null = null;
  private decoder: AudioDecoder | null = null;
  private configuredAs = '';
  private muted = true;
  private destroyed = false;

  /** capture time of the first chunk: the schedule counts from it */
  private baseUs = -1;
  /**
   * Decoder input timestamps: a count of the samples fed (not capture times), with the capture time
   * each stands for. Decoders time their output by the samples they put out since the first input
   * (Chromium's AAC decoder does), so a chunk skipped or a gap in the stream would otherwise shift
   * every later output's capture time: the sound would drift later and later behind the picture.
   */
  private samplesFed = 0;
  private readonly captureByTimestamp = new Map<number, number>();
  /** ctxStart(capture) = (capture - baseUs) / 1e6 + offsetS; null until the first chunk is placed */
  private offsetS: number | null = null;
  /** performance.now() of the first anchor since unmute, and of the latest */
  private firstAnchorAt = 0;
  private anchoredAt = 0;
  /** the next chunk goes exactly to ctxStart() (or is skipped), not back to back */
  private reanchored = false;
  /** what the sound and the picture need (capture -> earliest heard/shown, ms), over NEED_WINDOW_MS */
  private readonly audioNeeds = new WindowValues();
  private readonly videoNeeds = new WindowValues();
  private latePictures: number[] = [];
  private lateChunks: number[] = [];
  private warmUpLeft = WARM_UP_CHUNKS;
  private headroomS = HEADROOM_S;

  private nextStartCtx = -1;
  private nextCaptureUs = -1;
  /** the back-to-back schedule minus ctxStart() for the newest chunk (s) */
  private chainDriftS = 0;
  /** chunks are being skipped to catch up with the schedule (one resync per episode) */
  private skipping = false;
  private readonly scheduled: Scheduled[] = [];

  private videoDecodeMs: number | null = null;
  private audioDecodeMs: number | null = null;
  private framesDecoded = 0;
  private framesDropped = 0;
  private resyncs = 0;
  private lastError: string | null = null;
  /** how decoded samples are read out (toBuffer) */
  private copyFormat: 's16' | 'f32-planar' = 's16';
  private errorTimes: number[] = [];
  private failed = false;

  private readonly onClock: (clock: PresentationClock | null) => void;
  private readonly clock: PresentationClock = (captureTimeUs) => this.presentationTimeMs(captureTimeUs);

  /** onClock: when pictures are due for lip sync (null: muted, show them at once). */
  constructor(onClock: (clock: PresentationClock | null) => void) {
    this.onClock = onClock;
  }

  /** A picture finished decoding: its capture time (µs) and performance.now() then. */
  videoDecoded(captureTimeUs: number, decodedPerfMs: number): void {
    const latency = decodedPerfMs - perfOf(captureTimeUs);
    this.videoDecodeMs = this.videoDecodeMs === null ? latency : this.videoDecodeMs + (latency - this.videoDecodeMs) * SMOOTHING;
    this.videoNeeds.add(decodedPerfMs, latency + PAINT_MARGIN_MS);
    if (this.muted || this.offsetS === null) return;
    const due = this.presentationTimeMs(captureTimeUs);
    if (due === null || decodedPerfMs + PAINT_MARGIN_MS - due <= LATE_PICTURE_S * 1000) return;
    // This picture will be shown late, behind its sound.
    this.latePictures = [...this.latePictures.filter((t) => decodedPerfMs - t < LATE_WINDOW_MS), decodedPerfMs];
    if (this.latePictures.length >= LATE_EVENTS) {
      this.latePictures = [];
      this.stepUp(captureTimeUs, this.needSince(decodedPerfMs - LATE_WINDOW_MS));
    }
  }

  /** Must be called from a user gesture when unmuting (that is when the AudioContext may start). */
  setMuted(muted: boolean): void {
    this.muted = muted;
    if (this.destroyed) return;
    if (!muted) {
      if (!this.ctx || this.ctx.state === 'closed') this.ctx = new AudioContext({ latencyHint: 'interactive' });
      void this.ctx.resume().catch(() => {});
      this.onClock(this.clock);
      return;
    }
    this.onClock(null);
    this.stopAll();
    this.closeDecoder();
    this.forgetSchedule();
    void this.ctx?.suspend().catch(() => {});
  }

  push(frame: IncomingFrame): void {
    if (this.destroyed || this.muted || this.failed || frame.header.catchUp) return;
    const ctx = this.ctx;
    if (!ctx || ctx.state !== 'running') return;
    const { payload, header } = frame;
    let captureUs = header.captureTimeUs;
    for (let offset = 0; offset + ADTS_HEADER_BYTES <= payload.length && isAdtsSync(payload, offset); ) {
      let adts: AdtsHeader;
      try {
        adts = parseAdtsHeader(payload, offset);
      } catch (err) {
        this.lastError = err instanceof Error ? err.message : String(err);
        return;
      }
      const end = Math.min(payload.length, offset + adts.frameLength);
      this.decode(adts, payload.subarray(offset + adts.headerLength, end), captureUs);
      captureUs += adtsFrameDurationUs(adts);
      offset = end;
    }
  }

  /** The connection restarted: forget the schedule (the sound already queued plays out). */
  reset(): void {
    this.closeDecoder();
    this.forgetSchedule();
    this.audioNeeds.clear();
    this.videoNeeds.clear();
    this.videoDecodeMs = null;
  }

  /** performance.now() at which the sound captured at captureTimeUs is heard; null when none is scheduled. */
  presentationTimeMs(captureTimeUs: number): number | null {
    const ctx = this.ctx;
    if (this.muted || !ctx || ctx.state !== 'running' || this.offsetS === null) return null;
    return perfTimeAt(ctx, (captureTimeUs - this.baseUs) / 1e6 + this.offsetS + this.chainDriftS);
  }

  stats(): LiveAudioStats {
    const ctx = this.ctx;
    const playing = !this.muted && ctx !== null && ctx.state === 'running';
    const heard = playing ? this.heardNow(ctx) : null;
    const due = this.offsetS === null ? null : this.presentationTimeMs(this.baseUs);
    const targetMs = due === null ? null : due - perfOf(this.baseUs);
    return {
      audioFramesDecoded: this.framesDecoded,
      audioFramesDropped: this.framesDropped,
      audioPlaying: heard !== null,
      audioClockUs: heard?.captureUs ?? null,
      audioOutputTime: heard?.contextTime ?? null,
      audioTargetLatencyMs: targetMs === null ? null : round1(targetMs),
      audioLagMs: targetMs === null || this.videoDecodeMs === null ? 0 : Math.round(targetMs - this.videoDecodeMs),
      audioDecodeLatencyMs: this.audioDecodeMs === null ? null : round1(this.audioDecodeMs),
      audioOutputLatencyMs: ctx ? round1(outputPoint(ctx).latencyS * 1000) : null,
      audioResyncs: this.resyncs,
      audioError: this.lastError,
    };
  }

  destroy(): void {
    this.destroyed = true;
    this.stopAll();
    this.closeDecoder();
    void this.ctx?.close().catch(() => {});
    this.ctx = null;
  }

  // ---- decoding ---------------------------------------------------------------------------------

  private decode(adts: AdtsHeader, raw: Uint8Array, captureUs: number): void {
    const key = `${adts.sampleRate}/${adts.channels}/${adts.objectType}`;
    if (!this.decoder || this.decoder.state === 'closed' || key !== this.configuredAs) {
      this.closeDecoder();
      const decoder: AudioDecoder = new AudioDecoder({
        output: (data) => this.onDecoded(data),
        error: (err) => {
          if (this.decoder === decoder) this.onError(err);
        },
      });
      try {
        decoder.configure(decoderConfig(adts));
      } catch (err) {
        this.onError(err);
        return;
      }
      this.decoder = decoder;
      this.configuredAs = key;
    }
    if (this.baseUs < 0) this.baseUs = captureUs;
    if (this.decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      this.framesDropped++;
      return;
    }
    const timestamp = Math.round((this.samplesFed * 1e6) / adts.sampleRate);
    this.samplesFed += adts.rawBlocks * AAC_SAMPLES_PER_BLOCK;
    this.captureByTimestamp.set(timestamp, captureUs);
    if (this.captureByTimestamp.size > MAX_IN_FLIGHT) this.captureByTimestamp.delete(this.captureByTimestamp.keys().next().value!);
    try {
      this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp, data: raw }));
    } catch (err) {
      this.onError(err);
    }
  }

  private onDecoded(data: AudioData): void {
    try {
      this.framesDecoded++;
      const ctx = this.ctx;
      if (this.muted || this.destroyed || !ctx || ctx.state !== 'running' || this.baseUs < 0) return;
      const captureUs = this.captureOf(data.timestamp);
      if (captureUs === null) {
        this.framesDropped++;
        return;
      }
      const latency = performance.now() - perfOf(captureUs);
      this.audioDecodeMs = this.audioDecodeMs === null ? latency : this.audioDecodeMs + (latency - this.audioDecodeMs) * SMOOTHING;
      this.schedule(ctx, this.toBuffer(ctx, data), captureUs);
    } catch (err) {
      this.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    } finally {
      data.close();
    }
  }

  /** The capture time of the chunk a decoder output came from (null: not one this decoder was fed). */
  private captureOf(timestamp: number): number | null {
    let capture = this.captureByTimestamp.get(timestamp);
    if (capture === undefined) {
      // Rounded differently by the decoder: the nearest input within a few samples.
      for (const [ts, c] of this.captureByTimestamp) if (Math.abs(ts - timestamp) < 100) capture = c;
    }
    if (capture === undefined) return null;
    // Outputs come in order: everything before this one is done with.
    for (const ts of this.captureByTimestamp.keys()) {
      if (ts > timestamp) break;
      this.captureByTimestamp.delete(ts);
    }
    return capture;
  }

  // ---- scheduling -------------------------------------------------------------------------------

  /**
   * The decoded chunk as an AudioBuffer. Read out as interleaved 16-bit samples and converted here:
   * WebKitGTK 2.50's `AudioData.copyTo` crashes the page (a double free in the web process) when
   * asked for float samples, planar or not, and converts to 's16' safely; 16 bits are more than a
   * camera's microphone holds. A browser that cannot convert to 's16' says so (NotSupportedError)
   * and gets 'f32-planar' from then on.
   */
  private toBuffer(ctx: AudioContext, data: AudioData): AudioBuffer {
    const channels = data.numberOfChannels;
    const frames = data.numberOfFrames;
    const buffer = ctx.createBuffer(channels, frames, data.sampleRate);
    if (this.copyFormat === 's16') {
      try {
        const interleaved = new Int16Array(frames * channels);
        data.copyTo(interleaved, { planeIndex: 0, format: 's16' });
        for (let c = 0; c < channels; c++) {
          const plane = buffer.getChannelData(c);
          for (let i = 0; i < frames; i++) plane[i] = interleaved[i * channels + c]! / 32768;
        }
        return buffer;
      } catch (err) {
        if (!(err instanceof DOMException && err.name === 'NotSupportedError') && !(err instanceof TypeError)) throw err;
        this.copyFormat = 'f32-planar';
      }
    }
    for (let c = 0; c < channels; c++) {
      const plane = new Float32Array(frames);
      data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
      buffer.copyToChannel(plane, c);
    }
    return buffer;
  }

  private schedule(ctx: AudioContext, buffer: AudioBuffer, captureUs: number): void {
    const now = performance.now();
    const earliest = ctx.currentTime + SCHEDULE_MARGIN_S;
    // The soonest this chunk can be heard, as a latency from capture.
    const needMs = perfTimeAt(ctx, earliest) - perfOf(captureUs);
    if (this.offsetS === null && this.warmUpLeft > 0) {
      this.warmUpLeft--;
      this.framesDropped++;
      return;
    }
    this.audioNeeds.add(now, needMs);
    if (this.offsetS === null) {
      // First chunk since unmute: this chunk and the pictures of the last seconds decide the delay.
      this.anchor(ctx, captureUs, Math.max(needMs, this.needSince(now - FIRST_SETTLE_MS)) + this.headroomS * 1000);
      this.firstAnchorAt = now;
    } else if ((captureUs - this.baseUs) / 1e6 + this.offsetS < earliest) {
      if (needMs > MAX_OFFSET_S * 1000) {
        // Hopelessly late (the page stalled for seconds): not worth moving everything for.
        this.framesDropped++;
        return;
      }
      this.lateChunks = [...this.lateChunks.filter((t) => now - t < LATE_WINDOW_MS), now];
      if (this.lateChunks.length < LATE_EVENTS) {
        // Too late for its place, once: a short gap in the sound, the schedule stays.
        this.framesDropped++;
        return;
      }
      // Late again and again: play from a later place on, this chunk and everything after it.
      this.lateChunks = [];
      this.stepUp(captureUs, needMs);
    } else {
      this.maybeStepDown(ctx, captureUs, now);
    }

    const target = (captureUs - this.baseUs) / 1e6 + this.offsetS!;
    let start = target;
    if (this.nextStartCtx >= 0) {
      const contiguous = Math.abs(captureUs - this.nextCaptureUs) < 2_000;
      const strayS = target - this.nextStartCtx;
      if (this.reanchored ? strayS < -0.001 : strayS < -DRIFT_S) {
        // It would overlap sound already queued (the delay came down, or the schedule ran late):
        // skip ahead to where the queued sound ends.
        if (contiguous && !this.skipping && !this.reanchored) this.resyncs++;
        this.skipping = true;
        this.framesDropped++;
        return;
      }
      if (!this.reanchored && Math.abs(strayS) <= DRIFT_S) start = this.nextStartCtx;
      else if (contiguous && !this.reanchored && !this.skipping) this.resyncs++; // drift re-anchor
    }
    this.skipping = false;
    this.reanchored = false;
    if (start < earliest) {
      // Only when the context stalled between the check and here.
      this.framesDropped++;
      this.nextStartCtx = -1;
      return;
    }
    const entry: Scheduled = { source: this.play(ctx, buffer, start), buffer, startCtx: start, endCtx: start + buffer.duration, captureUs };
    // Kept after `ended` (which fires when rendered, an output latency before it is heard) for the
    // clock; the oldest go once the list is long.
    this.scheduled.push(entry);
    const playedBefore = start - MAX_OFFSET_S - 1;
    while (this.scheduled.length > MAX_SCHEDULED || (this.scheduled.length > 0 && this.scheduled[0]!.endCtx < playedBefore)) this.scheduled.shift();
    this.nextStartCtx = entry.endCtx;
    this.nextCaptureUs = captureUs + buffer.duration * 1e6;
    this.chainDriftS = start - target;
  }

  /** Place ctxStart() so that sound captured at captureUs is heard latencyMs after capture. */
  private anchor(ctx: AudioContext, captureUs: number, latencyMs: number): void {
    const ms = Math.min(latencyMs, MAX_OFFSET_S * 1000);
    const previous = this.offsetS;
    this.offsetS = contextTimeAt(ctx, perfOf(captureUs) + ms) - (captureUs - this.baseUs) / 1e6;
    this.anchoredAt = performance.now();
    this.reanchored = true;
    this.chainDriftS = 0;
    if (previous !== null) this.moveQueued(ctx, this.offsetS - previous);
  }

  /**
   * The sound already queued moves with the anchor, so that it and the picture (which asks the new
   * anchor at once) switch together: a step up is one silence now, a step down one skip now, instead
   * of sound and picture apart for as long as the queue is.
   */
  private moveQueued(ctx: AudioContext, deltaS: number): void {
    const earliest = ctx.currentTime + SCHEDULE_MARGIN_S;
    const kept: Scheduled[] = [];
    for (const s of this.scheduled) {
      if (s.startCtx < earliest) {
        kept.push(s); // started, or about to: it plays out where it is
        continue;
      }
      try {
        s.source.stop();
      } catch {
        // already stopped
      }
      const start = s.startCtx + deltaS;
      if (start < earliest) {
        this.framesDropped++;
        continue;
      }
      kept.push({ ...s, source: this.play(ctx, s.buffer, start), startCtx: start, endCtx: start + s.buffer.duration });
    }
    this.scheduled.length = 0;
    this.scheduled.push(...kept);
    const last = kept.at(-1);
    if (this.nextStartCtx >= 0 && last) this.nextStartCtx = Math.max(last.endCtx, this.nextStartCtx + deltaS);
  }

  private play(ctx: AudioContext, buffer: AudioBuffer, startCtx: number): AudioBufferSourceNode {
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    source.start(startCtx);
    return source;
  }

  /** Sound or pictures arrive later than the delay allows: raise it past the largest need seen. */
  private stepUp(captureUs: number, needMs: number): void {
    const ctx = this.ctx;
    if (!ctx || this.offsetS === null) return;
    const now = performance.now();
    if (now - this.anchoredAt < SETTLE_MS) this.headroomS = Math.min(MAX_HEADROOM_S, this.headroomS * 2);
    this.anchor(ctx, captureUs, Math.max(needMs, this.needSince(now - NEED_WINDOW_MS)) + this.headroomS * 1000);
    this.resyncs++;
  }

  /** Bring the delay down once every need stayed well below it for a quiet spell. */
  private maybeStepDown(ctx: AudioContext, captureUs: number, now: number): void {
    const settleMs = this.anchoredAt - this.firstAnchorAt < FIRST_SETTLE_MS * 2 ? FIRST_SETTLE_MS : SETTLE_MS;
    if (now - this.anchoredAt < settleMs) return;
    const needMs = this.needSince(this.anchoredAt);
    if (!Number.isFinite(needMs)) return;
    const currentMs = perfTimeAt(ctx, (captureUs - this.baseUs) / 1e6 + this.offsetS!) - perfOf(captureUs);
    this.headroomS = HEADROOM_S;
    if (needMs + (HEADROOM_S + HYSTERESIS_S) * 1000 >= currentMs) return;
    this.anchor(ctx, captureUs, needMs + HEADROOM_S * 1000);
    this.resyncs++;
  }

  /** What both tracks need since `since` (ms from capture): see the class comment. */
  private needSince(since: number): number {
    return Math.max(this.audioNeeds.quantileSince(since, AUDIO_NEED_QUANTILE), this.videoNeeds.quantileSince(since, VIDEO_NEED_QUANTILE));
  }

  /** The capture time and context time of the sample heard now, or null when nothing is playing. */
  private heardNow(ctx: AudioContext): { captureUs: number; contextTime: number } | null {
    const now = contextTimeAt(ctx, performance.now());
    for (let i = this.scheduled.length - 1; i >= 0; i--) {
      const s = this.scheduled[i]!;
      if (now >= s.startCtx && now < s.endCtx) return { captureUs: Math.round(s.captureUs + (now - s.startCtx) * 1e6), contextTime: now };
    }
    return null;
  }

  private forgetSchedule(): void {
    this.nextStartCtx = -1;
    this.nextCaptureUs = -1;
    this.baseUs = -1;
    this.offsetS = null;
    this.chainDriftS = 0;
    this.skipping = false;
    this.reanchored = false;
    this.latePictures = [];
    this.lateChunks = [];
    this.warmUpLeft = WARM_UP_CHUNKS;
    this.headroomS = HEADROOM_S;
  }

  private stopAll(): void {
    for (const s of this.scheduled) {
      try {
        s.source.stop();
      } catch {
        // not started or already stopped
      }
    }
    this.scheduled.length = 0;
    this.nextStartCtx = -1;
    this.nextCaptureUs = -1;
  }

  private onError(err: unknown): void {
    this.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.closeDecoder();
    const now = Date.now();
    this.errorTimes = [...this.errorTimes.filter((t) => now - t < ERROR_WINDOW_MS), now];
    if (this.errorTimes.length >= FATAL_ERRORS) this.failed = true;
  }

  private closeDecoder(): void {
    const decoder = this.decoder;
    this.decoder = null;
    this.configuredAs = '';
    this.samplesFed = 0;
    this.captureByTimestamp.clear();
    if (decoder && decoder.state !== 'closed') {
      try {
        decoder.close();
      } catch {
        // closed by an error
      }
    }
  }
}

/** A capture time (agent clock, µs) on this page's performance.now() scale (ms). */
function perfOf(captureTimeUs: number): number {
  return captureTimeUs / 1000 - performance.timeOrigin;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Gecko's output clock is never asked. Firefox (ESR 153) answers getOutputTimestamp() and
 * outputLatency, until it has learnt the device's latency, with a synchronous call to its sound
 * server made while holding its media graph's lock; if the server is handing the graph a buffer at
 * that moment, each waits for the other and the page freezes for good (with PulseAudio on a busy
 * machine: 3 of 4 unmutes when asked at each chunk and picture, 1 of 3 when asked twice a second).
 * Nothing is lost: its getOutputTimestamp() moves both halves of the pair back by the output latency,
 * so it says "currentTime is heard now", which is what is assumed instead. mozCaptureStream is
 * Gecko's own.
 */
const GECKO = typeof HTMLMediaElement !== 'undefined' && 'mozCaptureStream' in HTMLMediaElement.prototype;

/**
 * One point pairing the context time of the sample leaving the output device with performance.now()
 * then (so the output latency is in it, latencyS); before output starts, and in Gecko, an estimate
 * from the render position.
 */
function outputPoint(ctx: AudioContext): { contextTime: number; perfMs: number; latencyS: number } {
  const now = performance.now();
  if (GECKO) return { contextTime: renderPosition(ctx, now) - (ctx.baseLatency || 0), perfMs: now, latencyS: ctx.baseLatency || 0 };
  const latencyS = (ctx.outputLatency || 0) + (ctx.baseLatency || 0);
  if (!unreliableTimestamps.has(ctx) && typeof ctx.getOutputTimestamp === 'function') {
    const ts = ctx.getOutputTimestamp();
    if (ts.contextTime !== undefined && ts.performanceTime !== undefined && ts.performanceTime > 0) {
      if (ts.performanceTime <= now + TIMESTAMP_SLACK_MS && ts.performanceTime >= now - TIMESTAMP_SLACK_MS - latencyS * 1000 - 1000) return { contextTime: ts.contextTime, perfMs: ts.performanceTime, latencyS };
      unreliableTimestamps.add(ctx);
    }
  }
  return { contextTime: renderPosition(ctx, now) - latencyS, perfMs: now, latencyS };
}

/**
 * The context's render position at performance.now() == nowMs, without currentTime's steps.
 * currentTime moves a block of samples at a time (WebKitGTK: tens of ms), so read directly it makes
 * every picture's due time jump back and forth by a block: two pictures come due at one animation
 * frame, or a newer one before an older one, and one of them is dropped. Between steps currentTime
 * lags the true position, so the steps' tops (currentTime - now, largest just after a step) are the
 * truth: the largest recent one is kept, let down slowly (the two clocks drift by parts per
 * million) and given up when currentTime falls further behind than a step could (the context
 * stalled or restarted).
 */
function renderPosition(ctx: AudioContext, nowMs: number): number {
  const sample = ctx.currentTime - nowMs / 1000;
  const last = renderClocks.get(ctx);
  const kept = last ? last.offsetS - ((nowMs - last.atMs) / 1000) * RENDER_CLOCK_DECAY : -Infinity;
  const offsetS = sample > kept - MAX_RENDER_STEP_S ? Math.max(sample, kept) : sample;
  renderClocks.set(ctx, { offsetS, atMs: nowMs });
  return nowMs / 1000 + offsetS;
}

const renderClocks = new WeakMap<AudioContext, { offsetS: number; atMs: number }>();
/** how fast the kept top comes down (s per s): far above clock drift, far below a step per read */
const RENDER_CLOCK_DECAY = 0.002;
/** currentTime this far below the kept top is not a step but a stall (s) */
const MAX_RENDER_STEP_S = 0.1;

/**
 * Contexts whose getOutputTimestamp() was caught off performance.now()'s clock: never asked again.
 * WebKitGTK 2.50's runs at about twice the rate and ahead of now (1.6 s of it per 0.8 s of
 * contextTime), so a schedule read through it never found a chunk playing and kept raising the delay.
 */
const unreliableTimestamps = new WeakSet<AudioContext>();
/** how far a performanceTime may lie after now (the call's own time) before it is not believed */
const TIMESTAMP_SLACK_MS = 50;

/** AudioContext time of the sample heard at performance.now() == perfMs. */
function contextTimeAt(ctx: AudioContext, perfMs: number): number {
  const p = outputPoint(ctx);
  return p.contextTime + (perfMs - p.perfMs) / 1000;
}

/** performance.now() at which the sample at AudioContext time contextTime is heard. */
function perfTimeAt(ctx: AudioContext, contextTime: number): number {
  const p = outputPoint(ctx);
  return p.perfMs + (contextTime - p.contextTime) * 1000;
}

