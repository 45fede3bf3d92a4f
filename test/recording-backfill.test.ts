import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { AccessUnitSplitter, BACKFILL_MAX_LEAD_US, FrameFlag, Track, clipPath, encodeFrame, recordingsPath, type RecordingSpans, type TimeRange } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.ts';
import { ScriptedAgent } from './helpers/scripted-agent.ts';
import { TcpProxy, type TcpProxyOptions } from './helpers/tcp-proxy.ts';
import { WsViewer } from './helpers/ws-viewer.ts';

/**
 * Issue #16's edge backfill, end to end with real parts: the relay (recording), the agent and the
 * fake camera, the agent's link going through a TCP proxy that the test cuts for 20 s. Once the
 * agent is back, the recording has no gap over the cut, and the clip over the cut holds every frame
 * the camera wrote, in order (the camera's write log says which frame of its clip it wrote when;
 * the clip's frames are matched to those by their slice bytes). A live viewer connected all along
 * never gets a backfill frame, nor any frame from inside the cut.
 */

const CUT_MS = 20_000;
const CLIP = '640x480-baseline.h264';

/** The slice NAL units (types 1 and 5) of an Annex-B access unit: what identifies a picture, apart from any SPS/PPS/SEI around it. */
function sliceKey(unit: Uint8Array): string {
  const hash = createHash('sha1');
  let slices = 0;
  for (const nal of nalUnits(unit)) {
    const type = (nal[0] ?? 0) & 0x1f;
    if (type === 1 || type === 5) {
      hash.update(nal);
      slices += 1;
    }
  }
  return slices === 0 ? '' : hash.digest('hex');
}

function nalUnits(bytes: Uint8Array): Uint8Array[] {
  const starts: Array<{ at: number; code: number }> = [];
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) {
      starts.push({ at: i, code: 3 });
      i += 2;
    }
  }
  return starts.map((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1]!.at : bytes.length;
    // A 4-byte start code's leading zero belongs to the next start code, not to this NAL.
    while (end > s.at + s.code && bytes[end - 1] === 0) end -= 1;
    return bytes.subarray(s.at + s.code, end);
  });
}

function accessUnits(bytes: Uint8Array): Array<{ data: Uint8Array; keyframe: boolean }> {
  const splitter = new AccessUnitSplitter();
  return [...splitter.push(bytes), ...splitter.flush()].map((u) => ({ data: u.data, keyframe: u.keyframe }));
}

interface Written {
  index: number;
  loop: number;
  atUs: number;
}

function readWriteLog(path: string): Written[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [index, loop, atUs] = line.trim().split(/\s+/).map(Number);
      return { index: index!, loop: loop!, atUs: atUs! };
    });
}

async function spans(relay: RelayProcess, cameraId: string, from: number, to: number): Promise<TimeRange[]> {
  const res = await relay.api('GET', recordingsPath(cameraId, from, to), undefined, relay.adminToken);
  assert.equal(res.status, 200, `recordings: ${JSON.stringify(res.json)}`);
  return (res.json as RecordingSpans).spans;
}

/** Polls `check` until it returns a value (every 250 ms; the relay's state changes by itself), or fails after timeoutMs. */
async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(250);
  }
}

async function setUp(t: TestContext, proxyOptions: TcpProxyOptions = {}) {
  const relay = await startRelayProcess({ RECORD_DEFAULT: 'continuous', LOG_LEVEL: 'info' });
  t.after(() => relay.stop());
  const camera = await relay.createCamera('backfill');
  const patched = await relay.api('PATCH', `/api/cameras/${camera.id}`, { settings: { width: 640, height: 480, framerate: 30, intra: 30 } }, relay.adminToken);
  assert.equal(patched.status, 200, JSON.stringify(patched.json));
  const proxy = await TcpProxy.start(relay.port, '127.0.0.1', proxyOptions);
  t.after(() => proxy.close());
  const dir = mkdtempSync(join(tmpdir(), 'picam-backfill-'));
  const writeLog = join(dir, 'camera-writes.log');
  writeFileSync(writeLog, '');
  const agent = new AgentProcess(
    ['run', '--config', join(dir, 'none.json'), '--relay', `http://127.0.0.1:${proxy.port}`, '--width', '640', '--height', '480', '--tuning', TEST_TUNING],
    {
      ...cleanAgentEnv(envWithFakeCamera({ FAKE_CAMERA_WRITE_LOG: writeLog, FAKE_CAMERA_CLIP: join(import.meta.dirname, 'fixtures/clips', CLIP) })),
      PICAM_DEVICE_TOKEN: camera.credential,
    },
  );
  t.after(() => agent.stop('SIGKILL'));
  return { relay, cameraId: camera.id, proxy, agent, dir, writeLog };
}

