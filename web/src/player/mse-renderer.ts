import JMuxer from 'jmuxer';
import { ADTS_HEADER_BYTES, adtsFrameDurationUs, isAdtsSync, parseAdtsHeader, type InitMessage } from '@picam/protocol';
import { videoFrameHold } from './keyframe-hold.ts';
import { selectMediaSource } from './media-source.ts';
import type { IncomingFrame, PresentedFrame, Renderer, RendererEvents, RendererStats } from './renderer.ts';

/**
 * The compatible path: jmuxer turns each access unit into a fragmented-MP4 segment for Media Source
 * Extensions and a <video> plays it. MSE buffers by nature, so this file is mostly about staying at
 * the live edge:
 *
 * - jmuxer with flushingTime 0 (append every frame at once; its default waits 500 ms), fed whole
 *   access units with `isLastVideoFrameComplete` (else it holds the last NAL unit back until the next
 *   frame) and a real duration from the capture-time deltas (else it holds the whole frame back).
 * - MediaSource duration Infinity (Safari pauses on underflow otherwise).
 * - A chaser every 200 ms: more than CATCH_UP_S (0.1 s) behind the buffered end, play a little faster; more
 *   than JUMP_S behind, seek to the end minus a small margin. On Safari seek instead of speeding up
 *   (it re-buffers on playbackRate changes). After the catch-up burst of a join, seek at once.
 * - Decoder trouble (a <video> error, jmuxer's InvalidStateError): throw jmuxer away, make a new one,
 *   start again at the next keyframe; a burst of resets backs off so it cannot loop hot.
 * - ManagedMediaSource wherever it exists (iOS 17.1+ has only it; media-source.ts); the video gets
 *   disableRemotePlayback and playsinline, and starts muted (autoplay with sound is refused on
 *   phones; sound comes on with the user's click on the mute button).
 * - Sound ('both' mode, browsers without WebCodecs AudioDecoder): jmuxer builds its MediaSource only
 *   once it has samples of both tracks, and a <video> with two tracks plays only as far as both are
 *   buffered, so a camera whose audio stops (microphone unplugged, audio process restarting) would
 *   freeze the picture. No audio for AUDIO_GONE_MS while video flows: start over video-only; audio
 *   flowing again for AUDIO_BACK_MS: start over with both. (A microphone that is merely quiet still
 *   sends AAC frames of silence and changes nothing.)
 */

const AUDIO_GONE_MS = 1000;
const AUDIO_BACK_MS = 1000;

const CHASE_INTERVAL_MS = 200;
/** About three frames: MSE's own pipeline already holds one or two. */
const CATCH_UP_S = 0.1;
const JUMP_S = 0.5;
/** waiting for the first live frame to be buffered before jumping to it */
const JUMP_RETRY_MS = 20;
const JUMP_ATTEMPTS = 50;
const SAFARI_JUMP_S = 0.5;
/** jmuxer's own "too far behind" seek, a backstop behind ours (it checks once a second). */
const JMUXER_MAX_DELAY_MS = 1500;
const RESET_BURST = 3;
const RESET_WINDOW_MS = 10_000;
const RESET_BACKOFF_MS = 2_000;
/** Frames held while the MediaSource opens (normally a few ms); a whole GOP fits. */
const MAX_HELD_FRAMES = 300;
/** Media time -> frame, for the frames on screen (requestVideoFrameCallback) */
const TIMELINE_LENGTH = 600;

interface TimelineEntry {
  startMs: number;
  sequence: number;
  captureTimeUs: number;
}

type VideoWithFrameCallback = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, metadata: { mediaTime: number; presentedFrames: number }) => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

