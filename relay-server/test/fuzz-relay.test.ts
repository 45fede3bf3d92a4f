import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import WebSocket from 'ws';
import { decodeFrame, parseMessage, relayToViewerMessageSchema, sequenceDistance } from '@picam/protocol';
import { startRelayProcess, type RelayProcess } from '../../test/helpers/relay-process.ts';
import { ScriptedAgent } from '../../test/helpers/scripted-agent.ts';
import { WsViewer } from '../../test/helpers/ws-viewer.ts';
import { announceSeed, checkProperty, fuzzTimeoutMs } from '../../test/helpers/fuzz-config.ts';
import { AGENT_TEXT_EXAMPLES, agentFrameMessages, sampleAudioFrames, sampleVideoUnits } from '../../test/helpers/fuzz-frames.ts';
import { jsonTextMutants, mutatedBytes } from '../../test/helpers/fuzz-inputs.ts';

/**
 * The relay as a whole under hostile input: a real relay process on loopback, one well-behaved agent
 * streaming camera A at 30 fps to one well-behaved viewer, while fuzzed clients with valid credentials
 * send random and mutated messages on the agent socket (camera B) and the viewer socket, raw bytes
 * after the WebSocket upgrade, and random bodies and requests to the HTTP API. After every input the
 * relay must answer (a WebSocket ping, or /healthz) and the good viewer must have received another
 * frame; at the end its frames are gapless, the relay logged no error (every error-level line is a
 * bug: an unhandled exception in a handler) and its memory stayed put.
 */

announceSeed(import.meta.url);
const timeout = fuzzTimeoutMs(120_000);
/** The relay answers a ping or a request within this long, or it hangs. */
const ANSWER_MS = 5000;

let relay: RelayProcess;
let cameraA: { id: string; credential: string };
let cameraB: { id: string; credential: string };
let goodAgent: ScriptedAgent;
let goodViewer: WsViewer;
let watcherB: FrameChecker;
let fuzzToken: string;
let playing = true;
let playLoop: Promise<void>;
let rssBefore = 0;

const rssBytes = (pid: number): number => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
};

/**
 * A viewer of the fuzzed camera that checks everything the relay sends it: whatever an agent sent,
 * viewers get only well-formed frames and messages. Acks like the player so it is never dropped as slow.
 */
class FrameChecker {
  readonly problems: string[] = [];
  frames = 0;
  private lastVideo: number | undefined;
  readonly ws: WebSocket;
  private readonly timer: NodeJS.Timeout;
  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary) => {
      try {
        if (isBinary) {
          const { header } = decodeFrame(data);
          this.frames++;
          if (header.track === 1) this.lastVideo = header.sequence;
        } else parseMessage(relayToViewerMessageSchema, data.toString('utf8'));
      } catch (err) {
        this.problems.push(`${isBinary ? 'frame' : 'message'} ${data.subarray(0, 32).toString('hex')}: ${(err as Error).message}`);
      }
    });
    ws.on('error', () => {});
    this.timer = setInterval(() => {
      if (this.lastVideo !== undefined && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ack', sequence: this.lastVideo }));
    }, 100);
    this.timer.unref();
  }
  close(): void {
    clearInterval(this.timer);
    this.ws.close();
  }
}

