import type { Msg } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import type { LiveCameraStatus } from '../services.ts';
import type { Publisher, PublisherOptions, StreamHub, StreamObserver, SubscribeOptions, Subscription } from '../streams/hub.ts';
import type { InProcessHub } from '../streams/in-process-hub.ts';
import type { ViewerQuality, ViewerSink } from '../streams/viewer-session.ts';
import { cameraOfSubject, decodeJson, ownerMessageSchema, statusMessageSchema, subjects, type StatusMessage } from './messages.ts';
import type { LinkSubscription, NatsLink } from './nats-link.ts';
import { ClusterTallies } from './cluster-metrics.ts';
import { OwnedCamera } from './owned-camera.ts';
import type { OwnershipStore } from './ownership.ts';
import { RemoteFeed, type FeedViewers } from './remote-feed.ts';

/**
 * The StreamHub of a relay node in a cluster (docs/ARCHITECTURE.md "More than one node"): this
 * node's InProcessHub does the fan-out as in a single process; around it, a camera whose agent is
 * here is an OwnedCamera (claims, answers GOP requests, publishes to other nodes on demand), and a
 * camera owned elsewhere with viewers here is a RemoteFeed (a local publisher fed from NATS).
 * totals() counts this node's own agents and viewers; status() answers for any camera of the cluster.
 */

export interface ClusterHubOptions {
  inner: InProcessHub;
  link: NatsLink;
  ownership: OwnershipStore;
  nodeId: string;
  log: Logger;
  /** what crosses NATS (cluster-metrics.ts) */
  tallies?: ClusterTallies;
}

/** An owner's status is believed this long (it is sent every 2 s); older, the owner is taken as gone. */
const STATUS_FRESH_MS = 5_000;
const STATUS_EVERY_MS = 2_000;
const TICK_MS = 1_000;

/** A viewer socket of this node: attached to the local stream, or waiting for the GOP a remote feed asked for. */
class LocalViewer implements Subscription {
  readonly cameraId: string;
  readonly sink: ViewerSink;
  readonly options: SubscribeOptions;
  inner: Subscription | undefined;
  /** the viewer's last `quality`, for when it is attached */
  wanted: ViewerQuality | undefined;
  closed = false;
  private readonly hub: ClusterHub;

  constructor(cameraId: string, sink: ViewerSink, options: SubscribeOptions, hub: ClusterHub) {
    this.cameraId = cameraId;
    this.sink = sink;
    this.options = options;
    this.hub = hub;
  }

  get attached(): boolean {
    return this.inner !== undefined;
  }

  ack(sequence: number): void {
    this.inner?.ack(sequence);
  }

  quality(quality: ViewerQuality): void {
    // Asked for before the remote GOP came: applied when the viewer is attached.
    this.wanted = quality;
    this.inner?.quality(quality);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inner?.close();
    this.inner = undefined;
    this.hub.viewerLeft(this);
  }
}

export class ClusterHub implements StreamHub {
  private readonly inner: InProcessHub;
  private readonly link: NatsLink;
  private readonly ownership: OwnershipStore;
  private readonly nodeId: string;
  private readonly log: Logger;
  private readonly owned = new Map<string, OwnedCamera>();
  private readonly feeds = new Map<string, RemoteFeed>();
  private readonly viewers = new Map<string, Set<LocalViewer>>();
  /** the newest owner epoch heard of per camera, from other nodes */
  private readonly epochs = new Map<string, number>();
  private readonly remoteStatus = new Map<string, { message: StatusMessage; at: number }>();
  private readonly subscriptions: LinkSubscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly viewerListeners: Array<() => void> = [];
  readonly tallies: ClusterTallies;

  constructor(options: ClusterHubOptions) {
    this.inner = options.inner;
    this.link = options.link;
    this.ownership = options.ownership;
    this.nodeId = options.nodeId;
    this.tallies = options.tallies ?? new ClusterTallies();
    this.log = options.log.child({ part: 'cluster-hub', node: options.nodeId });
    this.subscriptions.push(
      this.link.subscribe(subjects.allStatus, (msg) => this.onStatus(msg)),
      this.link.subscribe(subjects.allOwners, (msg) => this.onOwner(msg)),
    );
    this.link.onDown(() => {
      for (const owned of this.owned.values()) owned.linkDown();
      for (const feed of this.feeds.values()) feed.linkDown();
    });
    this.link.onUp(() => {
      for (const owned of this.owned.values()) owned.linkUp();
      for (const feed of this.feeds.values()) feed.linkUp();
    });
    const tick = setInterval(() => {
      const now = Date.now();
      for (const owned of this.owned.values()) owned.expire(now);
      for (const feed of this.feeds.values()) feed.tick(now);
    }, TICK_MS);
    const status = setInterval(() => {
      for (const owned of this.owned.values()) owned.broadcastStatus();
    }, STATUS_EVERY_MS);
    tick.unref();
    status.unref();
    this.timers.push(tick, status);
  }