/** Safari (desktop and iOS, where every browser is WebKit) stutters when playbackRate changes. */
function isSafari(): boolean {
  const ua = navigator.userAgent;
  return (/Safari\//.test(ua) && !/Chrome\/|Chromium\/|Android/.test(ua)) || /iPhone|iPad/.test(ua);
}

export interface MseRendererOptions {
  /** feed audio to jmuxer too ('both' mode) when the stream has audio; off until audio lands */
  audio?: boolean;
}

export class MseRenderer implements Renderer {
  readonly path = 'mse' as const;
  readonly element: VideoWithFrameCallback;
  private readonly events: RendererEvents;
  private readonly audioEnabled: boolean;
  private readonly safari = isSafari();

  private jmuxer: JMuxer | null = null;
  /** its MediaSource is open: frames can be fed */
  private muxerReady = false;
  /** frames that came while the MediaSource opens (jmuxer appends nothing fed before that) */
  private readonly held = videoFrameHold(MAX_HELD_FRAMES);
  private mode: 'video' | 'both' = 'video';
  /** the stream has audio and we play it (init.audio and the audio option) */
  private audioWanted = false;
  /** performance.now() of the last audio frame fed, or of the start of 'both' mode */
  private lastAudioAt = 0;
  /** audio came back after a gap (video-only meanwhile) since this performance.now(), 0 = not */
  private audioBackSince = 0;
  private framerate = 30;
  private waitingForKeyframe = true;
  private lastCaptureUs = -1;
  private mediaMs = 0;
  private readonly timeline: TimelineEntry[] = [];
  /** seek to the live edge once the first live (not catch-up) frame is buffered */
  private seekToLive = true;
  private resetTimes: number[] = [];
  private holdUntil = 0;

  private chaseTimer = 0;
  private frameCallback = 0;
  private lastMediaTime = -1;
  private stalledSince = 0;

  private framesShown = 0;
  private framesFed = 0;
  private framesDropped = 0;
  private decoderResets = 0;
  private lastError: string | null = null;
  private width = 0;
  private height = 0;
  private destroyed = false;
  private readonly onVisibility = () => {
    if (document.visibilityState === 'visible') this.jumpToLive();
  };
  private readonly onVideoError = () => {
    const error = this.element.error;
    this.recover(`video element error ${error?.code ?? ''} ${error?.message ?? ''}`.trim());
  };

  constructor(events: RendererEvents, options: MseRendererOptions = {}) {
    this.events = events;
    this.audioEnabled = options.audio ?? false;
    const video = document.createElement('video') as VideoWithFrameCallback;
    video.className = 'player-media';
    video.dataset.testid = 'player-video';
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.disableRemotePlayback = true;
    video.setAttribute('playsinline', '');
    video.setAttribute('disableremoteplayback', '');
    video.addEventListener('error', this.onVideoError);
    video.addEventListener('loadedmetadata', () => {
      this.width = video.videoWidth;
      this.height = video.videoHeight;
    });
    video.addEventListener('resize', () => {
      this.width = video.videoWidth;
      this.height = video.videoHeight;
    });
    this.element = video;
    document.addEventListener('visibilitychange', this.onVisibility);
    this.chaseTimer = window.setInterval(() => this.chase(), CHASE_INTERVAL_MS);
    this.watchFrames();
  }

  init(init: InitMessage): void {
    const framerate = init.video.framerate > 0 ? init.video.framerate : 30;
    this.audioWanted = init.audio !== null && this.audioEnabled;
    this.lastAudioAt = performance.now();
    this.audioBackSince = 0;
    const mode = this.audioWanted ? 'both' : 'video';
    const changed = this.jmuxer !== null && (mode !== this.mode || framerate !== this.framerate);
    this.framerate = framerate;
    this.mode = mode;
    // A new SPS reaches jmuxer in-band; a new mode or frame rate needs a new muxer.
    if (changed) this.recreate();
    // Opening the MediaSource takes a moment: start now, before the first frame.
    if (!this.jmuxer) this.jmuxer = this.createMuxer();
  }

  pushVideo(frame: IncomingFrame): void {
    if (this.destroyed) return;
    const { header } = frame;
    if (this.waitingForKeyframe) {
      if (!header.keyframe || Date.now() < this.holdUntil) {
        this.framesDropped++;
        return;
      }
      this.waitingForKeyframe = false;
      this.lastCaptureUs = -1;
    }
    if (!this.jmuxer) this.jmuxer = this.createMuxer();
    if (!this.muxerReady) {
      // jmuxer builds its SourceBuffer on the first frame only if the MediaSource is already open;
      // fed earlier it never appends anything. Hold the frames (from the newest keyframe on) until then.
      this.framesDropped += this.held.push(frame);
      return;
    }
    this.feed(frame);
  }

  private feed(frame: IncomingFrame): void {
    const { header, payload } = frame;
    const duration = this.durationMs(header.captureTimeUs);
    this.timeline.push({ startMs: this.mediaMs, sequence: header.sequence, captureTimeUs: header.captureTimeUs });
    if (this.timeline.length > TIMELINE_LENGTH) this.timeline.shift();
    this.mediaMs += duration;
    if (!header.catchUp && this.seekToLive) {
      this.seekToLive = false;
      this.jumpSoon();
    }
    try {
      this.jmuxer!.feed({ video: payload, duration, isLastVideoFrameComplete: true });
      this.framesFed++;
    } catch (err) {
      this.recover(`jmuxer feed failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private onMuxerReady(muxer: JMuxer, mediaSource: MediaSource): void {
    if (muxer !== this.jmuxer) return;
    try {
      mediaSource.duration = Number.POSITIVE_INFINITY;
    } catch {
      // not settable in this state on some browsers; jmuxer's init segment says "live" anyway
    }
    this.muxerReady = true;
    for (const frame of this.held.take()) this.feed(frame);
  }

  pushAudio(frame: IncomingFrame): void {
    if (this.destroyed || !this.audioWanted) return;
    const now = performance.now();
    if (this.mode === 'video') {
      // Video-only since the audio went away: back to both once it flows steadily again.
      if (!this.audioBackSince || now - this.lastAudioAt > AUDIO_GONE_MS / 2) this.audioBackSince = now;
      this.lastAudioAt = now;
      if (now - this.audioBackSince >= AUDIO_BACK_MS) {
        this.audioBackSince = 0;
        this.mode = 'both';
        this.recreate();
      }
      return;
    }
    this.lastAudioAt = now;
    if (!this.jmuxer || this.waitingForKeyframe) return;
    let durationUs = 0;
    for (let offset = 0; offset + ADTS_HEADER_BYTES <= frame.payload.length && isAdtsSync(frame.payload, offset); ) {
      const adts = parseAdtsHeader(frame.payload, offset);
      durationUs += adtsFrameDurationUs(adts);
      offset += adts.frameLength;
    }
    if (durationUs > 0) this.jmuxer.feed({ audio: frame.payload, duration: Math.max(1, Math.round(durationUs / 1000)) });
  }

  reset(): void {
    this.recreate();
  }

  jumpToLive(): void {
    const video = this.element;
    const buffered = video.buffered;
    if (buffered.length === 0) return;
    const end = buffered.end(buffered.length - 1);
    const start = buffered.start(buffered.length - 1);
    const target = Math.max(start, end - this.liveMarginS());
    if (target > video.currentTime + 0.02 || target < video.currentTime - 0.5) video.currentTime = target;
    video.playbackRate = 1;
    if (video.paused) void video.play().catch(() => {});
  }

  setMuted(muted: boolean): void {
    this.element.muted = muted;
  }

  snapshot(): Promise<Blob | null> {
    const video = this.element;
    if (!video.videoWidth) return Promise.resolve(null);
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d')?.drawImage(video, 0, 0);
    return new Promise((resolve) => canvas.toBlob((blob) => resolve(blob), 'image/png'));
  }

  stats(): RendererStats {
    const quality = this.element.getVideoPlaybackQuality?.();
    const buffered = this.element.buffered;
    const ahead = buffered.length > 0 ? buffered.end(buffered.length - 1) - this.element.currentTime : 0;
    return {
      framesDecoded: quality?.totalVideoFrames ?? this.framesFed,
      framesShown: this.framesShown,
      framesDropped: this.framesDropped + (quality?.droppedVideoFrames ?? 0),
      decoderResets: this.decoderResets,
      queue: Math.max(0, Math.round(ahead * 1000) / 1000),
      width: this.width,
      height: this.height,
      lastError: this.lastError,
    };
  }

  destroy(): void {
    this.destroyed = true;
    window.clearInterval(this.chaseTimer);
    if (this.frameCallback) this.element.cancelVideoFrameCallback?.(this.frameCallback);
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.element.removeEventListener('error', this.onVideoError);
    this.destroyMuxer();
    this.element.removeAttribute('src');
    this.element.load();
  }

  private createMuxer(): JMuxer {
    this.muxerReady = false;
    const kind = selectMediaSource();
    if (kind) this.element.dataset.mediaSource = kind;
    const muxer: JMuxer = new JMuxer({
      node: this.element,
      mode: this.mode,
      flushingTime: 0,
      maxDelay: JMUXER_MAX_DELAY_MS,
      clearBuffer: true,
      fps: this.framerate,
      live: true,
      debug: false,
      onReady: (_isReset, mediaSource) => this.onMuxerReady(muxer, mediaSource),
      onError: (error) => this.recover(`jmuxer: ${error.name ?? error.type}`),
      onUnsupportedCodec: (codec) => this.events.onFatal(`this browser cannot play ${codec} with Media Source Extensions`),
      onLoggerLog: () => {},
      onLoggerErr: () => {},
    });
    return muxer;
  }

  private destroyMuxer(): void {
    const muxer = this.jmuxer;
    this.jmuxer = null;
    if (!muxer) return;
    try {
      muxer.destroy();
    } catch {
      // a MediaSource already closed by the error that brought us here
    }
    // With ManagedMediaSource jmuxer attaches through a <source> child, which it leaves behind: the
    // next muxer's would come second, after a dead one.
    for (const source of this.element.querySelectorAll('source')) source.remove();
  }

  /** Start over: a new muxer (and MediaSource), from the next keyframe. */
  private recreate(): void {
    this.destroyMuxer();
    this.muxerReady = false;
    this.held.clear();
    this.waitingForKeyframe = true;
    this.seekToLive = true;
    this.mediaMs = 0;
    this.timeline.length = 0;
    this.lastMediaTime = -1;
    this.stalledSince = 0;
    if (!this.destroyed) this.jmuxer = this.createMuxer();
  }

  private recover(reason: string): void {
    if (this.destroyed) return;
    this.lastError = reason;
    this.decoderResets++;
    const now = Date.now();
    this.resetTimes = [...this.resetTimes.filter((t) => now - t < RESET_WINDOW_MS), now];
    // A reset loop (every keyframe fails again) waits a little between attempts.
    if (this.resetTimes.length >= RESET_BURST) this.holdUntil = now + RESET_BACKOFF_MS;
    this.recreate();
  }

  /** This frame's duration from capture-time deltas (ms, whole, >= 1), else 1000/fps. */
  private durationMs(captureTimeUs: number): number {
    const fallback = Math.max(1, Math.round(1000 / this.framerate));
    const previous = this.lastCaptureUs;
    this.lastCaptureUs = captureTimeUs;
    if (previous < 0) return fallback;
    const delta = Math.round((captureTimeUs - previous) / 1000);
    return delta >= 1 && delta <= 1000 ? delta : fallback;
  }

  private liveMarginS(): number {
    return Math.max(0.05, 1.5 / this.framerate);
  }

  /**
   * The live frame is appended asynchronously (SourceBuffer update, after the whole catch-up GOP):
   * jump once the buffer reaches what has been fed. Jumping earlier finds an empty or partial buffer
   * and leaves playback up to a GOP behind, to be chased slowly at 1.1x.
   */
  private jumpSoon(attempt = 0): void {
    window.setTimeout(
      () => {
        if (this.destroyed) return;
        const buffered = this.element.buffered;
        const endMs = buffered.length > 0 ? buffered.end(buffered.length - 1) * 1000 : 0;
        if (endMs >= this.mediaMs - 2000 / this.framerate || attempt >= JUMP_ATTEMPTS) this.jumpToLive();
        else this.jumpSoon(attempt + 1);
      },
      attempt === 0 ? 0 : JUMP_RETRY_MS,
    );
  }

  private chase(): void {
    const video = this.element;
    if (!this.destroyed) this.checkAudioGone();
    if (this.destroyed || !this.jmuxer || video.buffered.length === 0 || video.seeking) return;
    const end = video.buffered.end(video.buffered.length - 1);
    const behind = end - video.currentTime;
    if (video.paused && behind > 0) void video.play().catch(() => {});

    // Stuck: the clock does not move although data keeps arriving (a gap in the buffer, a stall).
    if (video.currentTime === this.lastMediaTime && behind > this.liveMarginS() * 2) {
      if (!this.stalledSince) this.stalledSince = performance.now();
      else if (performance.now() - this.stalledSince > 1000) {
        this.stalledSince = 0;
        this.jumpToLive();
        return;
      }
    } else {
      this.stalledSince = 0;
    }
    this.lastMediaTime = video.currentTime;

    if (behind > (this.safari ? SAFARI_JUMP_S : JUMP_S) || behind < -0.01) {
      this.jumpToLive();
    } else if (!this.safari && behind > CATCH_UP_S) {
      video.playbackRate = behind > 0.5 ? 1.25 : 1.1;
    } else if (video.playbackRate !== 1 && behind < CATCH_UP_S / 2) {
      video.playbackRate = 1;
    }
  }

  /** 'both' mode without audio for a while would freeze the picture: go video-only (see the top). */
  private checkAudioGone(): void {
    if (this.mode !== 'both' || this.framesFed === 0) return;
    const now = performance.now();
    if (now - this.lastAudioAt < AUDIO_GONE_MS) return;
    this.mode = 'video';
    this.audioBackSince = 0;
    this.recreate();
  }

  /** Counts composited frames and reports which one is on screen (requestVideoFrameCallback). */
  private watchFrames(): void {
    const video = this.element;
    if (!video.requestVideoFrameCallback) {
      // Firefox < 132 and old Safari: count with the playback quality figures instead.
      return;
    }
    const onFrame = (_now: number, metadata: { mediaTime: number; presentedFrames: number }) => {
      if (this.destroyed) return;
      this.framesShown++;
      const entry = this.frameAt(metadata.mediaTime * 1000);
      if (entry) {
        const presented: PresentedFrame = { sequence: entry.sequence, captureTimeUs: entry.captureTimeUs, shownEpochMs: Date.now() };
        this.events.onPresent(presented);
      }
      this.frameCallback = video.requestVideoFrameCallback!(onFrame);
    };
    this.frameCallback = video.requestVideoFrameCallback(onFrame);
  }

  private frameAt(mediaMs: number): TimelineEntry | undefined {
    const t = this.timeline;
    let lo = 0;
    let hi = t.length - 1;
    let found: TimelineEntry | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const entry = t[mid]!;
      if (entry.startMs <= mediaMs + 0.5) {
        found = entry;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}
