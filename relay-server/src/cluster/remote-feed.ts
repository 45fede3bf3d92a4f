import {
  FRAME_HEADER_BYTES,
  FrameFlag,
  OfflineReason,
  Track,
  describeAccessUnit,
  parseSps,
  readFrameHeader,
  sequenceDistance,
  videoFormatOfSps,
  type SpsVideoFormat,
} from '@picam/protocol';
import type { Msg } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import type { InProcessHub } from '../streams/in-process-hub.ts';
import type { Publisher } from '../streams/hub.ts';
import type { ClusterTallies } from './cluster-metrics.ts';
import { decodeGop } from './gop-codec.ts';
import { EPOCH_HEADER, encodeJson, subjects } from './messages.ts';
import type { LinkSubscription, NatsLink } from './nats-link.ts';

/**
 * A camera owned by another node, as this node's viewers get it: while this node has viewers of it,
 * the feed subscribes to the camera's media, sends demand every second, asks the owner for the GOP,
 * and feeds a publisher on this node's InProcessHub with it: the GOP first, then the live frames
 * that came meanwhile and after, each once (by the owner's sequence numbers per track), so the
 * stream's own GOP cache, catch-up and per-viewer pacing serve the viewers here. The viewers are
 * (re)attached to the stream only once the GOP is in it: they join the usual way, with init and the
 * GOP flagged catch-up. One NATS message per frame reaches this node, however many viewers it has.
 */

export interface FeedViewers {
  /** this node's viewers of the camera */
  list(): readonly FeedViewer[];
  attach(viewer: FeedViewer): void;
  detach(viewer: FeedViewer): void;
}

interface FeedViewer {
  readonly attached: boolean;
}

export interface RemoteFeedDeps {
  inner: InProcessHub;
  link: NatsLink;
  nodeId: string;
  log: Logger;
  tallies: ClusterTallies;
  viewers: FeedViewers;
  /** the newest owner epoch this node has heard of for the camera (owner and status messages) */
  knownEpoch(): number;
  /** the owner's status was heard lately and says online */
  ownerOnline(): boolean;
}

/** A GOP reply later than this: the camera is taken as having no owner (the viewers see offline). */
const GOP_TIMEOUT_MS = 1_000;
/** No frame and no fresh owner status for this long: the owner is gone. */
const STALL_MS = 5_000;
/** Live frames kept while the GOP request is out (a few seconds of video and sound). */
const MAX_BUFFERED = 600;

type FeedState = 'requesting' | 'live' | 'waiting' | 'down' | 'stopped';

export class RemoteFeed {
  readonly cameraId: string;
  private readonly name: string;
  private readonly deps: RemoteFeedDeps;
  private readonly log: Logger;
  private state: FeedState = 'waiting';
  private publisher: Publisher | undefined;
  /** the epoch of the owner whose frames feed the stream */
  private epoch = -1;
  private readonly lastSequence = [-1, -1];
  /** a video frame was missed: nothing but a keyframe goes on */
  private videoBroken = false;
  private buffered: Array<{ epoch: number; message: Buffer }> = [];
  private requestId = 0;
  private lastMediaAt = 0;
  private readonly media: LinkSubscription;
  private demandQueued = false;

  constructor(cameraId: string, name: string, deps: RemoteFeedDeps) {
    this.cameraId = cameraId;
    this.name = name;
    this.deps = deps;
    this.log = deps.log.child({ cameraId, part: 'remote-feed' });
    // Subscribed before the GOP is asked for: a frame published after the owner's reply is never missed.
    this.media = deps.link.subscribe(subjects.media(cameraId), (msg) => this.onMedia(msg));
    this.sendDemand();
    this.requestGop();
  }

  /** Viewers may be attached at once (false only while the GOP request is out). */
  get ready(): boolean {
    return this.state !== 'requesting';
  }

  /** Every second: demand, and whether the owner has gone or come. */
  tick(now: number): void {
    if (this.state === 'stopped') return;
    this.sendDemand();
    if (this.state === 'live' && now - this.lastMediaAt > STALL_MS && !this.deps.ownerOnline()) {
      this.log.info('owner gone: no frames and no status');
      this.noOwner();
    } else if (this.state === 'waiting' && this.deps.ownerOnline()) this.requestGop();
    else if (this.state === 'down' && this.deps.link.connected) this.requestGop();
  }

  /** Coalesced: many viewers joining at once are one demand message. */
  viewersChanged(): void {
    if (this.demandQueued) return;
    this.demandQueued = true;
    setImmediate(() => {
      this.demandQueued = false;
      if (this.state !== 'stopped') this.sendDemand();
    });
  }

  /** An owner announced itself (or its status says online) with this epoch. */
  ownerOnline(epoch: number): void {
    if (this.state === 'waiting' || (this.state === 'live' && epoch > this.epoch)) this.requestGop();
  }

  /** The owner's agent left (status offline). */
  ownerOffline(epoch: number): void {
    if (epoch >= this.epoch && (this.state === 'live' || this.state === 'requesting')) this.noOwner();
  }

  linkDown(): void {
    if (this.state === 'stopped') return;
    this.requestId++;
    this.state = 'down';
    this.buffered = [];
    // The camera itself may be fine: the viewers are told the picture is coming back, not that it is offline.
    this.closePublisher(OfflineReason.Reconnecting);
    this.attachAll();
  }

  linkUp(): void {
    if (this.state === 'stopped') return;
    this.sendDemand();
    this.requestGop();
  }

