import { AAC_LC_CODEC, ADTS_HEADER_BYTES, adtsFrameDurationUs, audioSpecificConfig, isAdtsSync, parseAdtsHeader, type AdtsHeader, type InitMessage } from '@picam/protocol';
import type { IncomingFrame } from './renderer.ts';

/**
 * Sound on the WebCodecs path: ADTS AAC (track 2) -> WebCodecs AudioDecoder -> one
 * AudioBufferSourceNode per decoded chunk in a Web Audio AudioContext, started at a chosen time.
 *
 * Synchronisation (the design choice). One timeline for both tracks, in performance.now() ms:
 *
 *     due(captureUs) = captureUs / 1000 + decodeLatencyMs + lagMs
 *
 * decodeLatencyMs is the smoothed (performance.now() when a picture finished decoding - its capture
 * time) — the live edge, which also absorbs any offset between the agent's clock and this browser's.
 * lagMs is how much later than that the sound can be played at the earliest: the audio path is
 * burstier than the video (the encoder and its pipe deliver AAC in blocks: ~200 ms behind the picture
 * with the fake microphone), so it is learnt from the chunks that arrive too late for their due time
 * (they are dropped; after a quarter second of that, lagMs grows by the worst lateness + 60 ms).
 * The sound is scheduled to be HEARD at due(); while it plays, the WebCodecs renderer holds each
 * picture until the same due() (`onDelay(lagMs)` -> renderer.setDelay). Muted, the delay is 0: the
 * video is at the live edge exactly as without audio; latency grows by lagMs only while sound is on.
 * (The alternative, video at the live edge and audio at "when the picture was shown", cannot work
 * when audio arrives later than the picture is shown, which is the normal case here.)
 *
 * A performance.now() instant maps to AudioContext time through `getOutputTimestamp()`, which pairs
 * the context time of the sample leaving the output device with a performance.now() value, so the
 * output latency is accounted for.
 *
 * Consecutive chunks are scheduled back to back (gapless) as long as that stays within RESYNC_MS of
 * the target; beyond it (sample-clock drift, a jump in video latency, a gap in the stream) the schedule
 * is re-anchored on the target. RESYNC_MS is tighter than the usual ~150 ms because the product
 * promise is "within 100 ms"; a re-anchor costs one click at most.
 *
 * Browsers allow sound only after a gesture: no AudioContext exists until `setMuted(false)` is called
 * from a click. While muted nothing is decoded or scheduled.
 */

/** Keep consecutive chunks back to back while they are within this of their target time. */
const RESYNC_MS = 45;
/** Never schedule closer to the context's render position than this (s). */
const SCHEDULE_MARGIN_S = 0.015;
/** How fast the video latency estimate follows the painted frames (per frame). */
const LATENCY_SMOOTHING = 0.05;
/** Chunks remembered for the "what is playing now" clock. */
const MAX_SCHEDULED = 64;
/** Late chunks within this window teach the extra delay. */
const LATE_WINDOW_MS = 2_000;
/** headroom added to the worst lateness seen: fewer re-learn steps (each is a moment of silence) */
const LATE_MARGIN_MS = 60;
const MAX_EXTRA_DELAY_MS = 1_000;
/** Decoder errors in ERROR_WINDOW_MS after which audio gives up (video goes on). */
const FATAL_ERRORS = 3;
const ERROR_WINDOW_MS = 10_000;

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export type InitAudio = NonNullable<InitMessage['audio']>;

export interface LiveAudioStats {
  audioFramesDecoded: number;
  audioFramesDropped: number;
  /** sound is coming out now (unmuted, context running, a chunk playing) */
  audioPlaying: boolean;
  /** capture time (agent clock, µs) of the sample playing now, from the AudioContext output clock */
  audioClockUs: number | null;
  /** when sound and picture are due after capture (decode latency + lag; browser clock - agent clock, ms) */
  audioTargetLatencyMs: number | null;
  /** extra delay of sound behind picture learnt because audio arrived too late (ms) */
  audioLagMs: number;
  audioResyncs: number;
  audioError: string | null;
}

interface Scheduled {
  source: AudioBufferSourceNode;
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

  /** capture time of the first chunk, so decoder timestamps stay small */
  private baseUs = -1;
  private latencyMs: number | null = null;
  private extraDelayMs = 0;
  private lateSince = 0;
  private maxLateMs = 0;

  private nextStartCtx = -1;
  private nextCaptureUs = -1;
  private readonly scheduled: Scheduled[] = [];

  private framesDecoded = 0;
  private framesDropped = 0;
  private resyncs = 0;
  private lastError: string | null = null;
  private errorTimes: number[] = [];
  private failed = false;

  private readonly onDelay: (delayMs: number) => void;

  /** onDelay: how long the video must hold pictures for lip sync (0 when muted). */
  constructor(onDelay: (delayMs: number) => void) {
    this.onDelay = onDelay;
  }

  /** A picture finished decoding: its capture time (µs) and performance.now() then. */
  videoDecoded(captureTimeUs: number, decodedPerfMs: number): void {
    const latency = decodedPerfMs - captureTimeUs / 1000;
    this.latencyMs = this.latencyMs === null ? latency : this.latencyMs + (latency - this.latencyMs) * LATENCY_SMOOTHING;
  }

