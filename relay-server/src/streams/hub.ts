import type { CameraProcessStatus, OfflineReason, SpsVideoFormat } from '@picam/protocol';
import type { LiveCameraStatus } from '../services.ts';
import type { HubFrame } from './frame.ts';
import type { PublisherInfo } from './stream.ts';
import type { ViewerLimits, ViewerQuality, ViewerSink } from './viewer-session.ts';

/**
 * The fan-out seen from the connections: agents publish, viewers subscribe. Small on purpose, so a
 * NATS-backed hub can implement it: the node owning the agent
 * publishes to `camera.<id>.video`, other nodes subscribe while they have viewers and ask the owner
 * for `currentGop` when their first viewer joins.
 */
export interface StreamHub {
  /** The agent connection that now feeds this camera; a previous one is ignored from here on. */
  openPublisher(cameraId: string, options: PublisherOptions): Publisher;
  subscribe(cameraId: string, sink: ViewerSink, options: SubscribeOptions): Subscription;
  /** catch-up messages (flagged) a joining viewer would get now: the GOP and the audio tail */
  currentGop(cameraId: string): Buffer[];
  viewerCount(cameraId: string): number;
  /**
   * How many want the camera's pictures, as its agent is told (`demand`): the viewers, plus one
   * while an observer (the recorder) takes its frames, so an on-demand camera keeps capturing.
   */
  demand(cameraId: string): number;
  /**
   * One observer per camera (the recorder) gets every frame the stream publishes, after the
   * viewers have been offered it. It is not a viewer: no budget, no acks, not in viewerCount.
   * Returns the call that detaches it.
   */
  observe(cameraId: string, observer: StreamObserver): () => void;
  status(cameraId: string): LiveCameraStatus | undefined;
  totals(): { camerasOnline: number; viewers: number };
  /** camera deleted: forget its stream and counters (connections are closed by their owner) */
  removeCamera(cameraId: string): void;
}

/** Sees a camera's stream as published, without being a viewer (recording/recorder.ts). */
export interface StreamObserver {
  /** the publisher's hello (and right away when attached while one is connected) */
  publisherInfo(info: PublisherInfo): void;
  /**
   * A published frame, after the viewers: `frame.message` must not be changed, nor kept past the
   * moment its bytes are written somewhere (it is shared). Keyframes come with their parsed SPS.
   */
  frame(frame: HubFrame, sps?: SpsVideoFormat): void;
  /** the publisher left or was replaced: the encoder state the frames depended on is gone */
  publisherEnded(): void;
}

export interface PublisherOptions {
  name: string;
  /** demand changed (and right away): the agent is told, for on-demand cameras (StreamHub.demand) */
  onViewerCount: (viewers: number) => void;
  /**
   * The camera was taken over elsewhere (a cluster node with a newer ownership epoch): the agent
   * connection closes with 4009. Never called by the single-process hub.
   */
  onReplaced?: () => void;
  /**
   * Each frame once numbered, before any viewer of this node has it: a cluster owner sends it to
   * the other nodes here. True means it queued a write that its client flushes on a microtask (the
   * NATS client does): the stream then serves its own viewers in a microtask queued after that one,
   * so the other nodes' copy leaves at once instead of after the fan-out to every local viewer.
   * `frame.message` must not be changed. Never set by the single-process hub.
   */
  forward?: (frame: HubFrame) => boolean;
}

/** All calls are ignored once another publisher has taken the camera or close() was called. */
export interface Publisher {
  hello(info: PublisherInfo): void;
  /** `frame.message` must be a validated frame; keyframes come with their parsed SPS */
  publish(frame: HubFrame, sps?: SpsVideoFormat): void;
  cameraState(state: CameraProcessStatus): void;
  /** the stream goes offline; its viewers are told `reason` when there is one */
  close(reason?: OfflineReason): void;
}

export interface SubscribeOptions {
  /** camera name for `init` (the registry's, read once at connect) */
  name: string;
  limits?: ViewerLimits;
  /** what the viewer asked for before it joined (its `quality` came with the connection) */
  quality?: ViewerQuality;
}

export interface Subscription {
  ack(sequence: number): void;
  /** the viewer's `quality` message (keyframes only, or full rate from the GOP cache) */
  quality(quality: ViewerQuality): void;
  close(): void;
}