/** Resolves when the relay has handled everything sent before (its pong comes after) or closed the socket. */
function settled(ws: WebSocket, what: string): Promise<'pong' | 'closed'> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve('closed');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: the relay neither answered a ping nor closed in ${ANSWER_MS} ms`)), ANSWER_MS);
    const done = (how: 'pong' | 'closed') => {
      clearTimeout(timer);
      ws.off('pong', onPong);
      ws.off('close', onClose);
      resolve(how);
    };
    const onPong = () => done('pong');
    const onClose = () => done('closed');
    ws.on('pong', onPong);
    ws.on('close', onClose);
    try {
      ws.ping();
    } catch {
      // closing already: its close event settles it
    }
  });
}

async function closeAndWait(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  // A peer that never completes the closing handshake is cut off by ws after 30 s; the relay does it at once.
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('relay did not close the socket')), ANSWER_MS))]);
}

/** The relay is alive and streaming: /healthz answers and the good viewer got at least one more frame. */
async function stillServing(): Promise<void> {
  const res = await fetch(`${relay.url}/healthz`, { signal: AbortSignal.timeout(ANSWER_MS) });
  assert.equal(res.status, 200, '/healthz');
  await res.arrayBuffer();
  const seen = goodViewer.videoFrames().length;
  await goodViewer.untilVideoFrames(seen + 1, ANSWER_MS);
  assert.equal(goodAgent.ws.readyState, WebSocket.OPEN, 'the good agent is still connected');
}

before(async () => {
  relay = await startRelayProcess({
    // Error-level lines are what this test looks for: every one is an unhandled failure.
    LOG_LEVEL: 'error',
    // Thousands of sockets from one address: the per-address caps would refuse the fuzzing itself.
    WS_UPGRADES_PER_MINUTE: '0',
    MAX_AGENTS_PER_ADDRESS: '0',
    MAX_VIEWERS_PER_ADDRESS: '0',
    MAX_VIEWERS_PER_SESSION: '0',
  });
  cameraA = await relay.createCamera('steady');
  cameraB = await relay.createCamera('fuzzed');
  // One session for every client: a second login would cost a real scrypt hash; the caps are off.
  fuzzToken = relay.adminToken;
  goodAgent = await ScriptedAgent.connect(relay.wsUrl, cameraA.credential);
  goodViewer = await WsViewer.connect(relay.wsUrl, cameraA.id, relay.adminToken);
  playLoop = (async () => {
    while (playing && goodAgent.ws.readyState === WebSocket.OPEN) await goodAgent.play(15, 30);
  })();
  await goodViewer.untilVideoFrames(10);
  const ws = new WebSocket(`${relay.wsUrl}/api/cameras/${cameraB.id}/live`, ['picam.v1', `picam.token.${relay.adminToken}`], { perMessageDeflate: false });
  watcherB = new FrameChecker(ws);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('unexpected-response', () => reject(new Error('viewer of B refused'))));
  rssBefore = rssBytes(relay.child.pid!);
});

after(async () => {
  playing = false;
  await playLoop?.catch(() => {});
  watcherB?.close();
  await relay?.stop();
});

// ---- inputs -------------------------------------------------------------------------------------

type Outgoing =
  | { kind: 'binary'; data: Uint8Array }
  | { kind: 'text'; data: string }
  /** a text frame whose bytes are not UTF-8 (ws must close with 1007) */
  | { kind: 'badText'; data: Uint8Array }
  | { kind: 'oversize' };

const videoUnits = sampleVideoUnits();
const audioFrames = sampleAudioFrames();
const clipFrames = fc.constantFrom(...videoUnits);

const agentMessage: fc.Arbitrary<Outgoing> = fc.oneof(
  { weight: 6, arbitrary: agentFrameMessages(videoUnits, audioFrames).map((data) => ({ kind: 'binary' as const, data })) },
  { weight: 4, arbitrary: jsonTextMutants(AGENT_TEXT_EXAMPLES).map((data) => ({ kind: 'text' as const, data })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((data) => ({ kind: 'binary' as const, data })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 32 }).map((data) => ({ kind: 'badText' as const, data: Uint8Array.of(0xc3, 0x28, ...data) })) },
);
/** A valid hello first (usually), then a few valid frames mixed with the hostile ones. */
const agentSession = fc.record({
  hello: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  messages: fc.array(fc.oneof({ weight: 3, arbitrary: agentMessage }, { weight: 1, arbitrary: clipFrames.map((u) => ({ kind: 'unit' as const, unit: u })) }), {
    minLength: 1,
    maxLength: 6,
  }),
  /** start with a real keyframe, so what follows reaches the camera's viewers, not only the checks */
  lead: fc.boolean(),
  oversize: fc.oneof({ weight: 40, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const viewerMessage: fc.Arbitrary<Outgoing> = fc.oneof(
  { weight: 6, arbitrary: jsonTextMutants([{ type: 'ack', sequence: 12 }, { type: 'ack', sequence: 4294967295 }]).map((data) => ({ kind: 'text' as const, data })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((data) => ({ kind: 'binary' as const, data })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 32 }).map((data) => ({ kind: 'badText' as const, data: Uint8Array.of(0xed, 0xa0, 0x80, ...data) })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'oversize' as const }) },
);

function send(ws: WebSocket, message: Outgoing | { kind: 'unit'; unit: { data: Uint8Array; keyframe: boolean } }, agent?: ScriptedAgent): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  switch (message.kind) {
    case 'binary':
      ws.send(message.data, { binary: true });
      break;
    case 'text':
      ws.send(message.data);
      break;
    case 'badText':
      ws.send(message.data, { binary: false });
      break;
    case 'oversize':
      // Over each endpoint's maxPayload (viewers 4 KiB, agents 4 MiB + header): ws closes with 1009.
      ws.send(Buffer.alloc(agent ? 4 * 1024 * 1024 + 17 : 8 * 1024, 0x61), { binary: agent !== undefined });
      break;
    case 'unit':
      agent?.sendUnit(message.unit);
      break;
  }
}

// ---- the fuzzing --------------------------------------------------------------------------------

describe('relay under fuzzed clients (real process, loopback)', () => {
  it('agent socket: random and mutated frames and messages never crash or stall the relay', { timeout }, async (t) => {
    await checkProperty(
      t,
      'relay agent socket',
      fc.asyncProperty(agentSession, async ({ hello, messages, lead, oversize }) => {
        const agent = await ScriptedAgent.connect(relay.wsUrl, cameraB.credential, { hello });
        // With hello, the relay has taken the camera over once it sends the viewer count.
        if (hello) await agent.waitFor((m) => m.type === 'demand', ANSWER_MS);
        if (lead) agent.sendUnit(videoUnits[0]!);
        for (const message of messages) send(agent.ws, message, agent);
        if (oversize) send(agent.ws, { kind: 'oversize' }, agent);
        await settled(agent.ws, 'agent socket');
        await closeAndWait(agent.ws);
        await stillServing();
      }),
      30,
      { endOnFailure: true },
    );
  });

  it('viewer socket: random and mutated messages never crash or stall the relay', { timeout }, async (t) => {
    await checkProperty(
      t,
      'relay viewer socket',
      fc.asyncProperty(fc.array(viewerMessage, { minLength: 1, maxLength: 5 }), fc.boolean(), async (messages, onA) => {
        const viewer = await WsViewer.connect(relay.wsUrl, onA ? cameraA.id : cameraB.id, fuzzToken, { ack: false });
        for (const message of messages) send(viewer.ws, message);
        await settled(viewer.ws, 'viewer socket');
        await closeAndWait(viewer.ws);
        await stillServing();
      }),
      25,
      { endOnFailure: true },
    );
  });

  it('raw bytes after the WebSocket upgrade (both endpoints) are refused without a hang', { timeout }, async (t) => {
    /** WebSocket frames from a client (masked), then mutated: bad opcodes, lengths, reserved bits, unmasked. */
    const wsFrame = fc
      .record({ opcode: fc.constantFrom(0, 1, 2, 8, 9, 10, 3, 11, 15), fin: fc.boolean(), payload: fc.uint8Array({ maxLength: 200 }) })
      .map(({ opcode, fin, payload }) => {
        const mask = randomBytesFixed(4);
        const head = payload.length < 126 ? [(fin ? 0x80 : 0) | opcode, 0x80 | payload.length] : [(fin ? 0x80 : 0) | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff];
        return Uint8Array.from([...head, ...mask, ...payload.map((b, i) => b ^ mask[i % 4]!)]);
      })
      .chain((frame) => mutatedBytes([frame], { maxMutations: 3, tokens: [Uint8Array.of(0xff), Uint8Array.of(0x7f), Uint8Array.of(0x80), Uint8Array.of(0x88, 0x80)] }));
    await checkProperty(
      t,
      'relay raw WebSocket bytes',
      fc.asyncProperty(fc.array(wsFrame, { minLength: 1, maxLength: 4 }), fc.boolean(), async (frames, agentEndpoint) => {
        const socket = await rawUpgrade(agentEndpoint);
        for (const frame of frames) socket.write(frame);
        socket.end();
        await socketClosed(socket, 'raw WebSocket bytes');
        await stillServing();
      }),
      20,
      { endOnFailure: true },
    );
  });

  it('upgrade requests with mutated credentials, tokens, cookies and paths get a 4xx or a socket, never a 5xx', { timeout }, async (t) => {
    /** Printable ASCII mutations of a string (HTTP header values cannot carry the rest). */
    const mutatedText = (text: string) =>
      mutatedBytes([Buffer.from(text)], { maxMutations: 3, tokens: ['.', ',', ' ', '%', '=', ';', 'A'.repeat(300)].map((x) => Buffer.from(x)) }).map((b) =>
        Buffer.from(b.map((c) => (c < 0x20 || c > 0x7e ? 0x41 + (c % 26) : c))).toString('latin1'),
      );
    const upgradeRequest = fc.record({
      agent: fc.boolean(),
      authorization: fc.option(mutatedText(`Bearer ${cameraB.credential}`)),
      protocol: fc.option(mutatedText(`picam.v1, picam.token.${fuzzToken}`)),
      cookie: fc.option(mutatedText(`picam_session=${fuzzToken}; other=1`)),
      origin: fc.option(fc.constantFrom(relay.url, 'https://evil.example', 'null', '')),
      path: mutatedText(`/api/cameras/${cameraA.id}/live?token=${fuzzToken}`),
    });
    const statuses = new Map<number, number>();
    await checkProperty(
      t,
      'relay upgrade requests',
      fc.asyncProperty(upgradeRequest, async (r) => {
        const headers: Record<string, string> = {};
        if (r.authorization !== null) headers.Authorization = r.authorization;
        if (r.protocol !== null) headers['Sec-WebSocket-Protocol'] = r.protocol;
        if (r.cookie !== null) headers.Cookie = r.cookie;
        if (r.origin !== null) headers.Origin = r.origin;
        // Node's client refuses a path with a space in it: escaped, the relay still sees the mutation.
        const mutatedPath = r.path.replaceAll(' ', '%20');
        const path = r.agent ? '/api/agent' : mutatedPath.startsWith('/') ? mutatedPath : `/${mutatedPath}`;
        const status = await upgradeStatus(path, headers);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.ok(status === 101 || (status >= 400 && status < 500), `upgrade of ${path.slice(0, 80)}: HTTP ${status}`);
        await stillServing();
      }),
      30,
      { endOnFailure: true },
    );
    t.diagnostic(`upgrade answers: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${n}x ${s}`).join(', ')}`);
  });

  it('HTTP: random bodies to the JSON API and malformed requests get a 4xx or a closed connection', { timeout }, async (t) => {
    // Not /api/auth/login or /api/users: a well-formed body costs a real scrypt hash (128 MiB, most of a
    // second); those bodies are fuzzed in process with a cheap hash (src/routes/body.fuzz.test.ts).
    const routes = [
      { method: 'POST', path: () => '/api/cameras', token: true, example: { name: 'new camera' } },
      { method: 'PATCH', path: () => `/api/cameras/${cameraB.id}`, token: true, example: { name: 'fuzzed', settings: { framerate: 25 } } },
      { method: 'POST', path: () => `/api/cameras/${cameraB.id}/shares`, token: true, example: { expiresIn: 600, label: 'x', maxViewers: 2 } },
      { method: 'POST', path: () => '/api/enroll', token: false, example: { token: 'no-such-token' } },
      { method: 'DELETE', path: () => '/api/cameras/%00%ff..%2f', token: true, example: {} },
      { method: 'GET', path: () => `/api/cameras/${'x'.repeat(5000)}`, token: true, example: {} },
    ];
    const apiRequest = fc.nat({ max: routes.length - 1 }).chain((route) =>
      fc.record({
        route: fc.constant(route),
        // Mostly mutants of the route's own body; sometimes one over the 16 KiB cap.
        body: fc.oneof({ weight: 10, arbitrary: jsonTextMutants([routes[route]!.example]) }, { weight: 1, arbitrary: fc.constant('x'.repeat(20_000)) }),
        contentType: fc.constantFrom('application/json', 'text/plain', 'application/octet-stream'),
      }),
    );
    const malformed = fc.oneof(
      mutatedBytes([Buffer.from('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}')], {
        maxMutations: 4,
        tokens: ['\r\n', ':', ' ', '\0', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 99999999999\r\n'].map((s) => Buffer.from(s)),
      }),
      fc.uint8Array({ maxLength: 200 }),
    );
    await checkProperty(
      t,
      'relay HTTP',
      fc.asyncProperty(apiRequest, malformed, async (req, raw) => {
        const route = routes[req.route]!;
        const headers: Record<string, string> = { 'content-type': req.contentType };
        if (route.token) headers.authorization = `Bearer ${fuzzToken}`;
        const res = await fetch(`${relay.url}${route.path()}`, {
          method: route.method,
          headers,
          body: route.method === 'GET' ? undefined : req.body,
          signal: AbortSignal.timeout(ANSWER_MS),
        });
        const text = await res.text();
        assert.ok(res.status < 500, `${route.method} ${route.path().slice(0, 60)}: ${res.status} ${text.slice(0, 200)}`);
        // A malformed request on its own connection: an HTTP 400 or a closed socket, never a hang.
        const socket = connect(relay.port, '127.0.0.1');
        socket.on('error', () => {});
        socket.on('data', () => {});
        socket.end(raw);
        await socketClosed(socket, 'malformed HTTP request');
        await stillServing();
      }),
      40,
      { endOnFailure: true },
    );
  });

  it('afterwards: the good viewer is still watching, the fuzzed camera’s viewer got only well-formed frames, no error logged, memory steady', async (t) => {
    await stillServing();
    assert.equal(goodViewer.ws.readyState, WebSocket.OPEN, 'the good viewer was never disconnected');
    // Every input above waited for one more frame. A skip is allowed only as the relay's answer to a
    // viewer that fell behind (a test process starved on a loaded machine): it resumes at a keyframe.
    const frames = goodViewer.videoFrames();
    let skips = 0;
    for (let i = 1; i < frames.length; i++) {
      if (sequenceDistance(frames[i - 1]!.header.sequence, frames[i]!.header.sequence) === 1) continue;
      skips++;
      assert.ok(frames[i]!.header.keyframe, `frame ${i} after a gap is not a keyframe`);
    }
    assert.deepEqual(watcherB.problems, [], 'viewers of the fuzzed camera get only well-formed frames and messages');
    assert.equal(watcherB.ws.readyState, WebSocket.OPEN, 'the fuzzed camera’s viewer stayed connected');
    const errors = relay.output().split('\n').filter((line) => /"level":(50|60)/.test(line));
    assert.deepEqual(errors, [], 'the relay logged no error');
    const rssAfter = rssBytes(relay.child.pid!);
    t.diagnostic(`good viewer: ${frames.length} frames, ${skips} skip(s) to a keyframe; fuzzed camera's viewer: ${watcherB.frames} frames; relay RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(rssAfter < rssBefore + 150 * 2 ** 20, `relay RSS grew from ${rssBefore} to ${rssAfter} bytes`);
  });
});

// ---- raw sockets ----------------------------------------------------------------------------------

function randomBytesFixed(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

/** A WebSocket upgrade done by hand, so the bytes after it can be anything. */
function rawUpgrade(agentEndpoint: boolean): Promise<Socket> {
  const headers: Record<string, string> = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
  };
  if (agentEndpoint) headers.Authorization = `Bearer ${cameraB.credential}`;
  else headers['Sec-WebSocket-Protocol'] = `picam.v1, picam.token.${fuzzToken}`;
  const path = agentEndpoint ? '/api/agent' : `/api/cameras/${cameraA.id}/live`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: relay.port, path, headers });
    req.on('upgrade', (_res, socket: Socket) => {
      socket.on('error', () => {});
      socket.on('data', () => {});
      resolve(socket);
    });
    req.on('response', (res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends an upgrade request; resolves with 101 (then closes the socket) or the refusal's status. */
function upgradeStatus(path: string, extra: Record<string, string>): Promise<number> {
  const headers = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64'), ...extra };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`upgrade of ${path.slice(0, 80)}: no answer in ${ANSWER_MS} ms`));
    }, ANSWER_MS);
    const req = httpRequest({ host: '127.0.0.1', port: relay.port, path, headers });
    req.on('upgrade', (_res, socket: Socket) => {
      clearTimeout(timer);
      socket.on('error', () => {});
      socket.destroy();
      resolve(101);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

function socketClosed(socket: Socket, what: string): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${what}: the relay kept the connection open ${ANSWER_MS} ms after the client finished`));
    }, ANSWER_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
