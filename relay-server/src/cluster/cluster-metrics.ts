import { Gauge, type Registry } from 'prom-client';
import { scrapedCounter } from '../metrics.ts';

/**
 * What crosses NATS from and to this node, as plain tallies bumped per frame (no prom-client call on
 * the frame path) and copied into the registry when scraped.
 */
export class ClusterTallies {
  mediaOut = 0;
  mediaOutBytes = 0;
  mediaIn = 0;
  mediaInBytes = 0;
  gopReplies = 0;
  /** cameras given up for a newer epoch on another node */
  replaced = 0;
}

export interface ClusterGauges {
  natsConnected(): boolean;
  ownedCameras(): number;
  remoteFeeds(): number;
}

export function registerClusterMetrics(registry: Registry, tallies: ClusterTallies, gauges: ClusterGauges): void {
  const registers = [registry];
  const copied = (name: string, help: string, read: () => Array<[Record<string, string>, number]>, labelNames: string[] = []) =>
    scrapedCounter(registry, { name, help, labelNames }, read);
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  copied(
    'picam_cluster_media_messages_total',
    'frames sent to (out: this node owns the camera) and received from (in) other nodes over NATS, one message per frame',
    () => [
      [{ direction: 'out' }, tallies.mediaOut],
      [{ direction: 'in' }, tallies.mediaIn],
    ],
    ['direction'],
  );
  copied(
    'picam_cluster_media_bytes_total',
    'bytes of those frames (header included)',
    () => [
      [{ direction: 'out' }, tallies.mediaOutBytes],
      [{ direction: 'in' }, tallies.mediaInBytes],
    ],
    ['direction'],
  );
  copied('picam_cluster_gop_replies_total', "GOPs sent to other nodes' first viewers", () => [[{}, tallies.gopReplies]]);
  copied('picam_cluster_cameras_replaced_total', 'cameras this node gave up because another node claimed them with a newer epoch', () => [[{}, tallies.replaced]]);
  gauge('picam_cluster_nats_connected', '1 while this node is connected to NATS', () => (gauges.natsConnected() ? 1 : 0));
  gauge('picam_cluster_owned_cameras', "cameras whose agent is connected to this node", gauges.ownedCameras);
  gauge('picam_cluster_remote_feeds', 'cameras owned by another node that this node feeds to its own viewers', gauges.remoteFeeds);
}
