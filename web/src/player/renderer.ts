import type { FrameHeader, InitMessage } from '@picam/protocol';

/** What the Player asks of a decoding path (WebCodecs or jmuxer/MSE). */

export type PlayerPath = 'webcodecs' | 'mse';

/** performance.now() at which a picture captured at captureTimeUs (agent clock) should appear; null: at once. */
export type PresentationClock = (captureTimeUs: number) => number | null;

export interface IncomingFrame {
  header: FrameHeader;
  payload: Uint8Array;
  /** Date.now() at arrival */
  arrivalEpochMs: number;
}

/** A frame that reached the screen. */
export interface PresentedFrame {
  sequence: number;
  captureTimeUs: number;
  /** Date.now() when it was drawn (WebCodecs) or composited (MSE, from requestVideoFrameCallback) */
  shownEpochMs: number;
}

export interface RendererStats {
  framesDecoded: number;
  framesShown: number;
  /** frames received but never decoded: waiting for a keyframe, queue too deep, decoder reset */
  framesDropped: number;
  decoderResets: number;
  /** frames waiting in the decoder (WebCodecs decodeQueueSize) or seconds buffered ahead (MSE) */
  queue: number;
  width: number;
  height: number;
  /** a short reason for the last decoder error, if any */
  lastError: string | null;
}

export interface RendererEvents {
  onPresent(frame: PresentedFrame): void;
  /** a picture finished decoding (WebCodecs): its capture time and performance.now(), for A/V sync */
  onDecoded?(captureTimeUs: number, decodedPerfMs: number): void;
  /** this path cannot go on (repeated decoder failures): the player may switch paths */
  onFatal(reason: string): void;
}

export interface Renderer {
  readonly path: PlayerPath;
  /** the <canvas> or <video> the picture appears in */
  readonly element: HTMLCanvasElement | HTMLVideoElement;
  /** a (new) stream format from `init` */
  init(init: InitMessage): void;
  pushVideo(frame: IncomingFrame): void;
  pushAudio(frame: IncomingFrame): void;
  /** the connection restarted: drop everything in flight and wait for the next keyframe */
  reset(): void;
  /** move to the newest picture now (tab visible again) */
  jumpToLive(): void;
  setMuted(muted: boolean): void;
  /** lip sync: hold each picture until the clock says its sound is heard (WebCodecs; null = live edge) */
  setPresentationClock?(clock: PresentationClock | null): void;
  snapshot(): Promise<Blob | null>;
  stats(): RendererStats;
  destroy(): void;
}
