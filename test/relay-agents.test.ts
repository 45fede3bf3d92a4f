import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Track, encodeFrame, sequenceDistance } from '@picam/protocol';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.ts';
import { ScriptedAgent } from './helpers/scripted-agent.ts';
import { WsViewer } from './helpers/ws-viewer.ts';

/**
 * Agents against a real relay process: malformed input closes only the offending agent with a
 * code that says why; replacement, reconnection, deletion, settings and demand.
 */

let relay: RelayProcess;

before(async () => {
  relay = await startRelayProcess();
});
after(async () => {
  await relay?.stop();
});

/** A camera streaming at 30 fps in the background, with one viewer watching it. */
async function healthyCamera() {
  const camera = await relay.createCamera('healthy');
  const agent = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
  const viewer = await WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken);
  let playing = true;
  const loop = (async () => {
    while (playing) await agent.play(10, 30);
  })();
  await viewer.untilVideoFrames(5);
  return {
    agent,
    viewer,
    async stop() {
      playing = false;
      await loop;
      await viewer.close();
      await agent.close();
    },
  };
}

function header(overrides: Partial<{ version: number; track: number; flags: number }> = {}): Buffer {
  const frame = Buffer.from(encodeFrame({ track: Track.Video, keyframe: false, catchUp: false, sequence: 0, captureTimeUs: Date.now() * 1000 }, new Uint8Array([0, 0, 0, 1, 0x41, 0x9a])));
  if (overrides.version !== undefined) frame[0] = overrides.version;
  if (overrides.track !== undefined) frame[1] = overrides.track;
  if (overrides.flags !== undefined) frame[2] = overrides.flags;
  return frame;
}