test('a 20 s cut of the agent\'s link leaves no gap in the recording; the clip over it holds every frame the camera wrote, in order; live viewers never see backfill', { timeout: 150_000 }, async (t) => {
  const { relay, cameraId, proxy, agent, dir, writeLog } = await setUp(t);
  const startedAt = Date.now();

  // Recording before the cut.
  await until(async () => {
    const s = await spans(relay, cameraId, startedAt - 60_000, Date.now() + 60_000);
    return s.some((span) => span.end - span.start >= 4_000) ? s : undefined;
  }, 40_000, 'four seconds recorded before the cut').catch(async (err: Error) => {
    const s = await spans(relay, cameraId, startedAt - 60_000, Date.now() + 60_000);
    throw new Error(`${err.message}: spans ${JSON.stringify(s)}; agent: ${agent.logs.slice(-8).map((r) => r.msg).join(' | ')} ${agent.stderr.slice(-5).join(' | ')}\n${relay.output().slice(-3000)}`);
  });

  // A viewer straight on the relay (not through the cut link), all along.
  const viewer = await WsViewer.connect(relay.wsUrl, cameraId, relay.adminToken);
  t.after(() => viewer.ws.terminate());
  const arrivals = liveVideoArrivals(viewer);

  await until(() => (arrivals.length >= 60 ? true : undefined), 10_000, 'two seconds of live pictures for the viewer');

  const cutAt = Date.now();
  proxy.cut();
  await agent.waitForLog((r) => r.msg === 'relay connection lost, reconnecting', 10_000, 'the agent noticing the cut');
  // The cut itself: the camera keeps writing for 20 s that nothing can send.
  await delay(CUT_MS);
  const restoredAt = Date.now();
  proxy.restore();

  const done = await agent.waitForLog((r) => r.msg === 'backfill done', 60_000, 'the agent finishing its backfill run');
  assert.equal(done.complete, true, 'the ring reached back to the end of the recording');
  assert.ok((done.frames as number) >= (CUT_MS / 1000) * 30 * 0.9, `${String(done.frames)} frames backfilled for a ${CUT_MS / 1000} s cut`);
  // The agent logs the end once its last frame is in its socket: the relay counts it a moment later.
  const took = async () => relay.metric('picam_backfill_frames_in_total', { camera: cameraId });
  await until(async () => ((await took()) === done.frames ? true : undefined), 5_000, 'the relay taking every frame the agent sent').catch(async (err: Error) => {
    throw new Error(`${err.message}: the agent sent ${String(done.frames)}, the relay counted ${String(await took())}`);
  });
  // The agent sent every frame the camera wrote in the range: from its start keyframe up to the live
  // keyframe at toUs. The agent stamps a frame when it has read it, after the camera wrote it: each is
  // the camera's last write at or before its stamp.
  const started = agent.logs.find((r) => r.msg === 'backfill started')!;
  const writes = readWriteLog(writeLog);
  const writeAt = (stampUs: number) => writes.findLastIndex((w) => w.atUs <= stampUs);
  assert.equal(done.videoFrames, writeAt(started.toUs as number) - writeAt(started.startUs as number), 'the agent sent every video frame the camera wrote in the range asked for');
  const runSeconds = done.seconds as number;
  t.diagnostic(`backfill: ${String(done.frames)} frames, ${String(done.bytes)} bytes in ${runSeconds} s for a ${CUT_MS / 1000} s cut`);

  // The viewer: no frame flagged backfill, and nothing captured inside the cut (those frames only exist as backfill).
  const frames = viewer.events.filter((e) => e.kind === 'frame');
  assert.ok(frames.length > 0, 'the viewer got live frames');
  assert.equal(frames.filter((e) => e.header.backfill).length, 0, 'no backfill frame reached a live viewer');
  const inCut = frames.filter((e) => e.header.track === Track.Video && e.header.captureTimeUs / 1000 > cutAt + 1_000 && e.header.captureTimeUs / 1000 < restoredAt - 1_000);
  assert.equal(inCut.length, 0, `${inCut.length} frames from inside the cut reached the live viewer`);
  const afterRestore = frames.filter((e) => e.header.captureTimeUs / 1000 > restoredAt);
  assert.ok(afterRestore.length > 0, 'live video resumed for the viewer');

  // Live latency while the backfill ran, against the same viewer's before the cut (the control).
  const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)] ?? Number.NaN;
  const control = arrivals.filter((a) => a.atMs < cutAt).map((a) => a.latencyMs);
  const during = arrivals.filter((a) => a.atMs >= (started.time as number) && a.atMs <= (done.time as number)).map((a) => a.latencyMs);
  t.diagnostic(`live latency p95: ${p95(control).toFixed(0)} ms before the cut (${control.length} frames), ${p95(during).toFixed(0)} ms during the backfill (${during.length} frames)`);
  assert.ok(during.length >= 30, `${during.length} live frames during the backfill`);
  assert.ok(p95(during) <= p95(control) + 150, `live latency p95 ${p95(during).toFixed(0)} ms during the backfill vs ${p95(control).toFixed(0)} ms before the cut`);

  // No gap over the cut: one span covers it, from before the cut to after the restore.
  const windowFrom = cutAt - 3_000;
  const windowTo = restoredAt + 3_000;
  const covering = await until(async () => {
    const s = await spans(relay, cameraId, windowFrom - 10_000, windowTo + 10_000);
    return s.find((span) => span.start <= windowFrom && span.end >= windowTo);
  }, 20_000, `one recorded span over ${windowFrom}..${windowTo} (cut at ${cutAt}, restored at ${restoredAt})`).catch(async (err: Error) => {
    throw new Error(`${err.message}: spans ${JSON.stringify(await spans(relay, cameraId, windowFrom - 10_000, windowTo + 10_000))}`);
  });
  assert.ok(covering);

  // The clip over the cut, read back by ffmpeg: every frame the camera wrote, in order, none twice.
  const clipFile = join(dir, 'clip.mp4');
  const res = await fetch(`${relay.url}${clipPath(cameraId, windowFrom, windowTo)}`, { headers: { authorization: `Bearer ${relay.adminToken}` } });
  assert.equal(res.status, 200, await res.clone().text());
  writeFileSync(clipFile, Buffer.from(await res.arrayBuffer()));
  const packets = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', clipFile], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => {
      const [pts, flags] = line.split(',');
      return { pts: Number(pts), key: (flags ?? '').includes('K') };
    });
  assert.ok(packets[0]?.key, 'the clip starts on a keyframe');
  const steps = packets.slice(1).map((p, i) => p.pts - packets[i]!.pts);
  assert.ok(steps.every((s) => s > 0), 'presentation times only go forward');
  // No hole is checked by content below (every frame the camera wrote, by its bytes), not by the
  // steps between presentation times: those are the agent's read-time stamps, and an agent starved
  // by a loaded machine reads (and stamps) a frame a few hundred ms late with nothing missing.

  const annexB = execFileSync('ffmpeg', ['-v', 'error', '-i', clipFile, '-map', '0:v:0', '-c', 'copy', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', '-'], { maxBuffer: 256 * 1024 * 1024 });
  const clipKeys = accessUnits(annexB).map((u) => sliceKey(u.data));
  assert.equal(clipKeys.length, packets.length, 'ffmpeg and ffprobe agree on the frame count');
  const sourceKeys = accessUnits(readFileSync(join(import.meta.dirname, 'fixtures/clips', CLIP))).map((u) => sliceKey(u.data));
  const written = readWriteLog(writeLog);
  // Where in the camera's writes the clip begins: the alignment whose every frame matches, nearest the clip's start.
  const candidates: number[] = [];
  for (let p = 0; p + clipKeys.length <= written.length; p++) {
    if (clipKeys.every((key, i) => sourceKeys[written[p + i]!.index] === key)) candidates.push(p);
  }
  if (candidates.length === 0) {
    // Say where the clip leaves the camera's order: the first frame that differs, in time relative to the cut.
    const startAt = written.findIndex((w) => sourceKeys[w.index] === clipKeys[0] && w.atUs / 1000 >= windowFrom - 2_000);
    const differs = clipKeys.findIndex((key, i) => sourceKeys[written[startAt + i]?.index ?? -1] !== key);
    const w = written[startAt + differs];
    const askedFor = agent.logs.find((r) => r.msg === 'backfill started');
    assert.fail(
      `the clip's ${clipKeys.length} frames are not a run of the ${written.length} frames the camera wrote, in order: from write ${startAt}, frame ${differs} of the clip differs ` +
        `(camera wrote frame ${w?.index} at cut ${w ? (w.atUs / 1000 - cutAt).toFixed(0) : '?'} ms, restore ${w ? (w.atUs / 1000 - restoredAt).toFixed(0) : '?'} ms; ` +
        `the clip has source frame ${sourceKeys.indexOf(clipKeys[differs] ?? '')}); backfill asked ${askedFor ? `${((askedFor.fromUs as number) / 1000 - cutAt).toFixed(0)}..${((askedFor.toUs as number) / 1000 - cutAt).toFixed(0)} ms from the cut` : 'never'}`,
    );
  }
  const start = candidates.reduce((best, p) => (Math.abs(written[p]!.atUs / 1000 - windowFrom) < Math.abs(written[best]!.atUs / 1000 - windowFrom) ? p : best));
  const first = written[start]!;
  const last = written[start + clipKeys.length - 1]!;
  assert.ok(first.atUs / 1000 <= cutAt, `the clip starts before the cut (${first.atUs / 1000} vs ${cutAt})`);
  assert.ok(last.atUs / 1000 >= restoredAt, `the clip ends after the restore (${last.atUs / 1000} vs ${restoredAt})`);
  t.diagnostic(`clip: ${clipKeys.length} frames, camera writes ${start}..${start + clipKeys.length - 1}, ${((last.atUs - first.atUs) / 1e6).toFixed(1)} s`);

});

