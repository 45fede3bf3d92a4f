import type pg from 'pg';

/**
 * Which node owns which camera, with an epoch that only grows (table `camera_owners`). The node an
 * agent says hello to claims the camera; a node that learns of a newer epoch for a camera it
 * publishes stops (never two publishers). The row stays when the agent leaves: an epoch that went
 * back to 1 would look older than the one every node remembers.
 */
export interface OwnershipStore {
  /** Takes the camera for `nodeId`; the new epoch (greater than any before it). */
  claim(cameraId: string, nodeId: string): Promise<number>;
  /** The current owner, if the camera was ever claimed. */
  owner(cameraId: string): Promise<{ nodeId: string; epoch: number } | undefined>;
}

export class PgOwnershipStore implements OwnershipStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async claim(cameraId: string, nodeId: string): Promise<number> {
    const result = await this.pool.query<{ epoch: string }>(
      `insert into camera_owners (camera_id, node_id, epoch, claimed_at) values ($1, $2, 1, $3)
       on conflict (camera_id) do update
         set node_id = excluded.node_id, epoch = camera_owners.epoch + 1, claimed_at = excluded.claimed_at
       returning epoch`,
      [cameraId, nodeId, Date.now()],
    );
    return Number(result.rows[0]!.epoch);
  }

  async owner(cameraId: string): Promise<{ nodeId: string; epoch: number } | undefined> {
    const result = await this.pool.query<{ node_id: string; epoch: string }>('select node_id, epoch from camera_owners where camera_id = $1', [cameraId]);
    const row = result.rows[0];
    return row ? { nodeId: row.node_id, epoch: Number(row.epoch) } : undefined;
  }
}