describe('relay agent ingest', () => {
  it('closes a misbehaving agent with the right code and leaves other cameras streaming', async () => {
    const healthy = await healthyCamera();
    const bad = await relay.createCamera('bad');
    const pFrame = (agent: ScriptedAgent) => agent.clip[1]!;
    const cases: Array<{ name: string; hello?: boolean; code: number; send: (agent: ScriptedAgent) => void }> = [
      { name: 'garbage', code: 1007, send: (a) => a.sendRaw(Buffer.concat([Buffer.from([1, 0x77]), Buffer.from('garbage bytes, not a frame')])) },
      { name: 'truncated header', code: 1007, send: (a) => a.sendRaw(Buffer.from([1, 1, 0, 0, 0, 0])) },
      { name: 'header without payload', code: 1007, send: (a) => a.sendRaw(header().subarray(0, 16)) },
      { name: 'video without start code', code: 1007, send: (a) => a.sendRaw(Buffer.concat([header().subarray(0, 16), Buffer.from('no start code')])) },
      { name: 'keyframe flag without IDR', code: 1007, send: (a) => a.sendUnit(pFrame(a), true) },
      { name: 'wrong version', code: 1008, send: (a) => a.sendRaw(header({ version: 2 })) },
      { name: 'unknown flags', code: 1007, send: (a) => a.sendRaw(header({ flags: 0x80 })) },
      { name: 'oversized', code: 1009, send: (a) => a.sendRaw(Buffer.alloc(4 * 1024 * 1024 + 17, 1)) },
      { name: 'bad JSON', code: 1007, send: (a) => a.sendRaw('{"type": "hello",', false) },
      { name: 'invalid message', code: 1007, send: (a) => a.sendRaw(JSON.stringify({ type: 'hello', agentVersion: 1 }), false) },
      { name: 'unknown message type', code: 1007, send: (a) => a.sendRaw(JSON.stringify({ type: 'reboot' }), false) },
      { name: 'frame before hello', hello: false, code: 1008, send: (a) => a.sendUnit(a.clip[0]!) },
    ];
    for (const c of cases) {
      const agent = await ScriptedAgent.connect(relay.wsUrl, bad.credential, { hello: c.hello });
      if (c.hello !== false) await agent.waitFor((m) => m.type === 'demand');
      c.send(agent);
      const closed = await agent.closed;
      assert.equal(closed.code, c.code, `${c.name}: close code (reason "${closed.reason}")`);
      // The healthy camera's viewer keeps receiving: count moves on after the bad agent is gone.
      const seen = healthy.viewer.videoFrames().length;
      await healthy.viewer.untilVideoFrames(seen + 3, 5000);
    }
    assert.equal(healthy.agent.ws.readyState, healthy.agent.ws.OPEN);
    const frames = healthy.viewer.videoFrames();
    for (let i = 1; i < frames.length; i++) assert.equal(sequenceDistance(frames[i - 1]!.header.sequence, frames[i]!.header.sequence), 1);
    const rejected = await relay.metric('picam_agent_rejected_total', { reason: 'invalid_frame' });
    assert.ok(rejected !== undefined && rejected >= 6);
    await healthy.stop();
  });

  it('refuses upgrades without valid credentials or tokens with HTTP statuses', async () => {
    const camera = await relay.createCamera();
    const noCredential = await WsViewer.refusal(`${relay.wsUrl}/api/agent`);
    assert.equal(noCredential.status, 401);
    assert.equal(noCredential.body.error.code, 'unauthenticated');
    const wrong = await WsViewer.refusal(`${relay.wsUrl}/api/agent`, [], { authorization: 'Bearer pcd_not-a-real-credential' });
    assert.equal(wrong.status, 401);
    const noToken = await WsViewer.refusal(`${relay.wsUrl}/api/cameras/${camera.id}/live`, ['picam.v1']);
    assert.equal(noToken.status, 401);
    const unknown = await WsViewer.refusal(`${relay.wsUrl}/api/cameras/nosuchcamera/live`, ['picam.v1', `picam.token.${relay.adminToken}`]);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'camera_not_found');
    const queryToken = await WsViewer.refusal(`${relay.wsUrl}/api/cameras/nosuchcamera/live?token=${relay.adminToken}`);
    assert.equal(queryToken.status, 404);
    assert.ok(!relay.output().includes(relay.adminToken), 'token never logged');
    const nowhere = await WsViewer.refusal(`${relay.wsUrl}/api/elsewhere`);
    assert.equal(nowhere.status, 404);
  });

  it('a second connection with the same credential replaces the first (4009); viewers stay', async () => {
    const camera = await relay.createCamera();
    const first = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
    const viewer = await WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken);
    await first.play(10, 120);
    await viewer.untilVideoFrames(10);
    const second = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
    assert.equal((await first.closed).code, 4009);
    await second.play(35, 120);
    await viewer.untilVideoFrames(45);
    const frames = viewer.videoFrames();
    assert.equal(frames[10]!.header.keyframe, true, 'the new connection starts at a keyframe');
    assert.equal(sequenceDistance(frames[9]!.header.sequence, frames[10]!.header.sequence), 1, 'relay sequence numbers stay continuous');
    assert.ok(!viewer.messages().some((m) => m.type === 'state' && m.state === 'offline'), 'no offline blip on replacement');
    assert.equal(viewer.ws.readyState, viewer.ws.OPEN);
    await viewer.close();
    await second.close();
  });

  it('agent reconnect keeps viewers connected: offline state, then frames from a keyframe', async () => {
    const camera = await relay.createCamera();
    const first = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
    const viewer = await WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken);
    await first.play(15, 120);
    await viewer.untilVideoFrames(15);
    await first.close();
    await viewer.untilMessage((m) => m.type === 'state' && m.state === 'offline');
    const status = await relay.api('GET', `/api/cameras/${camera.id}`, undefined, relay.adminToken);
    assert.equal(status.json.camera.status.online, false);

    const again = await ScriptedAgent.connect(relay.wsUrl, camera.credential, { clip: '1280x720-main.h264' });
    again.rewind();
    await again.play(20, 120);
    await viewer.untilVideoFrames(35);
    const frames = viewer.videoFrames();
    assert.equal(frames[15]!.header.keyframe, true);
    assert.equal(sequenceDistance(frames[14]!.header.sequence, frames[15]!.header.sequence), 1);
    // The format changed (640x480 -> 1280x720): a fresh init comes before the first new frame.
    const inits = viewer.events.flatMap((e, i) => (e.kind === 'json' && e.message.type === 'init' ? [{ i, m: e.message }] : []));
    assert.equal(inits.length, 2);
    const secondInit = inits[1]!;
    assert.deepEqual(secondInit.m.type === 'init' && secondInit.m.video, { codec: 'avc1.4d401f', width: 1280, height: 720, framerate: 30 });
    const firstNewFrame = viewer.events.findIndex((e) => e.kind === 'frame' && e.payload.equals(Buffer.from(again.sent[0]!.payload)));
    assert.ok(secondInit.i < firstNewFrame);
    const online = await relay.api('GET', `/api/cameras/${camera.id}`, undefined, relay.adminToken);
    assert.equal(online.json.camera.status.online, true);
    assert.equal(online.json.camera.status.agentVersion, 'scripted-0.1');
    assert.deepEqual(online.json.camera.status.video, { codec: 'avc1.4d401f', width: 1280, height: 720, framerate: 30 });
    assert.ok(online.json.camera.lastSeenAt > 0);
    await viewer.close();
    await again.close();
  });

  it('sends settings when they differ and demand when the viewer count changes', async () => {
    const camera = await relay.createCamera();
    const agent = await ScriptedAgent.connect(relay.wsUrl, camera.credential, { settings: { bitrate: 1_000_000 } });
    const settings = await agent.waitFor((m) => m.type === 'settings');
    assert.equal(settings.type === 'settings' && settings.settings.bitrate, 2_000_000);
    await agent.waitFor((m) => m.type === 'demand' && m.viewers === 0);
    const viewer = await WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken);
    await agent.waitFor((m) => m.type === 'demand' && m.viewers === 1);
    await viewer.close();
    await agent.waitFor((m) => m.type === 'demand' && m.viewers === 0 && agent.received.filter((x) => x.type === 'demand').length >= 3);
    const patched = await relay.api('PATCH', `/api/cameras/${camera.id}`, { settings: { framerate: 25 } }, relay.adminToken);
    assert.equal(patched.status, 200);
    await agent.waitFor((m) => m.type === 'settings' && m.settings.framerate === 25);
    await agent.close();
  });

  it('deleting a camera closes its agent and viewers with 4004; re-enrollment closes the agent with 4001', async () => {
    const camera = await relay.createCamera();
    const agent = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
    const viewer = await WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken);
    await agent.play(5, 120);
    await viewer.untilVideoFrames(5);
    const deleted = await relay.api('DELETE', `/api/cameras/${camera.id}`, undefined, relay.adminToken);
    assert.equal(deleted.status, 204);
    assert.equal((await agent.closed).code, 4004);
    assert.equal((await viewer.closed).code, 4004);

    const other = await relay.createCamera();
    const agent2 = await ScriptedAgent.connect(relay.wsUrl, other.credential);
    await agent2.waitFor((m) => m.type === 'demand');
    const reissued = await relay.api('POST', `/api/cameras/${other.id}/enrollment`, undefined, relay.adminToken);
    assert.equal(reissued.status, 201);
    assert.equal((await agent2.closed).code, 4001);
  });

  it('a share link made for 3 seconds shows video, then cuts its viewer off at expiry (4008)', async () => {
    const camera = await relay.createCamera('three-seconds');
    const agent = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
    let playing = true;
    const loop = (async () => {
      while (playing) await agent.play(10, 30);
    })();
    try {
      const created = await relay.api('POST', `/api/cameras/${camera.id}/shares`, { expiresIn: 3, label: 'three seconds' }, relay.adminToken);
      assert.equal(created.status, 201);
      const viewer = await WsViewer.connect(relay.wsUrl, camera.id, created.json.token);
      await viewer.untilVideoFrames(10);
      const closed = await viewer.closed;
      const lateMs = Date.now() - created.json.share.expiresAt;
      assert.equal(closed.code, 4008);
      assert.ok(lateMs >= -50 && lateMs < 1000, `closed ${lateMs} ms after expiry`);
      assert.ok(viewer.videoFrames().length >= 30, `saw ${viewer.videoFrames().length} frames of video before the cut`);
      // The link stays dead: a new connection with it is refused.
      await assert.rejects(WsViewer.connect(relay.wsUrl, camera.id, created.json.token));
    } finally {
      playing = false;
      await loop;
      await agent.close();
    }
  });

  it('cuts share-link viewers off with 4008 when the link is revoked, after telling them when it expires', async () => {
    const camera = await relay.createCamera();
    const created = await relay.api('POST', `/api/cameras/${camera.id}/shares`, { expiresIn: 3600 }, relay.adminToken);
    assert.equal(created.status, 201);
    const viewer = await WsViewer.connect(relay.wsUrl, camera.id, created.json.token);
    await viewer.untilMessage((m) => m.type === 'expiring');
    assert.deepEqual(viewer.messages()[0], { type: 'expiring', expiresAt: created.json.share.expiresAt });
    const started = Date.now();
    assert.equal((await relay.api('DELETE', `/api/shares/${created.json.share.id}`, undefined, relay.adminToken)).status, 204);
    assert.equal((await viewer.closed).code, 4008);
    assert.ok(Date.now() - started < 1000);
  });
});