  /** Must be called from a user gesture when unmuting (that is when the AudioContext may start). */
  setMuted(muted: boolean): void {
    this.muted = muted;
    if (this.destroyed) return;
    if (!muted) {
      if (!this.ctx || this.ctx.state === 'closed') this.ctx = new AudioContext({ latencyHint: 'interactive' });
      void this.ctx.resume().catch(() => {});
      this.onDelay(this.extraDelayMs);
      return;
    }
    this.onDelay(0);
    this.stopAll();
    this.closeDecoder();
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
    this.nextStartCtx = -1;
    this.nextCaptureUs = -1;
    this.baseUs = -1;
    this.latencyMs = null;
  }

  stats(): LiveAudioStats {
    const clock = this.clockUs();
    return {
      audioFramesDecoded: this.framesDecoded,
      audioFramesDropped: this.framesDropped,
      audioPlaying: clock !== null,
      audioClockUs: clock,
      audioTargetLatencyMs: this.latencyMs === null ? null : Math.round((this.latencyMs + performance.timeOrigin + this.extraDelayMs) * 10) / 10,
      audioLagMs: Math.round(this.extraDelayMs),
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
    try {
      this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: Math.round(captureUs - this.baseUs), data: raw }));
    } catch (err) {
      this.onError(err);
    }
  }

  private onDecoded(data: AudioData): void {
    try {
      this.framesDecoded++;
      const ctx = this.ctx;
      if (this.muted || this.destroyed || !ctx || ctx.state !== 'running' || this.baseUs < 0) return;
      const channels = data.numberOfChannels;
      const frames = data.numberOfFrames;
      const buffer = ctx.createBuffer(channels, frames, data.sampleRate);
      for (let c = 0; c < channels; c++) {
        const plane = new Float32Array(frames);
        data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
        buffer.copyToChannel(plane, c);
      }
      this.schedule(ctx, buffer, this.baseUs + data.timestamp);
    } catch (err) {
      this.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    } finally {
      data.close();
    }
  }

  // ---- scheduling -------------------------------------------------------------------------------

  /** AudioContext time at which a sample started then is heard at performance.now() == perfMs. */
  private contextTimeAt(ctx: AudioContext, perfMs: number): number {
    const ts = ctx.getOutputTimestamp();
    if (ts.contextTime !== undefined && ts.performanceTime !== undefined && ts.performanceTime > 0) {
      return ts.contextTime + (perfMs - ts.performanceTime) / 1000;
    }
    // Output not started yet: estimate from the render position minus the output latency.
    const outputLatency = (ctx.outputLatency || 0) + (ctx.baseLatency || 0);
    return ctx.currentTime - outputLatency + (perfMs - performance.now()) / 1000;
  }

  private schedule(ctx: AudioContext, buffer: AudioBuffer, captureUs: number): void {
    if (this.latencyMs === null) {
      // No picture yet to align to.
      this.framesDropped++;
      return;
    }
    const target = this.contextTimeAt(ctx, captureUs / 1000 + this.latencyMs + this.extraDelayMs);
    let start = target;
    const contiguous = this.nextStartCtx >= 0 && Math.abs(captureUs - this.nextCaptureUs) < 2_000;
    if (contiguous) {
      start = this.nextStartCtx;
      if (Math.abs(start - target) * 1000 > RESYNC_MS) {
        start = target;
        this.resyncs++;
      }
    }
    const earliest = ctx.currentTime + SCHEDULE_MARGIN_S;
    if (start < earliest) {
      this.noteLate((earliest - target) * 1000);
      this.framesDropped++;
      this.nextStartCtx = -1;
      return;
    }
    this.noteOnTime();
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    source.start(start);
    const entry: Scheduled = { source, startCtx: start, endCtx: start + buffer.duration, captureUs };
    // Kept after `ended` (which fires when rendered, an output latency before it is heard) for the
    // clock; the oldest go once the list is long.
    this.scheduled.push(entry);
    if (this.scheduled.length > MAX_SCHEDULED) this.scheduled.shift();
    this.nextStartCtx = entry.endCtx;
    this.nextCaptureUs = captureUs + buffer.duration * 1e6;
  }

  /** Audio too late for the video's latency: after a while of that, delay sound by what it needs. */
  private noteLate(lateMs: number): void {
    const now = performance.now();
    if (!this.lateSince) {
      this.lateSince = now;
      this.maxLateMs = 0;
    }
    this.maxLateMs = Math.max(this.maxLateMs, lateMs);
    // A single late chunk is a hiccup; late for a quarter second is a pattern.
    if (now - this.lateSince > 250) {
      this.extraDelayMs = Math.min(MAX_EXTRA_DELAY_MS, this.extraDelayMs + this.maxLateMs + LATE_MARGIN_MS);
      this.lateSince = 0;
      if (!this.muted) this.onDelay(this.extraDelayMs);
    }
  }

  private noteOnTime(): void {
    if (this.lateSince && performance.now() - this.lateSince > LATE_WINDOW_MS) this.lateSince = 0;
  }

  /** Capture time of the sample being heard now, or null when nothing is playing. */
  private clockUs(): number | null {
    const ctx = this.ctx;
    if (this.muted || !ctx || ctx.state !== 'running') return null;
    const now = this.contextTimeAt(ctx, performance.now());
    for (let i = this.scheduled.length - 1; i >= 0; i--) {
      const s = this.scheduled[i]!;
      if (now >= s.startCtx && now < s.endCtx) return Math.round(s.captureUs + (now - s.startCtx) * 1e6);
    }
    return null;
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
    if (decoder && decoder.state !== 'closed') {
      try {
        decoder.close();
      } catch {
        // closed by an error
      }
    }
  }
}