  /** The last viewer left or a local agent took the camera: the stream is left to whoever publishes next. */
  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.requestId++;
    this.media.unsubscribe();
    this.buffered = [];
    this.closePublisher();
    // The owner drops this node from its demand at once rather than 3 s later.
    this.deps.link.publish(subjects.demand(this.cameraId), encodeJson({ node: this.deps.nodeId, viewers: 0 }));
  }

  private sendDemand(): void {
    this.deps.link.publish(subjects.demand(this.cameraId), encodeJson({ node: this.deps.nodeId, viewers: this.deps.viewers.list().length }));
  }

  private requestGop(): void {
    if (this.state === 'stopped') return;
    if (!this.deps.link.connected) {
      this.state = 'down';
      this.attachAll();
      return;
    }
    const id = ++this.requestId;
    this.state = 'requesting';
    this.buffered = [];
    const body = encodeJson({ node: this.deps.nodeId, viewers: this.deps.viewers.list().length });
    this.deps.link.request(subjects.gop(this.cameraId), body, GOP_TIMEOUT_MS).then(
      (msg) => {
        if (id === this.requestId) this.onGop(msg.data);
      },
      (err: Error) => {
        if (id !== this.requestId) return;
        this.log.debug({ err: err.message }, 'no GOP from an owner');
        this.noOwner();
      },
    );
  }

  private onGop(data: Uint8Array): void {
    const gop = decodeGop(data);
    if (!gop || gop.meta.epoch < this.deps.knownEpoch()) {
      // Malformed, or a replaced owner answered first: ask again at the next tick.
      this.noOwner();
      return;
    }
    const viewers = this.deps.viewers.list();
    // A new publisher on the local stream: its viewers are told online and wait for a keyframe...
    this.publisher = this.deps.inner.openPublisher(this.cameraId, { name: this.name, onViewerCount: () => {} });
    // ...but they are taken off it until the GOP is in, then join again with it as catch-up.
    for (const viewer of viewers) this.deps.viewers.detach(viewer);
    this.epoch = gop.meta.epoch;
    this.lastSequence[0] = -1;
    this.lastSequence[1] = -1;
    this.videoBroken = false;
    if (gop.meta.info) this.publisher.hello({ agentVersion: gop.meta.info.agentVersion, framerate: gop.meta.info.framerate, audio: gop.meta.info.audio });
    if (gop.meta.camera) this.publisher.cameraState(gop.meta.camera);
    for (const frame of gop.frames) this.feed(frame);
    for (const { epoch, message } of this.buffered) if (epoch === this.epoch) this.feed(message);
    this.buffered = [];
    this.state = 'live';
    this.lastMediaAt = Date.now();
    this.attachAll();
    this.log.debug({ epoch: this.epoch, frames: gop.frames.length }, 'feeding from the owner');
  }

  private onMedia(msg: Msg): void {
    if (this.state === 'stopped' || this.state === 'down') return;
    const epoch = Number(msg.headers?.get(EPOCH_HEADER) ?? -1);
    if (epoch < this.epoch) return; // a replaced owner's last frames
    // Our own copy: the local stream stamps its sequence into it and its GOP cache keeps it.
    const message = Buffer.from(msg.data);
    this.deps.tallies.mediaIn++;
    this.deps.tallies.mediaInBytes += message.byteLength;
    this.lastMediaAt = Date.now();
    if (this.state === 'live') {
      if (epoch === this.epoch) {
        this.feed(message);
        return;
      }
      this.log.info({ from: this.epoch, to: epoch }, 'camera has a new owner');
      this.requestGop();
    } else if (this.state === 'waiting') {
      // The owner publishes (another node wants it too): it is there, ask it for the GOP.
      this.requestGop();
    }
    if (this.buffered.length < MAX_BUFFERED) this.buffered.push({ epoch, message });
  }

  /** One frame to the local stream, once, in order; after a missed video frame only from the next keyframe. */
  private feed(message: Buffer): void {
    if (!this.publisher) return;
    let header;
    try {
      header = readFrameHeader(message);
    } catch {
      return;
    }
    const video = header.track === Track.Video;
    const t = video ? 0 : 1;
    const last = this.lastSequence[t]!;
    if (last >= 0) {
      const distance = sequenceDistance(last, header.sequence);
      if (distance === 0 || distance > 0x8000_0000) return; // had it already (GOP and live overlap)
      if (video && distance > 1) this.videoBroken = true;
    }
    this.lastSequence[t] = header.sequence;
    if (video) {
      if (header.keyframe) this.videoBroken = false;
      else if (this.videoBroken) return;
    }
    if (header.catchUp) message[2] = message[2]! & ~FrameFlag.CatchUp;
    const sps = video && header.keyframe ? spsOf(message) : undefined;
    this.publisher.publish({ message, track: header.track, keyframe: header.keyframe, captureTimeUs: header.captureTimeUs, sequence: 0 }, sps);
  }

  private noOwner(): void {
    if (this.state === 'stopped') return;
    this.requestId++;
    this.state = 'waiting';
    this.buffered = [];
    this.closePublisher();
    this.attachAll();
  }

  private closePublisher(reason?: OfflineReason): void {
    const publisher = this.publisher;
    this.publisher = undefined;
    publisher?.close(reason);
  }

  private attachAll(): void {
    for (const viewer of this.deps.viewers.list()) if (!viewer.attached) this.deps.viewers.attach(viewer);
  }
}

/** The owner validated the keyframe; its SPS gives the local stream its format (init). */
function spsOf(message: Buffer): SpsVideoFormat | undefined {
  try {
    const au = describeAccessUnit(message.subarray(FRAME_HEADER_BYTES));
    return au.sps ? videoFormatOfSps(parseSps(au.sps)) : undefined;
  } catch {
    return undefined;
  }
}
