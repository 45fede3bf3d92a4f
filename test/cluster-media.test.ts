import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CloseCode, DEFAULT_CAMERA_SETTINGS, OfflineReason, sequenceDistance } from '@picam/protocol';
import { AgentProcess, REPO_ROOT, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { tempDir } from './helpers/browser.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { natsOrSkip, type TestNats } from './helpers/nats.ts';
import { postgresOrSkip } from './helpers/postgres.ts';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.ts';
import { WsViewer } from './helpers/ws-viewer.ts';

/**
 * Three relay nodes on one Postgres and one nats-server, the real agent with the fake camera on
 * node A: viewers on B and C get A's camera through NATS as A's own viewers get it, NATS carries
 * nothing while no other node watches, a revocation on C cuts a viewer on B, a NATS outage spares
 * A's viewer and B's resumes, and the agent moving to B takes the camera over (A stops publishing).
 */

/** Arrival of each video frame at a viewer: capture time (µs), when it arrived (ms), its bytes. */
interface Arrival {
  captureUs: number;
  atMs: number;
  latencyMs: number;
  catchUp: boolean;
  sequence: number;
  payload: Buffer;
}

interface Watcher {
  viewer: WsViewer;
  openedAt: number;
  /** video frames */
  arrivals: Arrival[];
  audio: Arrival[];
}

async function watch(relay: RelayProcess, cameraId: string, token = relay.adminToken): Promise<Watcher> {
  const viewer = await WsViewer.connect(relay.wsUrl, cameraId, token);
  const openedAt = performance.now();
  const arrivals: Arrival[] = [];
  const audio: Arrival[] = [];
  viewer.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    const captureUs = Number(data.readBigUInt64BE(8));
    (data[1] === 1 ? arrivals : audio).push({
      captureUs,
      atMs: performance.now(),
      latencyMs: Date.now() - captureUs / 1000,
      catchUp: (data[2]! & 2) !== 0,
      sequence: data.readUInt32BE(4),
      payload: Buffer.from(data.subarray(16)),
    });
  });
  return { viewer, openedAt, arrivals, audio };
}

/** Resolves once `predicate` holds, checking every 20 ms (the processes under test run on their own). */
async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Media messages on NATS for one camera, with the owner epoch each carries. */
class MediaTap {
  readonly epochs: number[] = [];
  /** video messages among them */
  video = 0;
  readonly nc: NatsConnection;

  private constructor(nc: NatsConnection) {
    this.nc = nc;
  }

  static async open(url: string, cameraId: string): Promise<MediaTap> {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const tap = new MediaTap(nc);
    nc.subscribe(`picam.cam.${cameraId}.media`, {
      callback: (_err, msg) => {
        tap.epochs.push(Number(msg.headers?.get('Picam-Epoch') ?? -1));
        if (msg.data[1] === 1) tap.video++;
      },
    });
    await nc.flush();
    return tap;
  }

  get count(): number {
    return this.epochs.length;
  }
}

const FAKE_AUDIO = join(REPO_ROOT, 'test', 'fake-camera', 'fake-audio');

/** The real agent with the fake camera and microphone, streaming to `relay`. */
function startAgent(t: TestContext, relay: RelayProcess, camera: { id: string; credential: string }): AgentProcess {
  const dir = tempDir(t, 'picam-cluster-agent-');
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: camera.id, credential: camera.credential, settings: DEFAULT_CAMERA_SETTINGS }));
  const env = cleanAgentEnv(envWithFakeCamera());
  delete env.PICAM_AUDIO_COMMAND;
  const agent = new AgentProcess(['run', '--config', config, '--tuning', TEST_TUNING, '--audio', '--audio-command', FAKE_AUDIO], env);
  t.after(() => agent.stop('SIGKILL'));
  return agent;
}

