import { Track, encodeMessage, type AudioFormat, type CameraProcessStatus, type OfflineReason, type SpsVideoFormat, type VideoFormat } from '@picam/protocol';
import type { CameraMetrics } from '../metrics.ts';
import type { LiveCameraStatus } from '../services.ts';
import { AudioTail } from './audio-tail.ts';
import { SEQUENCE_OFFSET, catchUpMessage, type FrameEncoder, type HubFrame } from './frame.ts';
import { GopCache } from './gop-cache.ts';
import { StreamRates } from './stream-rates.ts';
import type { PublisherOptions, StreamObserver } from './hub.ts';
import { Offer, type StreamContext, type ViewerQuality, type ViewerSession } from './viewer-session.ts';

/**
 * One camera's live stream: its publisher (the agent connection of the moment), the current GOP,
 * a short audio tail, the format, and the viewers. publish() is the per-frame path: no database,
 * metrics updated once per frame, and no copy of the frame but the one encoding for all viewers
 * that the transport makes when enough of them watch (FrameEncoder).
 */

const MIN_BUDGET_BYTES = 1024 * 1024;
/** Frame rate for init when neither the agent nor the SPS says (rpicam-vid's own default). */
const DEFAULT_FRAMERATE = 30;

const OFFLINE_TEXT = encodeMessage({ type: 'state', state: 'offline' });
const offlineText = (reason: OfflineReason | undefined) => (reason === undefined ? OFFLINE_TEXT : encodeMessage({ type: 'state', state: 'offline', reason }));
const ONLINE_TEXT = encodeMessage({ type: 'state', state: 'online' });

/** What the agent said about itself in its hello. */
export interface PublisherInfo {
  agentVersion: string;
  /** frame rate the agent reported (hello video format, else its camera settings) */
  framerate: number | undefined;
  audio: AudioFormat | null;
}

export interface StreamOptions {
  cameraId: string;
  name: string;
  metrics: CameraMetrics;
  /** the viewers' transport: encodes a frame once for all viewers when there are enough of them */
  encoder: FrameEncoder;
  gopCacheBytes?: number;
  now?: () => number;
}

export class Stream implements StreamContext {
  readonly cameraId: string;
  private name: string;
  private readonly metrics: CameraMetrics;
  private readonly encoder: FrameEncoder;
  private readonly now: () => number;
  private readonly viewers = new Set<ViewerSession>();
  private readonly gop: GopCache;
  private readonly audioTail = new AudioTail();
  private readonly meter = new StreamRates(5);
  /** relay-side sequence numbers per track: continuous across agent reconnects */
  private nextVideoSeq = 0;
  private nextAudioSeq = 0;
  /** bumped per publisher: calls from a replaced publisher are ignored */
  private epoch = 0;
  private hadKeyframe = false;

  formatKey = '';
  initText = '';
  budgetBytes = MIN_BUDGET_BYTES;

  private online = false;
  /** what a viewer is told while the stream is offline: why, when the publisher said */
  private offlineText = OFFLINE_TEXT;
  private info: PublisherInfo | null = null;
  private sps: SpsVideoFormat | null = null;
  private video: VideoFormat | null = null;
  private camera: CameraProcessStatus | null = null;
  private connectedAt: number | null = null;
  private lastFrameAt: number | null = null;
  private onViewerCount: ((viewers: number) => void) | undefined;
  private forward: PublisherOptions['forward'];
  private observer: StreamObserver | undefined;