/** A backfill-flagged copy of a clip unit, stamped `captureTimeUs`. */
function backfillFrame(unit: { data: Uint8Array; keyframe: boolean }, captureTimeUs: number): Uint8Array {
  return encodeFrame({ track: Track.Video, keyframe: unit.keyframe, catchUp: false, backfill: true, sequence: 0, captureTimeUs }, unit.data);
}

test('an agent cannot write history it was not asked for: unasked, out-of-range or mid-GOP backfill closes it with 1008', { timeout: 90_000 }, async (t) => {
  const relay = await startRelayProcess({ RECORD_DEFAULT: 'continuous' });
  t.after(() => relay.stop());
  const camera = await relay.createCamera('history');

  // Nothing asked yet (no live keyframe since hello): refused.
  const early = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
  await early.waitFor((m) => m.type === 'demand');
  early.sendRaw(backfillFrame(early.clip[0]!, Date.now() * 1000 - 5_000_000));
  assert.equal((await early.closed).code, 1008, 'a backfill frame nobody asked for');

  // Record a few seconds, then reconnect: the first live keyframe brings the relay's ask.
  const first = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
  await first.waitFor((m) => m.type === 'demand');
  await first.play(90);
  await until(async () => ((await spans(relay, camera.id, Date.now() - 60_000, Date.now() + 1_000)).length > 0 ? true : undefined), 10_000, 'a recorded span');
  await first.close();
  const gapMs = 2_000;
  await delay(gapMs); // the hole to be backfilled: time passing is the input here

  const asked = async () => {
    const agent = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
    await agent.waitFor((m) => m.type === 'demand');
    agent.sendUnit(agent.clip[0]!);
    const ask = await agent.waitFor((m) => m.type === 'backfill');
    assert.ok(ask.type === 'backfill');
    return { agent, ask };
  };
  const cases: Array<{ name: string; send: (a: ScriptedAgent, ask: { fromUs: number; toUs: number }) => void }> = [
    { name: 'a frame from long before the range', send: (a, ask) => a.sendRaw(backfillFrame(a.clip[0]!, ask.fromUs - BACKFILL_MAX_LEAD_US - 1_000_000)) },
    { name: 'a frame at or after the live keyframe', send: (a, ask) => a.sendRaw(backfillFrame(a.clip[0]!, ask.toUs)) },
    { name: 'a run that does not start on a keyframe', send: (a, ask) => a.sendRaw(backfillFrame(a.clip[1]!, ask.fromUs)) },
    {
      name: 'frames going back in time',
      send: (a, ask) => {
        a.sendRaw(backfillFrame(a.clip[0]!, ask.fromUs));
        a.sendRaw(backfillFrame(a.clip[1]!, ask.fromUs - 1_000));
      },
    },
    { name: 'backfill-done for another range', send: (a, ask) => a.sendRaw(JSON.stringify({ type: 'backfill-done', fromUs: ask.fromUs - 1, toUs: ask.toUs, frames: 0, complete: true }), false) },
  ];
  for (const [i, c] of cases.entries()) {
    const { agent, ask } = await asked();
    assert.ok(ask.type === 'backfill');
    // The first ask spans the hole; later ones the moment between two connections.
    if (i === 0) assert.ok(ask.toUs - ask.fromUs >= gapMs * 1000, `the ask spans the hole (${ask.fromUs}..${ask.toUs})`);
    c.send(agent, ask);
    const closed = await agent.closed;
    assert.equal(closed.code, 1008, `${c.name}: close code (reason "${closed.reason}")`);
  }
  assert.ok((await relay.metric('picam_agent_rejected_total', { reason: 'backfill' }))! >= cases.length + 1);
});

