import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import type { LiveCameras, RecordingControl, SharedLoginLimits } from '../services.ts';
import type { InProcessHub } from '../streams/in-process-hub.ts';
import type { ConnectionRegistry } from '../ws/connection-registry.ts';
import { ClusterHub } from './cluster-hub.ts';
import { ClusterLiveCameras } from './cluster-live-cameras.ts';
import { registerClusterMetrics, ClusterTallies } from './cluster-metrics.ts';
import { NatsLink, redactNatsUrls } from './nats-link.ts';
import { PgOwnershipStore, type OwnershipStore } from './ownership.ts';
import { NatsLoginLimits } from './shared-login-limits.ts';

/**
 * A relay node joining its cluster (NATS_URL set): the NATS link, a ClusterHub around the node's
 * InProcessHub, and, once the connection registry exists, the LiveCameras that reaches every node.
 */

export interface ClusterNodeOptions {
  natsUrl: string[];
  nodeId: string;
  /** the registry's Postgres pool (camera ownership lives there) */
  pool?: pg.Pool;
  /** instead of the pool (tests) */
  ownership?: OwnershipStore;
  inner: InProcessHub;
  log: Logger;
  /** the relay's metrics registry: what crosses NATS, whether it is connected (cluster-metrics.ts) */
  registry?: Registry;
}

export interface ClusterNode {
  hub: ClusterHub;
  /** the accounts side's LiveCameras: applied to this node's sockets and broadcast to the others */
  liveCameras(registry: ConnectionRegistry, recording: RecordingControl): LiveCameras & { recordingControl(): RecordingControl };
  /** the login limits' counts, shared with the other nodes */
  loginLimits: SharedLoginLimits;
  close(): Promise<void>;
}

export async function startClusterNode(options: ClusterNodeOptions): Promise<ClusterNode> {
  const ownership = options.ownership ?? (options.pool ? new PgOwnershipStore(options.pool) : undefined);
  if (!ownership) throw new Error('cluster mode needs the Postgres registry (DATABASE_URL) for camera ownership');
  const link = new NatsLink({ servers: options.natsUrl, nodeId: options.nodeId, log: options.log });
  const tallies = new ClusterTallies();
  const hub = new ClusterHub({ inner: options.inner, link, ownership, nodeId: options.nodeId, log: options.log, tallies });
  if (options.registry) {
    registerClusterMetrics(options.registry, tallies, {
      natsConnected: () => link.connected,
      ownedCameras: () => hub.counts().owned,
      remoteFeeds: () => hub.counts().feeds,
    });
  }
  let live: ClusterLiveCameras | undefined;
  const loginLimits = new NatsLoginLimits(link, options.nodeId);
  await link.start();
  options.log.info({ node: options.nodeId, nats: redactNatsUrls(options.natsUrl), connected: link.connected }, 'cluster node started');
  return {
    hub,
    loginLimits,
    liveCameras(registry, recording) {
      live ??= new ClusterLiveCameras({ registry, recording, link, nodeId: options.nodeId, log: options.log });
      const cameras = live;
      hub.onViewersChanged(() => cameras.viewersChanged());
      return cameras;
    },
    async close() {
      live?.close();
      loginLimits.close();
      hub.close();
      await link.close();
    },
  };
}