test('a cluster of three relays on NATS and Postgres', { timeout: 120_000 }, async (t) => {
  const nats = await natsOrSkip(t);
  if (!nats) return;
  const pg = await postgresOrSkip(t);
  if (!pg) return;
  const databaseUrl = await pg.createDatabase();
  const node = (id: string) => ({ DATABASE_URL: databaseUrl, NATS_URL: nats.url, NODE_ID: id, LOG_LEVEL: 'info' });
  const relays: RelayProcess[] = [];
  t.after(async () => {
    await Promise.all(relays.map((r) => r.stop()));
  });
  // A first (it migrates the empty database), then B and C together.
  relays.push(await startRelayProcess(node('node-a')));
  relays.push(...(await Promise.all([startRelayProcess(node('node-b')), startRelayProcess(node('node-c'))])));
  const [a, b, c] = relays as [RelayProcess, RelayProcess, RelayProcess];
  const dump = () => relays.map((r, i) => `---- node ${'abcd'[i]}\n${r.output().slice(-6000)}`).join('\n');

  const camera = await a.createCamera('yard');
  const agent = startAgent(t, a, camera);
  const tap = await MediaTap.open(nats.url, camera.id);
  t.after(() => tap.nc.close());

  const local = await watch(a, camera.id);
  await until(() => local.arrivals.length >= 20, 20_000, "A's own viewer gets pictures").catch((err: Error) => {
    throw new Error(`${err.message}\n${dump()}`);
  });

  await t.test('no media crosses NATS while only the owner node has viewers', async () => {
    const before = tap.count;
    const frames = local.arrivals.length;
    await until(() => local.arrivals.length >= frames + 45, 5_000, 'A keeps streaming');
    assert.equal(tap.count - before, 0, 'no media message on NATS');
    assert.equal((await a.metric('picam_cluster_media_messages_total', { direction: 'out' })) ?? 0, 0, "A's metric agrees");
    assert.equal(await a.metric('picam_cluster_nats_connected'), 1);
  });

  let remoteB: Watcher;
  let remoteC: Watcher;
  await t.test('viewers on B and C get their first picture at once, then every frame A shows, byte-identical', async () => {
    remoteB = await watch(b, camera.id);
    remoteC = await watch(c, camera.id);
    await until(() => remoteB.arrivals.length > 0 && remoteC.arrivals.length > 0, 5_000, 'remote first pictures').catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    const firstB = remoteB.arrivals[0]!.atMs - remoteB.openedAt;
    const firstC = remoteC.arrivals[0]!.atMs - remoteC.openedAt;
    t.diagnostic(`remote first picture: B ${firstB.toFixed(1)} ms, C ${firstC.toFixed(1)} ms after the socket opened`);
    assert.ok(firstB <= 300 && firstC <= 300, `first picture within 300 ms (B ${firstB.toFixed(0)}, C ${firstC.toFixed(0)})`);
    assert.ok(remoteB.arrivals[0]!.catchUp, 'the first picture is the GOP, flagged catch-up');

    const mark = local.arrivals.length;
    await until(() => local.arrivals.length >= mark + 90, 10_000, 'three more seconds at A');
    // Every frame A's viewer got since, the remote viewers got too: same capture time, same bytes.
    const lastUs = local.arrivals.at(-1)!.captureUs;
    await until(
      () => remoteB.arrivals.some((f) => f.captureUs === lastUs) && remoteC.arrivals.some((f) => f.captureUs === lastUs),
      3_000,
      'remote viewers reach the last frame A showed',
    );
    // Sound in the same span: the same frames, in the same order (two may share a capture time). A
    // sound frame captured before the last picture may be sent after it, and the owner hands each frame
    // to NATS before its own viewers, so a remote viewer can be a frame ahead of A's: the span is
    // complete on a viewer once it has a sound frame captured after the last picture.
    const span = (audio: Arrival[]) => audio.filter((f) => f.captureUs > local.arrivals[mark]!.captureUs && f.captureUs < lastUs);
    await until(
      () => [local, remoteB, remoteC].every((viewer) => viewer.audio.some((f) => f.captureUs > lastUs)),
      3_000,
      'every viewer gets the sound captured up to the last picture',
    );
    for (const [name, remote, relay] of [['B', remoteB, b], ['C', remoteC, c]] as const) {
      const byTime = new Map(remote.arrivals.map((f) => [f.captureUs, f]));
      // A's viewer keeps receiving while this runs: compare the frames up to the one both were waited for.
      const shown = local.arrivals.slice(mark).filter((f) => f.captureUs <= lastUs);
      const missing = shown.flatMap((frame, i) => (byTime.has(frame.captureUs) ? [] : [i]));
      if (missing.length > 0) {
        const dropped = await Promise.all(['slow', 'lag', 'cache'].map(async (reason) => `${reason} ${(await relay.metric('picam_frames_dropped_total', { camera: camera.id, reason })) ?? 0}`));
        const gaps = remote.arrivals.flatMap((f, i) => (i > 0 && sequenceDistance(remote.arrivals[i - 1]!.sequence, f.sequence) !== 1 ? [`${i}:+${sequenceDistance(remote.arrivals[i - 1]!.sequence, f.sequence)}`] : []));
        assert.fail(
          `${missing.length} of ${shown.length} frames A showed never reached the viewer on ${name} (at ${missing.slice(0, 20).join(',')}); ` +
            `${name} dropped: ${dropped.join(', ')}; sequence gaps at ${gaps.slice(0, 20).join(' ') || 'none'}; NATS video messages ${tap.video}\n${dump()}`,
        );
      }
      for (const frame of shown) assert.ok(byTime.get(frame.captureUs)!.payload.equals(frame.payload), `frame captured at ${frame.captureUs}: bytes identical`);
      const localAudio = span(local.audio);
      const remoteAudio = span(remote.audio);
      assert.ok(localAudio.length > 50, `A's viewer got sound (${localAudio.length} frames)`);
      assert.equal(remoteAudio.length, localAudio.length, 'as many sound frames');
      localAudio.forEach((f, i) => assert.ok(remoteAudio[i]!.captureUs === f.captureUs && remoteAudio[i]!.payload.equals(f.payload), `sound frame ${i} identical`));
      // No frame twice and none out of order: capture times rise and sequences run on by one.
      for (let i = 1; i < remote.arrivals.length; i++) {
        assert.ok(remote.arrivals[i]!.captureUs > remote.arrivals[i - 1]!.captureUs, `capture times rise at ${i}`);
        assert.equal(sequenceDistance(remote.arrivals[i - 1]!.sequence, remote.arrivals[i]!.sequence), 1, `sequences consecutive at ${i}`);
      }
    }
    // Latency capture -> arrival over the same live frames: the remote hop adds little.
    const liveSince = (arrivals: Arrival[]) => arrivals.filter((f) => !f.catchUp && f.captureUs > local.arrivals[mark]!.captureUs).map((f) => f.latencyMs);
    const p50Local = median(liveSince(local.arrivals));
    const p50B = median(liveSince(remoteB.arrivals));
    const p50C = median(liveSince(remoteC.arrivals));
    t.diagnostic(`latency p50: A (owner) ${p50Local.toFixed(1)} ms, B ${p50B.toFixed(1)} ms, C ${p50C.toFixed(1)} ms`);
    // One NATS message per frame, whichever number of nodes watch.
    const tapBefore = tap.video;
    const framesBefore = local.arrivals.length;
    await until(() => local.arrivals.length >= framesBefore + 60, 5_000, 'two more seconds');
    await until(() => tap.video - tapBefore >= local.arrivals.length - framesBefore, 2_000, 'media messages caught up');
    const perFrame = (tap.video - tapBefore) / (local.arrivals.length - framesBefore);
    t.diagnostic(`NATS media messages per frame with two remote nodes watching: ${perFrame.toFixed(2)}`);
    assert.ok(perFrame > 0.9 && perFrame < 1.1, `one message per frame (${perFrame.toFixed(2)})`);
    assert.ok(((await b.metric('picam_cluster_media_messages_total', { direction: 'in' })) ?? 0) > 0, "B's metric counts the frames it got");
    assert.equal(await b.metric('picam_cluster_remote_feeds'), 1);
    assert.equal(await a.metric('picam_cluster_owned_cameras'), 1);
    // A second viewer on B joins B's own stream: its GOP cache, no second copy over NATS.
    const second = await watch(b, camera.id);
    await until(() => second.arrivals.length > 0, 2_000, 'second viewer on B gets a picture');
    t.diagnostic(`second viewer on B: first picture ${(second.arrivals[0]!.atMs - second.openedAt).toFixed(1)} ms after open`);
    assert.ok(second.arrivals[0]!.catchUp && second.arrivals[0]!.payload.equals(remoteB.arrivals.find((f) => f.captureUs === second.arrivals[0]!.captureUs)!.payload));
    await second.viewer.close();
    const status = await b.api('GET', `/api/cameras/${camera.id}`, undefined, b.adminToken);
    assert.equal(status.status, 200);
    assert.equal(status.json.camera?.status?.online ?? status.json.status?.online, true, "B's API shows A's camera online");
  });

  await t.test("a share's maxViewers counts the viewers of every node", async () => {
    const share = await a.api('POST', `/api/cameras/${camera.id}/shares`, { label: 'one at a time', expiresIn: 600, maxViewers: 1 }, a.adminToken);
    assert.equal(share.status, 201, JSON.stringify(share.json));
    const token = share.json.token as string;
    const first = await WsViewer.connect(b.wsUrl, camera.id, token);
    await first.untilVideoFrames(1, 5_000);
    // B says so within a moment; C then refuses the link's second viewer.
    const url = `${c.wsUrl}/api/cameras/${camera.id}/live`;
    const protocols = ['picam.v1', `picam.token.${token}`];
    let refusal = await WsViewer.refusal(url, protocols).catch(() => undefined);
    const deadline = Date.now() + 2_000;
    while (refusal === undefined && Date.now() < deadline) refusal = await WsViewer.refusal(url, protocols).catch(() => undefined);
    assert.equal(refusal?.status, 429, `second viewer on C refused: ${JSON.stringify(refusal)}`);
    await first.close();
    // Once B's viewer left, C lets one in.
    let second: WsViewer | undefined;
    const until2 = Date.now() + 3_000;
    while (!second && Date.now() < until2) second = await WsViewer.connect(c.wsUrl, camera.id, token).catch(() => undefined);
    assert.ok(second, "C admits the link's viewer once B's has gone");
    await second.untilVideoFrames(1, 5_000);
    await second.close();
  });

  await t.test('a share revoked on C cuts its viewer on B within a second, a user removed on C too', async () => {
    // The link is made on C: its token, signed there, opens the camera on B (keys shared in Postgres).
    const share = await c.api('POST', `/api/cameras/${camera.id}/shares`, { label: 'cluster', expiresIn: 600 }, c.adminToken);
    assert.equal(share.status, 201, JSON.stringify(share.json));
    const shareViewer = await WsViewer.connect(b.wsUrl, camera.id, share.json.token as string);
    await shareViewer.untilVideoFrames(1, 5_000);
    const started = performance.now();
    const revoked = await c.api('DELETE', `/api/shares/${share.json.share.id}`, undefined, c.adminToken);
    assert.ok(revoked.status < 300, `revoke: ${revoked.status} ${JSON.stringify(revoked.json)}`);
    const closed = await shareViewer.closed;
    const tookMs = performance.now() - started;
    t.diagnostic(`share revoked on C: viewer on B closed ${tookMs.toFixed(0)} ms later`);
    assert.equal(closed.code, CloseCode.LinkExpired);
    assert.ok(tookMs < 1_000, `within 1 s (${tookMs.toFixed(0)} ms)`);

    const created = await c.api('POST', '/api/users', { username: 'guest', password: 'guest-password-1', role: 'viewer', cameraIds: [camera.id] }, c.adminToken);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const login = await b.api('POST', '/api/auth/login', { username: 'guest', password: 'guest-password-1' });
    assert.equal(login.status, 200, JSON.stringify(login.json));
    const sessionViewer = await WsViewer.connect(b.wsUrl, camera.id, login.json.token as string);
    await sessionViewer.untilVideoFrames(1, 5_000);
    const removedAt = performance.now();
    const removed = await c.api('DELETE', `/api/users/${created.json.user.id}`, undefined, c.adminToken);
    assert.ok(removed.status < 300, `remove user: ${removed.status} ${JSON.stringify(removed.json)}`);
    const ended = await sessionViewer.closed;
    const removedMs = performance.now() - removedAt;
    t.diagnostic(`user removed on C: their viewer on B closed ${removedMs.toFixed(0)} ms later`);
    assert.equal(ended.code, CloseCode.Unauthenticated);
    assert.ok(removedMs < 1_000, `within 1 s (${removedMs.toFixed(0)} ms)`);
  });

  await t.test('NATS down: A keeps serving its own viewer, B goes offline and resumes when NATS is back', async () => {
    await remoteC.viewer.close();
    const outageFrom = local.arrivals.length;
    const localMessages = local.viewer.messages().length;
    let d: RelayProcess | undefined;
    await stopAndRestart(nats, async () => {
      const downAt = local.arrivals.length;
      // Told why: the camera is not gone, B lost its way to it (the player says it is reconnecting).
      await remoteB.viewer.untilMessage((m) => m.type === 'state' && m.state === 'offline' && m.reason === OfflineReason.Reconnecting, 5_000);
      // A node starting meanwhile comes up without NATS (and joins once it is back).
      d = await startRelayProcess(node('node-d'));
      relays.push(d);
      await until(() => local.arrivals.length >= downAt + 60, 5_000, "A's viewer keeps getting pictures with NATS down");
    });
    const upAt = performance.now();
    const resumedFrom = remoteB.arrivals.length;
    await until(() => remoteB.arrivals.length >= resumedFrom + 30, 10_000, "B's viewer resumes").catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    t.diagnostic(`B's viewer had pictures again ${(remoteB.arrivals[resumedFrom]!.atMs - upAt).toFixed(0)} ms after NATS restarted`);
    // A's viewer never stopped: not told offline, no hole of a second in its pictures through the outage.
    let longest = 0;
    for (let i = outageFrom + 1; i < local.arrivals.length; i++) longest = Math.max(longest, local.arrivals[i]!.atMs - local.arrivals[i - 1]!.atMs);
    t.diagnostic(`A's viewer's longest pause between pictures through the outage: ${longest.toFixed(0)} ms`);
    assert.ok(longest < 1_000, `A's viewer's longest pause ${longest.toFixed(0)} ms`);
    assert.deepEqual(local.viewer.messages().slice(localMessages), [], "A's viewer got no state change");
    assert.equal(local.viewer.ws.readyState, local.viewer.ws.OPEN);
    // The node started during the outage serves A's camera now.
    const onD = await watch(d!, camera.id);
    await until(() => onD.arrivals.length >= 10, 10_000, "a viewer on the node started during the outage gets A's camera");
    await onD.viewer.close();
  });

  await t.test('the agent reconnecting to B takes the camera over: A stops publishing, its viewer is fed from B', async () => {
    // The agent on A freezes (its socket stays open, as a half-dead link looks) and a new one connects to B.
    agent.child.kill('SIGSTOP');
    t.after(() => agent.child.kill('SIGCONT'));
    const moved = startAgent(t, b, camera);
    await moved.waitForLog((r) => r.msg === 'connected to the relay', 15_000, 'the agent on B connected');
    const tapMark = tap.count;
    const localMark = local.arrivals.length;
    await until(() => local.arrivals.length >= localMark + 30, 15_000, "A's viewer gets pictures from B's agent").catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    const newEpoch = Math.max(...tap.epochs.slice(tapMark));
    const stale = tap.epochs.slice(tapMark).filter((e) => e !== newEpoch).length;
    assert.ok(stale <= 1, `after the takeover only the new owner publishes (${stale} frames of another epoch)`);
    assert.match(a.output(), /camera taken over by another node/, 'A gave the camera up');
    // The frozen agent, running again, finds its connection replaced (4009) and backs off.
    agent.child.kill('SIGCONT');
    await agent.waitForLog((r) => /replaced this connection/.test(r.msg), 10_000, 'the old agent told 4009');
    const health = await jsonOf(`${a.url}/healthz`);
    t.diagnostic(`A after the takeover: ${JSON.stringify(health)}`);
  });

  await t.test('the last remote viewer gone, media stops crossing NATS', async () => {
    // B owns the camera now; A's viewer is the only one elsewhere.
    await local.viewer.close();
    const clock = remoteB.arrivals;
    const closedAt = clock.length;
    await until(() => clock.length >= closedAt + 30, 5_000, "a second at B's own viewer");
    const before = tap.count;
    await until(() => clock.length >= closedAt + 60, 5_000, "another second at B's own viewer");
    assert.equal(tap.count - before, 0, 'no media message on NATS');
  });

  const lazyAgents: AgentProcess[] = [];
  await t.test('an on-demand camera captures for a viewer on another node', async () => {
    const lazy = await a.createCamera('porch');
    const patched = await a.api('PATCH', `/api/cameras/${lazy.id}`, { settings: { onDemand: true } }, a.adminToken);
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const lazyAgent = startAgent(t, a, lazy);
    lazyAgents.push(lazyAgent);
    await lazyAgent.waitForLog((r) => r.msg === 'connected to the relay', 15_000, 'the on-demand agent connected');
    const viewer = await watch(c, lazy.id);
    await lazyAgent.waitForLog((r) => r.msg === 'demand' && (r.viewers as number) >= 1, 10_000, 'the agent hears of the viewer on C');
    await until(() => viewer.arrivals.length >= 10, 15_000, "C's viewer gets the on-demand camera's pictures");
    await viewer.viewer.close();
    await lazyAgent.waitForLog((r) => r.msg === 'demand' && r.viewers === 0, 10_000, 'the agent hears the viewer left');
  });

  await t.test('settings changed on C reach the agent on A', async () => {
    const porch = (await a.api('GET', '/api/cameras', undefined, a.adminToken)).json.cameras.find((cam: { name: string }) => cam.name === 'porch');
    const changedAt = performance.now();
    const patched = await c.api('PATCH', `/api/cameras/${porch.id}`, { settings: { bitrate: 1_000_000 } }, c.adminToken);
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const agentOnA = lazyAgents[0]!;
    await agentOnA.waitForLog(
      (r) => r.msg === 'new camera settings from the relay' && (r.settings as { bitrate?: number }).bitrate === 1_000_000,
      5_000,
      'the new settings at the agent',
    );
    t.diagnostic(`settings changed on C: at the agent on A ${(performance.now() - changedAt).toFixed(0)} ms later`);
  });
});

async function stopAndRestart(nats: TestNats, whileDown: () => Promise<void>): Promise<void> {
  await nats.stopServer();
  try {
    await whileDown();
  } finally {
    await nats.startServer();
  }
}

async function jsonOf(url: string): Promise<unknown> {
  const res = await fetch(url);
  return res.json();
}