  constructor(options: StreamOptions) {
    this.cameraId = options.cameraId;
    this.name = options.name;
    this.metrics = options.metrics;
    this.encoder = options.encoder;
    this.now = options.now ?? Date.now;
    this.gop = new GopCache(options.gopCacheBytes);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** viewers, plus one while an observer records: what the agent is told it is wanted by */
  get demand(): number {
    return this.viewers.size + (this.observer ? 1 : 0);
  }

  get isOnline(): boolean {
    return this.online;
  }

  // ---- publisher side ------------------------------------------------------------------------

  /** A new agent connection takes the stream; any previous one is from now on ignored. */
  attachPublisher(onViewerCount: (viewers: number) => void, forward?: PublisherOptions['forward']): number {
    const wasOnline = this.online;
    this.epoch++;
    this.online = true;
    this.connectedAt = this.now();
    this.camera = null;
    this.onViewerCount = onViewerCount;
    this.forward = forward;
    // The new connection's encoder state has nothing to do with the old GOP.
    this.resetMedia();
    if (!wasOnline) {
      this.metrics.camerasOnline.inc();
      this.broadcastText(ONLINE_TEXT);
    }
    return this.epoch;
  }

  detachPublisher(epoch: number, reason?: OfflineReason): void {
    if (epoch !== this.epoch || !this.online) return;
    this.online = false;
    this.offlineText = offlineText(reason);
    this.onViewerCount = undefined;
    this.forward = undefined;
    this.connectedAt = null;
    this.camera = null;
    this.info = null;
    this.resetMedia();
    this.metrics.camerasOnline.dec();
    this.broadcastText(this.offlineText);
  }

  isCurrent(epoch: number): boolean {
    return epoch === this.epoch && this.online;
  }

  setName(name: string): void {
    if (name === this.name) return;
    this.name = name;
    this.rebuildInit();
  }

  hello(epoch: number, info: PublisherInfo): void {
    if (!this.isCurrent(epoch)) return;
    this.info = info;
    this.rebuildInit();
    this.observer?.publisherInfo(info);
  }

  /** `expected`: detach only if this is still the observer (another may have replaced it). */
  setObserver(observer: StreamObserver | undefined, expected?: StreamObserver): void {
    if (expected !== undefined && this.observer !== expected) return;
    const before = this.demand;
    this.observer = observer;
    if (observer && this.online && this.info) observer.publisherInfo(this.info);
    if (this.demand !== before) this.onViewerCount?.(this.demand);
  }

  cameraState(epoch: number, state: CameraProcessStatus): void {
    if (this.isCurrent(epoch)) this.camera = state;
  }

  /**
   * The per-frame path. `frame.message` is the validated agent message. In this order: the relay's
   * sequence number is stamped into it in place; the publisher's `forward` sees it; with
   * `encoder.minViewers` viewers or more the transport encodes it once for all of them (`wire`, and
   * `message` becomes a view into it); then the frame goes into the GOP cache (or audio tail) and is
   * offered to every viewer (deliver).
   * `sps` comes with keyframes (parsed by the ingest, which validated it).
   */
  publish(epoch: number, frame: HubFrame, sps?: SpsVideoFormat): void {
    if (!this.isCurrent(epoch)) return;
    const nowMs = this.now();
    this.lastFrameAt = nowMs;
    if (frame.track === Track.Video) {
      frame.sequence = this.nextVideoSeq;
      this.nextVideoSeq = (this.nextVideoSeq + 1) >>> 0;
    } else {
      frame.sequence = this.nextAudioSeq;
      this.nextAudioSeq = (this.nextAudioSeq + 1) >>> 0;
    }
    frame.message.writeUInt32BE(frame.sequence, SEQUENCE_OFFSET);
    // Other nodes' copy first (PublisherOptions.forward): this node's viewers get the frame in a
    // microtask queued after the cluster client's flush, so that write does not wait for them.
    if (this.forward?.(frame)) {
      queueMicrotask(() => {
        if (this.isCurrent(epoch)) this.deliver(frame, nowMs, sps);
      });
      return;
    }
    this.deliver(frame, nowMs, sps);
  }

  /** A numbered frame to the encoder, the GOP cache or audio tail, every viewer and the observer. */
  private deliver(frame: HubFrame, nowMs: number, sps?: SpsVideoFormat): void {
    const bytes = frame.message.byteLength;
    const video = frame.track === Track.Video;
    let sent = 0;
    let slow = 0;
    let lag = 0;
    let wire: Buffer | undefined;
    if (this.viewers.size >= this.encoder.minViewers) {
      const encoded = this.encoder.encode(frame.message);
      frame.message = encoded.payload;
      wire = encoded.wire;
    }

    if (video) {
      this.metrics.videoFramesIn.inc();
      this.metrics.videoBytesIn.inc(bytes);
      if (this.meter.add(bytes, true, nowMs)) this.refreshBudget(nowMs);
      if (frame.keyframe) {
        this.hadKeyframe = true;
        if (sps) this.setSps(sps);
      }
      if (!this.gop.add(frame) && this.hadKeyframe) this.metrics.dropped.cache.inc();
      for (const viewer of this.viewers) {
        const result = viewer.offerVideo(frame, wire, this, nowMs);
        if (result === Offer.Sent) sent++;
        else if (result === Offer.Slow) slow++;
        else if (result === Offer.Lag) lag++;
      }
    } else {
      this.metrics.audioFramesIn.inc();
      this.metrics.audioBytesIn.inc(bytes);
      if (this.meter.add(bytes, false, nowMs)) this.refreshBudget(nowMs);
      this.audioTail.add(frame);
      for (const viewer of this.viewers) {
        const result = viewer.offerAudio(frame, wire, this);
        if (result === Offer.Sent) sent++;
        else if (result === Offer.Slow) slow++;
      }
    }
    // Once per frame, not once per viewer: bytes x viewers sent.
    if (sent > 0) {
      this.metrics.framesOut.inc(sent);
      this.metrics.bytesOut.inc(sent * bytes);
    }
    if (slow > 0) this.metrics.dropped.slow.inc(slow);
    if (lag > 0) this.metrics.dropped.lag.inc(lag);
    this.observer?.frame(frame, sps);
  }

  // ---- viewer side ---------------------------------------------------------------------------

  /**
   * A viewer joins: at once a picture (init + the GOP flagged catch-up + the audio tail), or init
   * and the next keyframe when the cache is empty, or `state: offline` until an agent comes.
   */
  addViewer(viewer: ViewerSession): void {
    this.viewers.add(viewer);
    this.viewerCountChanged();
    if (!this.online) {
      viewer.sink.sendText(this.offlineText);
      return;
    }
    const gop = this.gop.current();
    if (gop.length > 0 && this.formatKey !== '') viewer.startWithCatchUp(this, mergeByCaptureTime(gop, this.audioTail.current()));
    else if (this.formatKey !== '') viewer.sendInit(this);
    else viewer.sink.sendText(ONLINE_TEXT);
  }

  /** The viewer's `quality`; back to full rate it is filled in from the GOP cache (viewer-session.ts). */
  setViewerQuality(viewer: ViewerSession, quality: ViewerQuality): void {
    if (this.viewers.has(viewer)) viewer.setQuality(quality, this.gop.current());
  }

  removeViewer(viewer: ViewerSession): void {
    viewer.markClosed();
    if (this.viewers.delete(viewer)) this.viewerCountChanged();
  }

  /** The catch-up messages a joiner would get now (a NATS hub serves these to other nodes). */
  currentGop(): Buffer[] {
    return mergeByCaptureTime(this.gop.current(), this.audioTail.current()).map(catchUpMessage);
  }

  status(): LiveCameraStatus {
    const rates = this.online ? this.meter.rates(this.now()) : { bitrate: 0, framerate: 0 };
    return {
      online: this.online,
      viewers: this.viewers.size,
      video: this.online ? this.video : null,
      audio: this.online ? (this.info?.audio ?? null) : null,
      bitrate: rates.bitrate,
      framerate: rates.framerate,
      camera: this.camera,
      agentVersion: this.info?.agentVersion ?? null,
      connectedAt: this.connectedAt,
      lastFrameAt: this.lastFrameAt,
    };
  }

  private viewerCountChanged(): void {
    this.metrics.viewers.set(this.viewers.size);
    this.onViewerCount?.(this.demand);
  }

  private resetMedia(): void {
    this.observer?.publisherEnded();
    this.gop.clear();
    this.audioTail.clear();
    this.meter.reset();
    this.hadKeyframe = false;
    for (const viewer of this.viewers) viewer.restart();
  }

  private setSps(sps: SpsVideoFormat): void {
    const old = this.sps;
    if (old && old.codec === sps.codec && old.width === sps.width && old.height === sps.height && old.framerate === sps.framerate) return;
    this.sps = sps;
    this.rebuildInit();
  }

  /** init is built once per format (and name) change, then shared by every viewer. */
  private rebuildInit(): void {
    if (!this.sps) return;
    const video: VideoFormat = {
      codec: this.sps.codec,
      width: this.sps.width,
      height: this.sps.height,
      framerate: this.info?.framerate ?? this.sps.framerate ?? DEFAULT_FRAMERATE,
    };
    const audio = this.info?.audio ?? null;
    this.video = video;
    this.formatKey = JSON.stringify([video, audio, this.name]);
    this.initText = encodeMessage({ type: 'init', camera: { id: this.cameraId, name: this.name }, video, audio });
  }

  private refreshBudget(nowMs: number): void {
    // About one second of the stream: enough to ride out a burst (a keyframe), small enough that a
    // stalled viewer holds little memory and little delay.
    this.budgetBytes = Math.max(MIN_BUDGET_BYTES, Math.ceil(this.meter.rates(nowMs).bitrate / 8));
  }

  private broadcastText(text: string): void {
    for (const viewer of this.viewers) viewer.sink.sendText(text);
  }
}

/** Video GOP and audio tail in capture order (both are already sorted). */
function mergeByCaptureTime(video: readonly HubFrame[], audio: readonly HubFrame[]): HubFrame[] {
  if (audio.length === 0) return [...video];
  const firstUs = video[0]?.captureTimeUs ?? 0;
  const out: HubFrame[] = [];
  let a = 0;
  // Sound from before the keyframe would play ahead of the first picture: leave it out.
  while (a < audio.length && audio[a]!.captureTimeUs < firstUs) a++;
  for (const v of video) {
    while (a < audio.length && audio[a]!.captureTimeUs <= v.captureTimeUs) out.push(audio[a++]!);
    out.push(v);
  }
  while (a < audio.length) out.push(audio[a++]!);
  return out;
}
