import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startStreamingCamera } from './helpers/camera-setup.ts';
import { clusterOrSkip } from './helpers/cluster.ts';
import { waitForSpans } from './helpers/recordings.ts';

/**
 * Recording in a cluster: the node the camera's agent is connected to records it, whichever node
 * an admin used to turn recording on; deleting the camera on another node deletes its recording on
 * the node that holds it.
 */

test("recording turned on at another node is done by the camera's node; a delete anywhere removes it there", async (t) => {
  const cluster = await clusterOrSkip(t);
  if (!cluster) return;
  const a = await cluster.start('node-a');
  const b = await cluster.start('node-b');
  const camera = await startStreamingCamera(t, a, a.adminToken, { name: 'porch', audio: false });

  const on = await b.api('PATCH', `/api/cameras/${camera.id}`, { record: 'continuous' }, b.adminToken);
  assert.equal(on.status, 200, JSON.stringify(on.json));
  await waitForSpans(a, camera.id, (s) => s.length > 0 && s[0]!.end - s[0]!.start >= 2000, 30_000, "2 s recorded on the camera's node");
  const files = join(a.dataDir, 'recordings', camera.id);
  assert.ok(existsSync(files), `the recording's files are on node A (${files})`);

  const deleted = await b.api('DELETE', `/api/cameras/${camera.id}`, undefined, b.adminToken);
  assert.equal(deleted.status, 204, JSON.stringify(deleted.json));
  const deadline = Date.now() + 10_000;
  while (existsSync(files)) {
    if (Date.now() > deadline) assert.fail("the deleted camera's recording is still on node A after 10 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
