import type { Msg, MsgHdrs } from '@nats-io/transport-node';
import type { SpsVideoFormat } from '@picam/protocol';
import type { Logger } from '../logger.ts';
import type { LiveCameraStatus } from '../services.ts';
import type { HubFrame } from '../streams/frame.ts';
import type { Publisher, PublisherOptions } from '../streams/hub.ts';
import type { InProcessHub } from '../streams/in-process-hub.ts';
import type { PublisherInfo } from '../streams/stream.ts';
import type { ClusterTallies } from './cluster-metrics.ts';
import { encodeGop } from './gop-codec.ts';
import { EPOCH_HEADER, decodeJson, demandMessageSchema, encodeJson, subjects, type StatusMessage } from './messages.ts';
import { singleHeader, type LinkSubscription, type NatsLink } from './nats-link.ts';
import type { OwnershipStore } from './ownership.ts';

/**
 * A camera whose agent is connected to this node, seen from the cluster: at the agent's hello it
 * claims the camera (epoch in Postgres) and announces it; it answers other nodes' GOP requests,
 * counts their demand (heartbeats younger than 3 s, added to what the agent is told), publishes each
 * frame once on the camera's media subject while any other node wants it, and broadcasts its status.
 * Told of a newer epoch elsewhere, it stops and has the agent connection closed (4009).
 */

export interface OwnedCameraDeps {
  inner: InProcessHub;
  link: NatsLink;
  ownership: OwnershipStore;
  nodeId: string;
  log: Logger;
  tallies: ClusterTallies;
  /** the newest epoch this node has heard of for the camera from another node */
  knownEpoch(cameraId: string): number;
  /** what the agent is told: the local demand plus other nodes' viewers */
  demand(cameraId: string): number;
  /** given up for a newer epoch elsewhere (its stream here already offline) */
  replaced(owned: OwnedCamera): void;
}

/** Another node's demand counts this long after its last heartbeat (it sends one a second). */
const DEMAND_TTL_MS = 3_000;
/** A failed claim (Postgres unreachable) is tried again this often; local viewers are served meanwhile. */
const CLAIM_RETRY_MS = 2_000;

export class OwnedCamera {
  readonly cameraId: string;
  private readonly inner: Publisher;
  private readonly options: PublisherOptions;
  private readonly deps: OwnedCameraDeps;
  private readonly log: Logger;
  private epochValue: number | undefined;
  private headers: MsgHdrs | undefined;
  private info: PublisherInfo | null = null;
  private claiming = false;
  private ended = false;
  private readonly remote = new Map<string, { viewers: number; at: number }>();
  private remoteTotal = 0;
  private subscriptions: LinkSubscription[] = [];
  private statusQueued = false;

  constructor(cameraId: string, inner: Publisher, options: PublisherOptions, deps: OwnedCameraDeps) {
    this.cameraId = cameraId;
    this.inner = inner;
    this.options = options;
    this.deps = deps;
    this.log = deps.log.child({ cameraId, part: 'owner' });
  }

  get epoch(): number | undefined {
    return this.epochValue;
  }

  /** other nodes' viewers, by their latest heartbeats */
  get remoteViewers(): number {
    return this.remoteTotal;
  }

  hello(info: PublisherInfo): void {
    this.inner.hello(info);
    this.info = info;
    if (!this.claiming) {
      this.claiming = true;
      void this.claim();
    } else this.statusChanged();
  }

  publish(frame: HubFrame, sps?: SpsVideoFormat): void {
    this.inner.publish(frame, sps);
  }

  /**
   * From the stream (PublisherOptions.forward), the frame numbered and not yet served here: one
   * message on the camera's media subject while any other node wants it (they deduplicate by the
   * sequence). True when it was published: the local viewers then wait for the client's flush.
   */
  forward(frame: HubFrame): boolean {
    if (this.remote.size === 0 || !this.headers || this.ended) return false;
    if (!this.deps.link.publish(subjects.media(this.cameraId), frame.message, this.headers)) return false;
    this.deps.tallies.mediaOut++;
    this.deps.tallies.mediaOutBytes += frame.message.byteLength;
    return true;
  }

  cameraState(state: Parameters<Publisher['cameraState']>[0]): void {
    const before = this.deps.inner.status(this.cameraId)?.camera;
    this.inner.cameraState(state);
    if (before !== state) this.statusChanged();
  }

  /** The agent left or was replaced on this node: no more claims, demand, GOP answers; others are told it is offline. */
  end(announceOffline: boolean): void {
    if (this.ended) return;
    this.ended = true;
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions = [];
    this.remote.clear();
    this.remoteTotal = 0;
    if (announceOffline && this.epochValue !== undefined) this.broadcastStatus();
  }

  /** A newer epoch elsewhere: stop publishing at once, and the agent connection closes (4009). */
  replaced(byNode: string, epoch: number): void {
    if (this.ended) return;
    this.log.warn({ epoch: this.epochValue, newer: epoch, node: byNode }, 'camera taken over by another node: closing this agent connection');
    this.deps.tallies.replaced++;
    this.end(false);
    // At once, not when the agent's socket has finished closing (a half-open one takes ws's 30 s).
    this.inner.close();
    this.deps.replaced(this);
    this.options.onReplaced?.();
  }

