import { AAC_LC_CODEC, AdtsSplitter, adtsFrameDurationUs, parseAdtsHeader, type AudioFormat, type ProtocolError } from '@picam/protocol';

/** One ADTS frame as read from the encoder, with its capture time on the agent's capture clock. */
export interface CapturedAudioFrame {
  /** the whole ADTS frame, header included, byte-identical to what the encoder wrote */
  data: Uint8Array;
  /** microseconds since the Unix epoch: when the frame's first sample was captured (see AudioReader) */
  captureTimeUs: number;
  durationUs: number;
}

export interface AudioReaderOptions {
  /** the same clock that stamps the video frames */
  clock: { nowUs(): number };
  onFrame: (frame: CapturedAudioFrame) => void;
  /** the stream's format, at its first frame and whenever it changes */
  onFormat: (format: AudioFormat) => void;
  /** lost sync, oversize or unsupported frames: reported, never thrown */
  onError?: (message: string) => void;
}

/** Read times later than the timeline by more than this mean a gap (samples lost, source paused): re-anchor. */
export const AUDIO_RESYNC_US = 100_000;
/** Frames over which the earliest read time is taken to pull a timeline that runs early (clock drift). */
const DRIFT_WINDOW_FRAMES = 50;

/**
 * Encoder stdout (ADTS) -> frames with capture timestamps. One reader per encoder process.
 *
 * Timestamps: ADTS carries none, so, like the video, frames are stamped from the agent's capture
 * clock when their bytes are read. A frame holds `durationUs` of sound (1024 samples, 21.3 ms at
 * 48 kHz) whose LAST sample was captured at best just before the frame could be encoded and read;
 * the stamp is the capture time of its FIRST sample: read time minus the duration of the frames
 * read in the same chunk, this one included. That is what a player schedules (a frame starts
 * playing at its timestamp). Encoder delay (the AAC encoder's priming and look-ahead) is not
 * subtracted, just as the H.264 encoder's latency is not subtracted from the video stamps.
 *
 * Read times jitter (pipe, scheduler), only ever late. So consecutive frames are laid end to end
 * on a continuous timeline (stamp = previous stamp + previous duration, gapless for the player),
 * which follows the lower envelope of the read times: a read earlier than the timeline pulls it
 * back at once; a timeline that every read in a ~1 s window found early (the sound card's clock
 * running slower than the system's) moves by the smallest lateness seen; a read more than
 * AUDIO_RESYNC_US late (lost samples, a restarted encoder) re-anchors on the read time. Stamps
 * are strictly increasing.
 */
export class AudioReader {
  private readonly options: AudioReaderOptions;
  private readonly splitter: AdtsSplitter;
  private format: AudioFormat | null = null;
  private formatKey = '';
  /** the timeline: the next frame starts at anchorUs + offsetUs; null before the first frame */
  private anchorUs: number | null = null;
  private offsetUs = 0;
  private lastUs = 0;
  private windowFrames = 0;
  private windowMinLateUs = Infinity;
  private unsupportedReported = false;
  private closed = false;
  frames = 0;

  constructor(options: AudioReaderOptions) {
    this.options = options;
    this.splitter = new AdtsSplitter({ onError: (error: ProtocolError) => options.onError?.(error.message) });
  }

  get currentFormat(): AudioFormat | null {
    return this.format;
  }

  push(chunk: Uint8Array): void {
    if (this.closed) return;
    const readUs = this.options.clock.nowUs();
    this.emit(this.splitter.push(chunk), readUs);
  }

  /** The encoder's stdout ended: a frame found by a resync whose successor never came is complete. */
  end(): void {
    if (this.closed) return;
    this.emit(this.splitter.flush(), this.options.clock.nowUs());
    this.close();
  }

  close(): void {
    this.closed = true;
  }

  private emit(frames: Uint8Array[], readUs: number): void {
    if (frames.length === 0) return;
    const headers = frames.map((f) => parseAdtsHeader(f));
    const durations = headers.map(adtsFrameDurationUs);
    // The chunk ends with the last sample of its last frame: frame i starts this long before the read.
    let before = durations.reduce((sum, d) => sum + d, 0);
    for (let i = 0; i < frames.length; i++) {
      const header = headers[i]!;
      const durationUs = durations[i]!;
      const readStartUs = readUs - before;
      before -= durationUs;
      if (header.objectType !== 2) {
        if (!this.unsupportedReported) {
          this.unsupportedReported = true;
          this.options.onError?.(`AAC object type ${header.objectType} is not AAC-LC (2): frames dropped; encode with -c:a aac (-profile:a aac_low)`);
        }
        continue;
      }
      this.updateFormat({ codec: AAC_LC_CODEC, sampleRate: header.sampleRate, channels: header.channels });
      const captureTimeUs = this.stamp(readStartUs, durationUs);
      this.frames += 1;
      this.options.onFrame({ data: frames[i]!, captureTimeUs, durationUs });
    }
  }

  private stamp(readStartUs: number, durationUs: number): number {
    // The timeline is an anchor (a read time) plus a small offset: epoch microseconds as doubles
    // step by 0.25 µs, and adding 21333.33 µs to them every frame would round the same way each time.
    let anchorUs = this.anchorUs;
    const next = anchorUs === null ? null : anchorUs + this.offsetUs;
    if (anchorUs === null || next === null || readStartUs - next > AUDIO_RESYNC_US || readStartUs < next) {
      anchorUs = this.anchorUs = readStartUs;
      this.offsetUs = 0;
      this.resetWindow();
    } else {
      this.windowMinLateUs = Math.min(this.windowMinLateUs, readStartUs - next);
      if (++this.windowFrames >= DRIFT_WINDOW_FRAMES) {
        this.offsetUs += this.windowMinLateUs;
        this.resetWindow();
      }
    }
    let stamp = Math.round(anchorUs + this.offsetUs);
    this.offsetUs += durationUs;
    if (stamp <= this.lastUs) stamp = this.lastUs + 1;
    this.lastUs = stamp;
    return stamp;
  }

  private resetWindow(): void {
    this.windowFrames = 0;
    this.windowMinLateUs = Infinity;
  }

  private updateFormat(format: AudioFormat): void {
    const key = `${format.sampleRate}/${format.channels}`;
    if (key === this.formatKey) return;
    this.formatKey = key;
    this.format = format;
    this.options.onFormat(format);
  }
}
