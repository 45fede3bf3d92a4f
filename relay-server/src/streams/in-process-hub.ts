import type { RelayMetrics } from '../metrics.ts';
import type { StreamHub, StreamObserver, Publisher, PublisherOptions, Subscription, SubscribeOptions } from './hub.ts';
import type { FrameEncoder } from './frame.ts';
import { Stream } from './stream.ts';
import { ViewerSession, type ViewerSink } from './viewer-session.ts';

/**
 * The single-process StreamHub: a map of camera id -> Stream. Streams stay while the camera exists
 * (an offline stream holds no media, only its sequence counters and last status), so sequence
 * numbers stay continuous across agent reconnects and status survives a disconnect.
 */
export interface InProcessHubOptions {
  metrics: RelayMetrics;
  /** the viewers' transport's encode-once-for-all-viewers (ws/prepared-frames.ts in the relay) */
  encoder: FrameEncoder;
  gopCacheBytes?: number;
  now?: () => number;
}

export class InProcessHub implements StreamHub {
  private readonly streams = new Map<string, Stream>();
  private readonly options: InProcessHubOptions;

  constructor(options: InProcessHubOptions) {
    this.options = options;
  }

  openPublisher(cameraId: string, options: PublisherOptions): Publisher {
    const stream = this.stream(cameraId, options.name);
    stream.setName(options.name);
    const epoch = stream.attachPublisher(options.onViewerCount, options.forward);
    options.onViewerCount(stream.demand);
    return {
      hello: (info) => stream.hello(epoch, info),
      publish: (frame, sps) => stream.publish(epoch, frame, sps),
      cameraState: (state) => stream.cameraState(epoch, state),
      close: (reason) => stream.detachPublisher(epoch, reason),
    };
  }

  subscribe(cameraId: string, sink: ViewerSink, options: SubscribeOptions): Subscription {
    const stream = this.stream(cameraId, options.name);
    const session = new ViewerSession(sink, options.limits);
    if (options.quality) session.setQuality(options.quality, []);
    stream.addViewer(session);
    return {
      ack: (sequence) => session.ack(sequence),
      quality: (quality) => stream.setViewerQuality(session, quality),
      close: () => stream.removeViewer(session),
    };
  }

  currentGop(cameraId: string): Buffer[] {
    return this.streams.get(cameraId)?.currentGop() ?? [];
  }

  viewerCount(cameraId: string): number {
    return this.streams.get(cameraId)?.viewerCount ?? 0;
  }

  demand(cameraId: string): number {
    return this.streams.get(cameraId)?.demand ?? 0;
  }

  observe(cameraId: string, observer: StreamObserver): () => void {
    const stream = this.stream(cameraId, '');
    stream.setObserver(observer);
    return () => {
      // A camera deleted and re-created meanwhile has a new stream; only this one's observer goes.
      if (this.streams.get(cameraId) === stream) stream.setObserver(undefined, observer);
    };
  }

  status(cameraId: string) {
    return this.streams.get(cameraId)?.status();
  }

  totals() {
    let camerasOnline = 0;
    let viewers = 0;
    for (const stream of this.streams.values()) {
      if (stream.isOnline) camerasOnline++;
      viewers += stream.viewerCount;
    }
    return { camerasOnline, viewers };
  }

  removeCamera(cameraId: string): void {
    if (!this.streams.delete(cameraId)) return;
    this.options.metrics.forgetCamera(cameraId);
  }

  private stream(cameraId: string, name: string): Stream {
    let stream = this.streams.get(cameraId);
    if (!stream) {
      stream = new Stream({
        cameraId,
        name,
        metrics: this.options.metrics.forCamera(cameraId),
        encoder: this.options.encoder,
        gopCacheBytes: this.options.gopCacheBytes,
        now: this.options.now,
      });
      this.streams.set(cameraId, stream);
    }
    return stream;
  }
}
