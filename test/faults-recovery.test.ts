import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LiveViewer, RelayChild, adminLogin, createCamera, freePort, httpJson } from './helpers/proxies.ts';

/**
 * Things break, the stream comes back by itself: the relay SIGKILLed mid-stream and restarted on
 * the same port and database, the camera dying or wedging, the agent's network cut. Real relay and
 * agent processes on 127.0.0.1, the fake camera on PATH. Every wait is on an event with a bound.
 */

interface Rig {
  relay: RelayChild;
  agent: AgentProcess;
  viewer: LiveViewer;
  cameraId: string;
  adminToken: string;
  configPath: string;
}

/** A relay, a camera enrolled on it, its agent (relay URL overridable: the network-cut proxy), a viewer. */
async function rig(t: TestContext, options: { agentEnv?: NodeJS.ProcessEnv; tuning?: string; relayUrlForAgent?: (relay: RelayChild) => Promise<string> } = {}): Promise<Rig> {
  const relay = await RelayChild.start();
  t.after(async () => {
    await relay.stop('SIGKILL');
    relay.removeData();
  });
  const adminToken = await adminLogin(relay.url);
  const camera = await createCamera(relay.url, adminToken, 'fault rig');
  const enrolled = await httpJson('POST', `${relay.url}/api/enroll`, { body: { token: camera.enrollmentToken } });
  assert.equal(enrolled.status, 200, enrolled.text);
  const dir = mkdtempSync(join(tmpdir(), 'picam-faults-agent-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.json');
  const agentRelay = options.relayUrlForAgent ? await options.relayUrlForAgent(relay) : relay.url;
  writeFileSync(
    configPath,
    JSON.stringify({ relay: agentRelay, cameraId: camera.id, credential: enrolled.json.credential, settings: { ...DEFAULT_CAMERA_SETTINGS, width: 640, height: 480 } }),
  );
  const agent = new AgentProcess(['run', '--config', configPath, '--tuning', options.tuning ?? TEST_TUNING], cleanAgentEnv(envWithFakeCamera(options.agentEnv)));
  t.after(() => agent.stop('SIGKILL'));
  const viewer = new LiveViewer({ baseUrl: relay.url.replace(/^http/, 'ws'), cameraId: camera.id, token: adminToken }).start();
  t.after(() => viewer.stop());
  await viewer.waitFor(() => viewer.inits >= 1 && viewer.frames >= 30, 30_000, 'the stream to start');
  return { relay, agent, viewer, cameraId: camera.id, adminToken, configPath };
}

function integrityCheck(dataDir: string): string {
  const db = new Database(join(dataDir, 'picam.db'));
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

test('relay SIGKILLed mid-stream, restarted on the same port and DATA_DIR: agent and viewer come back by themselves, the database is intact', async (t) => {
  const { relay, viewer, cameraId } = await rig(t);
  const killed = await relay.stop('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  await viewer.waitFor(() => viewer.closes.length >= 1, 5_000, 'the viewer to notice');
  assert.equal(integrityCheck(relay.dataDir), 'ok', 'PRAGMA integrity_check right after the SIGKILL');

  const framesBefore = viewer.frames;
  const restarted = await RelayChild.start({ port: relay.port, dataDir: relay.dataDir });
  t.after(() => restarted.stop('SIGKILL'));
  // The agent's own backoff (capped at 1 s here) and the viewer's reconnect loop; nobody helps them.
  await viewer.waitFor(() => viewer.connections >= 2 && viewer.frames >= framesBefore + 60, 20_000, 'frames on a new viewer connection');
  assert.equal(viewer.firstFrameKeyframe.at(-1), true, 'the new connection starts at a keyframe');
  const health = await httpJson('GET', `${restarted.url}/healthz`);
  assert.equal(health.json.status, 'ok');
  assert.equal(health.json.cameras, 1);
  // Same database: the camera and the admin session survived the crash.
  const cam = await httpJson('GET', `${restarted.url}/api/cameras/${cameraId}`, { headers: { authorization: `Bearer ${viewer.options.token}` } });
  assert.equal(cam.status, 200, cam.text);
  await restarted.stop('SIGTERM');
  assert.equal(integrityCheck(relay.dataDir), 'ok', 'PRAGMA integrity_check after the restart');
});

test('camera process dies every 60 frames (FAKE_CAMERA_DIE_AFTER): frames resume at the viewer each time, viewer never dropped', async (t) => {
  const { agent, viewer } = await rig(t, { agentEnv: { FAKE_CAMERA_DIE_AFTER: '60' } });
  const start = viewer.frames;
  await viewer.waitFor(() => viewer.frames >= start + 150, 30_000, 'frames across two camera deaths');
  const restarts = agent.logs.filter((r) => /restart/i.test(r.msg) && /camera/i.test(r.msg)).length;
  assert.ok(restarts >= 2, `camera restarts logged: ${restarts}`);
  assert.equal(viewer.connections, 1, 'the viewer stayed on one connection');
  assert.deepEqual(viewer.closes, []);
});

test('camera wedges after 60 frames (FAKE_CAMERA_STALL_AFTER): the agent notices the silence, restarts it, frames resume', async (t) => {
  const { agent, viewer } = await rig(t, { agentEnv: { FAKE_CAMERA_STALL_AFTER: '60' } });
  const start = viewer.frames;
  await viewer.waitFor(() => viewer.frames >= start + 100, 30_000, 'frames across a camera stall');
  assert.ok(agent.logs.some((r) => /stall|silent|no frames/i.test(`${r.msg} ${String(r.reason ?? '')}`)), `a stall logged:\n${agent.logs.map((r) => r.msg).join('\n')}`);
  assert.equal(viewer.connections, 1);
});

/** A TCP forwarder between the agent and the relay that can black-hole or cut the line. */
class FlakyLink {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  mode: 'up' | 'blackhole' | 'refuse' = 'up';
  accepted = 0;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(targetPort: number, port: number): Promise<FlakyLink> {
    const server = createServer();
    const link = new FlakyLink(server);
    server.on('connection', (client) => {
      link.accepted++;
      if (link.mode !== 'up') {
        // down: the connection is taken and left unanswered (blackhole) or reset (refuse)
        if (link.mode === 'refuse') client.destroy();
        else client.pause();
        client.on('error', () => {});
        if (link.mode === 'blackhole') link.pairs.add([client, client]);
        return;
      }
      const upstream = connect(targetPort, '127.0.0.1');
      const pair: [Socket, Socket] = [client, upstream];
      link.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        link.pairs.delete(pair);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return link;
  }

  /** Packets stop both ways; sockets stay open (a dead Wi-Fi link, a NAT that forgot us). */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const [a, b] of this.pairs) {
      a.unpipe();
      b.unpipe();
      a.pause();
      b.pause();
    }
  }

  /** Every connection reset and new ones refused. */
  cut(): void {
    this.mode = 'refuse';
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** New connections go through again; black-holed ones are dropped. */
  restore(): void {
    for (const pair of this.pairs) {
      if (pair[0].isPaused()) {
        pair[0].destroy();
        pair[1].destroy();
        this.pairs.delete(pair);
      }
    }
    this.mode = 'up';
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

test('agent network black-holed, then cut, then restored (TCP proxy in between): the agent reconnects by itself, frames resume', async (t) => {
  let link: FlakyLink | undefined;
  const { agent, viewer } = await rig(t, {
    tuning: `${TEST_TUNING},pingIntervalMs=1000`,
    relayUrlForAgent: async (relay) => {
      const port = await freePort();
      link = await FlakyLink.start(relay.port, port);
      return `http://127.0.0.1:${port}`;
    },
  });
  t.after(() => link!.close());

  // 1. Black hole: nothing moves, nothing closes. The agent's ping goes unanswered.
  const after = (n: number) => (r: { msg: string }) => agent.logs.indexOf(r as never) >= n;
  let mark = agent.logs.length;
  link!.blackhole();
  await agent.waitForLog((r) => after(mark)(r) && /missed a ping/.test(r.msg), 10_000, 'the agent to notice the dead link');
  const stalledAt = viewer.frames;
  link!.restore();
  await viewer.waitFor(() => viewer.frames >= stalledAt + 60, 20_000, 'frames after the black hole');

  // 2. Hard cut: connections reset, reconnects refused for a while.
  const acceptedBefore = link!.accepted;
  mark = agent.logs.length;
  link!.cut();
  await agent.waitForLog((r) => after(mark)(r) && /cannot reach the relay/.test(r.msg), 10_000, 'failed reconnects during the cut');
  assert.ok(link!.accepted > acceptedBefore, 'the agent kept trying');
  const cutAt = viewer.frames;
  link!.restore();
  await viewer.waitFor(() => viewer.frames >= cutAt + 60, 20_000, 'frames after the cut');
  assert.equal(viewer.connections, 1, 'the viewer (direct to the relay) stayed connected throughout');
});
