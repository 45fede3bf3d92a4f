import type { CameraSettings } from '@picam/protocol';
import type { Logger } from '../logger.ts';
import type { LiveCameras, LiveCameraStatus, RecordingControl } from '../services.ts';
import type { ConnectionRegistry } from '../ws/connection-registry.ts';
import { controlMessageSchema, decodeJson, encodeJson, nodeViewersSchema, subjects, type ControlMessage } from './messages.ts';
import type { LinkSubscription, NatsLink } from './nats-link.ts';

/**
 * LiveCameras for a node of a cluster: what the accounts side says (a revocation, a deletion, new
 * settings) is applied to this node's sockets and broadcast on `picam.ctl`, where every other node
 * applies it to its own, so a share revoked on one node cuts its viewers on all of them. Each node
 * publishes its viewers per grant every second and on change; a share's maxViewers counts them all.
 */

export interface ClusterLiveCamerasOptions {
  registry: ConnectionRegistry;
  /** this node's recorder: the camera's owner records, whichever node the setting was changed on */
  recording: RecordingControl;
  link: NatsLink;
  nodeId: string;
  log: Logger;
}

const COUNTS_EVERY_MS = 1_000;
/** A node not heard of for this long is gone (killed): its viewers no longer count. */
const COUNTS_FRESH_MS = 3_000;

export class ClusterLiveCameras implements LiveCameras {
  private readonly registry: ConnectionRegistry;
  private readonly recording: RecordingControl;
  private readonly link: NatsLink;
  private readonly nodeId: string;
  private readonly log: Logger;
  private readonly others = new Map<string, { grants: Record<string, number>; at: number }>();
  private readonly subscriptions: LinkSubscription[];
  private readonly timer: NodeJS.Timeout;
  private countsQueued = false;

  constructor(options: ClusterLiveCamerasOptions) {
    this.registry = options.registry;
    this.recording = options.recording;
    this.link = options.link;
    this.nodeId = options.nodeId;
    this.log = options.log.child({ part: 'cluster-control', node: options.nodeId });
    this.subscriptions = [
      this.link.subscribe(subjects.control, (msg) => {
        const message = decodeJson(controlMessageSchema, msg.data);
        if (message && message.node !== this.nodeId) this.apply(message);
      }),
      this.link.subscribe(subjects.allNodeViewers, (msg) => {
        const counts = decodeJson(nodeViewersSchema, msg.data);
        if (counts && counts.node !== this.nodeId) this.others.set(counts.node, { grants: counts.grants, at: Date.now() });
      }),
    ];
    this.timer = setInterval(() => this.publishCounts(), COUNTS_EVERY_MS);
    this.timer.unref();
  }

  /** This node's viewers changed: the others hear of it now, not at the next second. */
  viewersChanged(): void {
    if (this.countsQueued) return;
    this.countsQueued = true;
    // After the connection registry has recorded the viewer (it does so right after subscribing).
    setImmediate(() => {
      this.countsQueued = false;
      this.publishCounts();
    });
  }

  status(cameraId: string): LiveCameraStatus | undefined {
    return this.registry.status(cameraId);
  }

  viewersOfGrant(grantId: string): number {
    let count = this.registry.viewersOfGrant(grantId);
    const now = Date.now();
    for (const [node, other] of this.others) {
      if (now - other.at > COUNTS_FRESH_MS) this.others.delete(node);
      else count += other.grants[grantId] ?? 0;
    }
    return count;
  }

  pushSettings(cameraId: string, settings: CameraSettings): void {
    this.registry.pushSettings(cameraId, settings);
    this.broadcast({ type: 'pushSettings', node: this.nodeId, cameraId, settings });
  }

  cameraDeleted(cameraId: string): void {
    this.registry.cameraDeleted(cameraId);
    this.broadcast({ type: 'cameraDeleted', node: this.nodeId, cameraId });
  }

  credentialRevoked(cameraId: string): void {
    this.registry.credentialRevoked(cameraId);
    this.broadcast({ type: 'credentialRevoked', node: this.nodeId, cameraId });
  }

  grantRevoked(grantId: string): void {
    this.registry.grantRevoked(grantId);
    this.broadcast({ type: 'grantRevoked', node: this.nodeId, grantId });
  }

  recheckUser(userId: string): void {
    this.registry.recheckUser(userId);
    this.broadcast({ type: 'recheckUser', node: this.nodeId, userId });
  }

  /** The recording side of the same broadcast: what the accounts side tells the recorder reaches every node's. */
  recordingControl(): RecordingControl {
    return {
      setMode: (cameraId, mode) => {
        this.recording.setMode(cameraId, mode);
        this.broadcast({ type: 'recordMode', node: this.nodeId, cameraId, mode });
      },
      // The deletion itself is broadcast by cameraDeleted (LiveCameras); each node forgets its own recordings then.
      cameraDeleted: (cameraId) => this.recording.cameraDeleted(cameraId),
    };
  }

  close(): void {
    clearInterval(this.timer);
    for (const sub of this.subscriptions) sub.unsubscribe();
  }

  private broadcast(message: ControlMessage): void {
    // Down: the other nodes' periodic sweep (every minute) still catches revocations from the database.
    if (!this.link.publish(subjects.control, encodeJson(message))) this.log.warn({ type: message.type }, 'control message not sent: NATS down');
  }

  private apply(message: ControlMessage): void {
    this.log.debug({ type: message.type, from: message.node }, 'control message');
    switch (message.type) {
      case 'grantRevoked':
        return this.registry.grantRevoked(message.grantId);
      case 'credentialRevoked':
        return this.registry.credentialRevoked(message.cameraId);
      case 'cameraDeleted':
        this.recording.cameraDeleted(message.cameraId);
        return this.registry.cameraDeleted(message.cameraId);
      case 'recordMode':
        return this.recording.setMode(message.cameraId, message.mode);
      case 'recheckUser':
        return this.registry.recheckUser(message.userId);
      case 'pushSettings':
        return this.registry.pushSettings(message.cameraId, message.settings);
    }
  }

  private publishCounts(): void {
    const grants: Record<string, number> = {};
    for (const viewer of this.registry.viewers()) grants[viewer.grant.id] = (grants[viewer.grant.id] ?? 0) + 1;
    this.link.publish(subjects.nodeViewers(this.nodeId), encodeJson({ node: this.nodeId, grants }));
  }
}
