import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRelayProcess } from './helpers/relay-process.ts';
import { ScriptedAgent } from './helpers/scripted-agent.ts';
import { WsViewer } from './helpers/ws-viewer.ts';

/** The relay process as operators see it: health, metrics, graceful shutdown. */

describe('relay lifecycle', () => {
  it('reports health and metrics, and on SIGTERM closes every socket with 1001 and exits 0', async () => {
    const relay = await startRelayProcess({ NODE_ID: 'lifecycle-node' });
    try {
      const camera = await relay.createCamera();
      const agent = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
      const viewers = await Promise.all([0, 1].map(() => WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken)));
      await agent.play(30, 120);
      await Promise.all(viewers.map((v) => v.untilVideoFrames(30)));

      const health = await fetch(`${relay.url}/healthz`);
      assert.equal(health.status, 200);
      const body = (await health.json()) as { status: string; node: string; uptimeSeconds: number; cameras: number; viewers: number };
      assert.equal(body.status, 'ok');
      // Which relay answered, when several sit behind a balancer.
      assert.equal(body.node, 'lifecycle-node');
      assert.equal(body.cameras, 1);
      assert.equal(body.viewers, 2);
      assert.equal(typeof body.uptimeSeconds, 'number');

      assert.equal(await relay.metric('picam_cameras_online'), 1);
      assert.equal(await relay.metric('picam_viewers', { camera: camera.id }), 2);
      assert.equal(await relay.metric('picam_frames_in_total', { camera: camera.id, track: 'video' }), 30);
      assert.equal(await relay.metric('picam_frames_out_total', { camera: camera.id }), 60);
      const bytesIn = (await relay.metric('picam_bytes_in_total', { camera: camera.id, track: 'video' }))!;
      assert.equal(await relay.metric('picam_bytes_out_total', { camera: camera.id }), bytesIn * 2);
      assert.ok((await relay.metric('process_resident_memory_bytes'))! > 0);

      const exitCode = relay.stop('SIGTERM');
      const closes = await Promise.all([...viewers.map((v) => v.closed), agent.closed]);
      for (const c of closes) assert.equal(c.code, 1001);
      assert.equal(await exitCode, 0);
    } finally {
      await relay.stop('SIGKILL');
    }
  });
});