  /** Called when this node's viewers join or leave (per-grant counts for the other nodes). */
  onViewersChanged(listener: () => void): void {
    this.viewerListeners.push(listener);
  }

  openPublisher(cameraId: string, options: PublisherOptions): Publisher {
    // The stream is opened before the OwnedCamera that forwards its frames exists.
    const forwarder: { to?: OwnedCamera } = {};
    const inner = this.inner.openPublisher(cameraId, {
      name: options.name,
      onViewerCount: () => options.onViewerCount(this.demand(cameraId)),
      forward: (frame) => forwarder.to?.forward(frame) ?? false,
    });
    const owned = new OwnedCamera(cameraId, inner, options, {
      inner: this.inner,
      link: this.link,
      ownership: this.ownership,
      nodeId: this.nodeId,
      log: this.log,
      tallies: this.tallies,
      knownEpoch: (id) => this.epochs.get(id) ?? 0,
      demand: (id) => this.demand(id),
      replaced: (gone) => {
        if (this.owned.get(cameraId) !== gone) return;
        this.owned.delete(cameraId);
        if ((this.viewers.get(cameraId)?.size ?? 0) > 0) this.startFeed(cameraId, options.name);
      },
    });
    forwarder.to = owned;
    // A newer agent connection on this node: the older one is closed by the agent connection itself.
    const previous = this.owned.get(cameraId);
    if (previous) {
      owned.inheritDemand(previous);
      previous.end(false);
    }
    this.owned.set(cameraId, owned);
    // The camera was fed from another node until now: the local agent feeds its viewers from here on.
    const feed = this.feeds.get(cameraId);
    if (feed) {
      this.feeds.delete(cameraId);
      feed.stop();
      for (const viewer of this.viewers.get(cameraId) ?? []) this.attach(viewer);
    }
    return {
      hello: (info) => owned.hello(info),
      publish: (frame, sps) => owned.publish(frame, sps),
      cameraState: (state) => owned.cameraState(state),
      close: () => {
        inner.close();
        owned.end(true);
        if (this.owned.get(cameraId) !== owned) return;
        this.owned.delete(cameraId);
        // Viewers stay: the camera may come back here or on another node, which then feeds them.
        if ((this.viewers.get(cameraId)?.size ?? 0) > 0) this.startFeed(cameraId, options.name);
      },
    };
  }

  subscribe(cameraId: string, sink: ViewerSink, options: SubscribeOptions): Subscription {
    const viewer = new LocalViewer(cameraId, sink, options, this);
    let set = this.viewers.get(cameraId);
    if (!set) this.viewers.set(cameraId, (set = new Set()));
    set.add(viewer);
    if (this.owned.has(cameraId)) this.attach(viewer);
    else {
      const feed = this.feeds.get(cameraId) ?? this.startFeed(cameraId, options.name);
      // While the feed's GOP request is out the viewer waits, to join with the GOP as catch-up.
      if (feed.ready && !viewer.attached) this.attach(viewer);
      else feed.viewersChanged();
    }
    this.viewersChanged();
    return viewer;
  }

  /** LocalViewer.close */
  viewerLeft(viewer: LocalViewer): void {
    const set = this.viewers.get(viewer.cameraId);
    if (!set?.delete(viewer)) return;
    const feed = this.feeds.get(viewer.cameraId);
    if (set.size === 0) {
      this.viewers.delete(viewer.cameraId);
      if (feed) {
        this.feeds.delete(viewer.cameraId);
        feed.stop();
      }
    } else feed?.viewersChanged();
    this.viewersChanged();
  }

  currentGop(cameraId: string): Buffer[] {
    return this.inner.currentGop(cameraId);
  }

  viewerCount(cameraId: string): number {
    return this.viewers.get(cameraId)?.size ?? 0;
  }

  demand(cameraId: string): number {
    return this.inner.demand(cameraId) + (this.owned.get(cameraId)?.remoteViewers ?? 0);
  }