  /**
   * A newer agent connection on this node takes over from `previous`: the other nodes' viewers are
   * still there, and would otherwise wait for their next heartbeat to be published to again.
   */
  inheritDemand(previous: OwnedCamera): void {
    for (const [node, entry] of previous.remote) this.remote.set(node, entry);
    this.remoteChanged();
  }

  /** Every second: drop heartbeats that stopped. */
  expire(now: number): void {
    let changed = false;
    for (const [node, entry] of this.remote) {
      if (now - entry.at > DEMAND_TTL_MS) {
        this.remote.delete(node);
        changed = true;
      }
    }
    if (changed) this.remoteChanged();
  }

  /** Every 2 s and on change: the status every node shows for the camera. */
  broadcastStatus(): void {
    if (this.epochValue === undefined) return;
    const status = this.status();
    if (!status) return;
    const message: StatusMessage = { node: this.deps.nodeId, epoch: this.epochValue, status, info: this.ended ? null : this.info };
    this.deps.link.publish(subjects.status(this.cameraId), encodeJson(message));
  }

  /** Local status with every node's viewers. */
  status(): LiveCameraStatus | undefined {
    const status = this.deps.inner.status(this.cameraId);
    return status && { ...status, viewers: status.viewers + this.remoteTotal };
  }

  linkDown(): void {
    if (this.remote.size === 0) return;
    this.remote.clear();
    this.remoteChanged();
  }

  /** Back on NATS: announce again, and step down if another node claimed the camera meanwhile. */
  linkUp(): void {
    if (this.ended || this.epochValue === undefined) return;
    this.announce();
    this.broadcastStatus();
    this.deps.ownership.owner(this.cameraId).then(
      (owner) => {
        if (owner && this.epochValue !== undefined && owner.epoch > this.epochValue) this.replaced(owner.nodeId, owner.epoch);
      },
      (err: Error) => this.log.warn({ err: err.message }, 'ownership check after reconnect failed'),
    );
  }

  private async claim(): Promise<void> {
    while (!this.ended) {
      try {
        const epoch = await this.deps.ownership.claim(this.cameraId, this.deps.nodeId);
        if (this.ended) return;
        this.epochValue = epoch;
        this.headers = singleHeader(EPOCH_HEADER, String(epoch));
        const known = this.deps.knownEpoch(this.cameraId);
        if (known > epoch) {
          this.replaced('?', known);
          return;
        }
        this.subscriptions.push(
          this.deps.link.subscribe(subjects.demand(this.cameraId), (msg) => this.onDemand(msg)),
          this.deps.link.subscribe(subjects.gop(this.cameraId), (msg) => this.onGopRequest(msg)),
        );
        this.announce();
        this.broadcastStatus();
        this.log.info({ epoch }, 'camera claimed');
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'claiming the camera failed; serving this node only, trying again');
        await new Promise((resolve) => setTimeout(resolve, CLAIM_RETRY_MS).unref());
      }
    }
  }

  private announce(): void {
    if (this.epochValue === undefined) return;
    this.deps.link.publish(subjects.owner(this.cameraId), encodeJson({ node: this.deps.nodeId, epoch: this.epochValue }));
  }

  private onDemand(msg: Msg): void {
    const demand = decodeJson(demandMessageSchema, msg.data);
    if (!demand || demand.node === this.deps.nodeId || this.ended) return;
    const had = this.remote.get(demand.node)?.viewers;
    if (demand.viewers > 0) this.remote.set(demand.node, { viewers: demand.viewers, at: Date.now() });
    else this.remote.delete(demand.node);
    if (had !== (demand.viewers > 0 ? demand.viewers : undefined)) this.remoteChanged();
  }

  /** A node's first viewer: the current GOP (and audio tail), flagged catch-up, in one reply. */
  private onGopRequest(msg: Msg): void {
    if (this.ended || this.epochValue === undefined) return;
    // The request counts as demand: frames published from now on reach the asker without waiting for its heartbeat.
    this.onDemand(msg);
    const meta = { node: this.deps.nodeId, epoch: this.epochValue, info: this.info, camera: this.deps.inner.status(this.cameraId)?.camera ?? null };
    let reply = encodeGop(meta, this.deps.inner.currentGop(this.cameraId));
    if (reply.byteLength > this.deps.link.maxPayload) {
      this.log.warn({ bytes: reply.byteLength, max: this.deps.link.maxPayload }, 'GOP over the NATS payload limit: the other node waits for the next keyframe');
      reply = encodeGop(meta, []);
    }
    if (msg.respond(reply)) this.deps.tallies.gopReplies++;
  }

  private remoteChanged(): void {
    let total = 0;
    for (const entry of this.remote.values()) total += entry.viewers;
    this.remoteTotal = total;
    if (!this.ended) this.options.onViewerCount(this.deps.demand(this.cameraId));
    this.statusChanged();
  }

  private statusChanged(): void {
    if (this.statusQueued) return;
    this.statusQueued = true;
    setImmediate(() => {
      this.statusQueued = false;
      if (!this.ended) this.broadcastStatus();
    });
  }
}