test('on a slow uplink the backfill yields to live video: live latency holds while it runs', { timeout: 150_000 }, async (t) => {
  // ~110 kB/s of live video through a 220 kB/s uplink: twice the live rate of backfill would not fit beside it.
  const { relay, cameraId, proxy, agent } = await setUp(t, { uplinkBytesPerSecond: 220_000, uplinkBufferBytes: 2 * 1024 * 1024 });
  await agent.waitForLog((r) => r.msg === 'connected to the relay', 30_000, 'the agent connected');
  const viewer = await WsViewer.connect(relay.wsUrl, cameraId, relay.adminToken);
  t.after(() => viewer.ws.terminate());
  const arrivals = liveVideoArrivals(viewer);
  await until(() => (arrivals.length >= 150 ? true : undefined), 30_000, 'five seconds of live pictures');
  const cutAt = Date.now();
  proxy.cut();
  await agent.waitForLog((r) => r.msg === 'relay connection lost, reconnecting', 10_000, 'the agent noticing the cut');
  await delay(10_000);
  proxy.restore();
  const started = await agent.waitForLog((r) => r.msg === 'backfill started', 30_000, 'the backfill run');
  const done = await agent.waitForLog((r) => r.msg === 'backfill done', 90_000, 'the backfill run to end');
  const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)] ?? Number.NaN;
  const control = arrivals.filter((a) => a.atMs < cutAt).map((a) => a.latencyMs);
  const during = arrivals.filter((a) => a.atMs >= (started.time as number) && a.atMs <= (done.time as number)).map((a) => a.latencyMs);
  t.diagnostic(
    `slow uplink: backfill ${String(done.frames)} frames in ${String(done.seconds)} s; live latency p95 ${p95(control).toFixed(0)} ms before the cut, ${p95(during).toFixed(0)} ms during the backfill (${during.length} frames)`,
  );
  assert.equal(done.complete, true);
  assert.ok(p95(during) <= p95(control) + 250, `live latency p95 ${p95(during).toFixed(0)} ms during the backfill vs ${p95(control).toFixed(0)} ms before the cut`);
});

/**
 * Capture -> viewer latency of each live picture the viewer gets, as it comes (one clock: agent,
 * relay and viewer share the machine). Catch-up frames (the GOP a joiner starts with) are old by
 * design: not live latency.
 */
function liveVideoArrivals(viewer: WsViewer): Array<{ atMs: number; latencyMs: number }> {
  const arrivals: Array<{ atMs: number; latencyMs: number }> = [];
  viewer.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data[1] !== Track.Video || ((data[2] ?? 0) & FrameFlag.CatchUp) !== 0) return;
    const now = Date.now();
    arrivals.push({ atMs: now, latencyMs: now - Number(data.readBigUInt64BE(8)) / 1000 });
  });
  return arrivals;
}