  /** The observer (the recorder) sees only what this node's own agent publishes, never a remote feed. */
  observe(cameraId: string, observer: StreamObserver): () => void {
    return this.inner.observe(cameraId, {
      publisherInfo: (info) => {
        if (this.owned.has(cameraId)) observer.publisherInfo(info);
      },
      frame: (frame, sps) => {
        if (this.owned.has(cameraId)) observer.frame(frame, sps);
      },
      publisherEnded: () => observer.publisherEnded(),
    });
  }

  status(cameraId: string): LiveCameraStatus | undefined {
    const owned = this.owned.get(cameraId);
    if (owned) return owned.status();
    const remote = this.remoteStatus.get(cameraId);
    if (remote && Date.now() - remote.at < STATUS_FRESH_MS) return remote.message.status;
    // A live remote feed before the owner's first status reached this node; else offline.
    return this.inner.status(cameraId);
  }

  /** cameras whose agent is here, and cameras fed from elsewhere to viewers here */
  counts(): { owned: number; feeds: number } {
    return { owned: this.owned.size, feeds: this.feeds.size };
  }

  totals(): { camerasOnline: number; viewers: number } {
    let viewers = 0;
    for (const set of this.viewers.values()) viewers += set.size;
    return { camerasOnline: this.owned.size, viewers };
  }

  removeCamera(cameraId: string): void {
    const feed = this.feeds.get(cameraId);
    this.feeds.delete(cameraId);
    feed?.stop();
    this.owned.get(cameraId)?.end(false);
    this.owned.delete(cameraId);
    this.remoteStatus.delete(cameraId);
    this.epochs.delete(cameraId);
    this.inner.removeCamera(cameraId);
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const sub of this.subscriptions) sub.unsubscribe();
    for (const feed of this.feeds.values()) feed.stop();
    this.feeds.clear();
  }

  private startFeed(cameraId: string, name: string): RemoteFeed {
    const viewers: FeedViewers = {
      list: () => [...(this.viewers.get(cameraId) ?? [])],
      attach: (viewer) => this.attach(viewer as LocalViewer),
      detach: (viewer) => this.detach(viewer as LocalViewer),
    };
    const feed = new RemoteFeed(cameraId, name, {
      inner: this.inner,
      link: this.link,
      nodeId: this.nodeId,
      log: this.log,
      tallies: this.tallies,
      viewers,
      knownEpoch: () => this.epochs.get(cameraId) ?? 0,
      ownerOnline: () => {
        const remote = this.remoteStatus.get(cameraId);
        return remote !== undefined && remote.message.status.online && Date.now() - remote.at < STATUS_FRESH_MS;
      },
    });
    this.feeds.set(cameraId, feed);
    return feed;
  }

  private attach(viewer: LocalViewer): void {
    if (viewer.closed || viewer.inner) return;
    viewer.inner = this.inner.subscribe(viewer.cameraId, viewer.sink, { ...viewer.options, quality: viewer.wanted ?? viewer.options.quality });
  }

  private detach(viewer: LocalViewer): void {
    viewer.inner?.close();
    viewer.inner = undefined;
  }

  private viewersChanged(): void {
    for (const listener of this.viewerListeners) listener();
  }

  /** Remembers a newer epoch; a camera this node publishes under an older one is given up. */
  private noteEpoch(cameraId: string, node: string, epoch: number): boolean {
    if (epoch < (this.epochs.get(cameraId) ?? 0)) return false;
    this.epochs.set(cameraId, epoch);
    const owned = this.owned.get(cameraId);
    if (owned?.epoch !== undefined && epoch > owned.epoch) owned.replaced(node, epoch);
    return true;
  }

  private onOwner(msg: Msg): void {
    const cameraId = cameraOfSubject(msg.subject);
    const owner = decodeJson(ownerMessageSchema, msg.data);
    if (!cameraId || !owner || owner.node === this.nodeId) return;
    if (!this.noteEpoch(cameraId, owner.node, owner.epoch)) return;
    this.feeds.get(cameraId)?.ownerOnline(owner.epoch);
  }

  private onStatus(msg: Msg): void {
    const cameraId = cameraOfSubject(msg.subject);
    const message = decodeJson(statusMessageSchema, msg.data);
    if (!cameraId || !message || message.node === this.nodeId) return;
    if (!this.noteEpoch(cameraId, message.node, message.epoch)) return;
    this.remoteStatus.set(cameraId, { message, at: Date.now() });
    const feed = this.feeds.get(cameraId);
    if (!feed) return;
    if (message.status.online) feed.ownerOnline(message.epoch);
    else feed.ownerOffline(message.epoch);
  }
}
