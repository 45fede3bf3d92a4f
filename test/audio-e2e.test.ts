import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DEFAULT_CAMERA_SETTINGS, readFrameHeader } from '@picam/protocol';
import { AgentProcess, REPO_ROOT, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { startRelayProcess } from './helpers/relay-process.ts';
import { WsViewer } from './helpers/ws-viewer.ts';

/**
 * Sound with the picture, across real processes: relay (child process) <- agent (child process:
 * fake rpicam-vid + fake audio encoder, two independent real-time sources stamped on the agent's
 * one clock) -> a WebSocket viewer.
 */

const FAKE_AUDIO = join(REPO_ROOT, 'test', 'fake-camera', 'fake-audio');
const AUDIO_FRAME_MS = (1024 * 1000) / 48000;
/** Sampling interval of the event-loop stall control (its readings include it). */
const LOOP_RESOLUTION_MS = 10;

interface Arrival {
  track: number;
  sequence: number;
  captureUs: number;
  catchUp: boolean;
  /** performance.now() in this process when the message arrived */
  at: number;
}

async function setup(t: TestContext, agentEnv: NodeJS.ProcessEnv = {}) {
  const relay = await startRelayProcess();
  t.after(() => relay.stop());
  const camera = await relay.createCamera('with sound');
  const dir = mkdtempSync(join(tmpdir(), 'picam-audio-e2e-'));
  const config = join(dir, 'config.json');
  // The fake camera's own record of when it wrote each frame: the control for gap assertions.
  const cameraWriteLog = join(dir, 'camera-writes.log');
  agentEnv = { FAKE_CAMERA_WRITE_LOG: cameraWriteLog, ...agentEnv };
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: camera.id, credential: camera.credential, settings: DEFAULT_CAMERA_SETTINGS }));
  const env = cleanAgentEnv(envWithFakeCamera(agentEnv));
  delete env.PICAM_AUDIO_COMMAND;
  const agent = new AgentProcess(['run', '--config', config, '--tuning', TEST_TUNING, '--audio', '--audio-command', FAKE_AUDIO], env);
  t.after(() => agent.stop('SIGKILL'));
  await agent.waitForLog((r) => r.msg === 'audio format', 20_000, 'the first audio frame');
  const viewer = await WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken);
  t.after(() => viewer.close());
  // Arrival times, in order, beside the helper's own record.
  const arrivals: Arrival[] = [];
  viewer.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    const h = readFrameHeader(data);
    arrivals.push({ track: h.track, sequence: h.sequence, captureUs: h.captureTimeUs, catchUp: h.catchUp, at: performance.now() });
  });
  return { relay, agent, viewer, arrivals, cameraWriteLog };
}

/** The fake camera's write times (epoch ms), one per frame in the order written ("<index> <loop> <epoch µs>" lines). */
function cameraWrites(path: string): number[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => Number(line.split(' ')[2]) / 1000);
}

const live = (arrivals: Arrival[], track: number) => arrivals.filter((a) => a.track === track && !a.catchUp);

function assertMonotonic(frames: Arrival[], label: string): void {
  for (let i = 1; i < frames.length; i++) {
    assert.ok(frames[i]!.captureUs > frames[i - 1]!.captureUs, `${label}: capture time increases at ${i}`);
    assert.equal(frames[i]!.sequence, (frames[i - 1]!.sequence + 1) >>> 0, `${label}: sequence continues at ${i}`);
  }
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

test('both tracks arrive, audio announced in init, per-track monotonic, audio/video skew under 50 ms', async (t) => {
  const { viewer, arrivals } = await setup(t);
  await viewer.until(
    () => live(arrivals, 1).length >= 120 && live(arrivals, 2).length >= 180,
    30_000,
    '4 s of live video and audio',
  );
  const inits = viewer.messages().filter((m) => m.type === 'init');
  assert.ok(inits.length >= 1, 'init sent');
  assert.deepEqual(inits.at(-1)!.type === 'init' && inits.at(-1)!.audio, { codec: 'mp4a.40.2', sampleRate: 48000, channels: 1 });

  const video = live(arrivals, 1);
  const audio = live(arrivals, 2);
  assertMonotonic(video, 'video');
  assertMonotonic(audio, 'audio');
  // The whole stream as sent, catch-up included, never goes back in time per track either.
  for (const track of [1, 2]) {
    const all = arrivals.filter((a) => a.track === track);
    for (let i = 1; i < all.length; i++) assert.ok(all[i]!.captureUs > all[i - 1]!.captureUs, `track ${track} with catch-up, at ${i}`);
  }
  // Audio capture times advance like the sound: 1024 samples at 48 kHz per frame, gapless.
  const steps = audio.slice(1).map((a, i) => (a.captureUs - audio[i]!.captureUs) / 1000);
  assert.ok(quantile(steps, 0.5) > AUDIO_FRAME_MS - 0.5 && quantile(steps, 0.5) < AUDIO_FRAME_MS + 0.5, `median audio step ${quantile(steps, 0.5)} ms`);

  // Skew 1: each video frame against the audio frames that arrived just before and just after it.
  const skewsMs: number[] = [];
  for (let i = 0, a = -1; i < arrivals.length; i++) {
    const frame = arrivals[i]!;
    if (frame.catchUp) continue;
    if (frame.track === 2) {
      a = i;
      continue;
    }
    const before = a >= 0 ? arrivals[a] : undefined;
    const after = arrivals.slice(i + 1).find((x) => x.track === 2 && !x.catchUp);
    // Audio frames last 21.3 ms: only a video frame with audio on both sides has a fair neighbour.
    if (before === undefined || after === undefined) continue;
    skewsMs.push(Math.min(Math.abs(frame.captureUs - before.captureUs), Math.abs(frame.captureUs - after.captureUs)) / 1000);
  }
  // Skew 2: capture-to-arrival delay of each track (medians): equal clocks give equal delays,
  // apart from the audio stamp marking the start of a frame's 21.3 ms of sound.
  const delayMs = (frames: Arrival[]) => quantile(frames.map((f) => performance.timeOrigin + f.at - f.captureUs / 1000), 0.5);
  const offsetMs = delayMs(audio) - delayMs(video);
  const maxSkew = Math.max(...skewsMs);
  t.diagnostic(
    `skew video vs nearest audio by arrival: p50 ${quantile(skewsMs, 0.5).toFixed(1)} ms, p95 ${quantile(skewsMs, 0.95).toFixed(1)} ms, max ${maxSkew.toFixed(1)} ms; ` +
      `delay audio - video (median) ${offsetMs.toFixed(1)} ms; ${video.length} video, ${audio.length} audio frames`,
  );
  // p95, not max: pairing by arrival order turns one frame held up by the scheduler of this loaded
  // 2-core machine (both sources are real-time processes) into a one-off "skew" of the pairing, not
  // of the timestamps; the median delay difference below is the clock-level check.
  const p95Skew = quantile(skewsMs, 0.95);
  assert.ok(p95Skew < 50, `video/audio capture-time skew p95 ${p95Skew.toFixed(1)} ms (max ${maxSkew.toFixed(1)} ms)`);
  assert.ok(Math.abs(offsetMs) < 50, `delay difference ${offsetMs.toFixed(1)} ms`);
});

test('an audio source that keeps dying is restarted while the video flows on without a gap', async (t) => {
  // Every audio process writes 50 frames (~1.07 s), then exits 1 like a lost USB microphone.
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loopDelay.enable();
  const { agent, viewer, arrivals, cameraWriteLog } = await setup(t, { FAKE_AUDIO_DIE_AFTER: '50' });
  const deaths = () => agent.logs.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('audio exited')).length;
  await agent.waitForLog(() => deaths() >= 2, 30_000, 'two audio deaths');
  const afterSecondDeath = performance.now();
  // Audio comes back after the second death too.
  await viewer.until(() => arrivals.some((a) => a.track === 2 && !a.catchUp && a.at > afterSecondDeath + 50), 15_000, 'audio resumed');
  await viewer.until(() => live(arrivals, 1).filter((v) => v.at > afterSecondDeath).length >= 30, 15_000, 'a second of video after');

  const video = live(arrivals, 1);
  const audio = live(arrivals, 2);
  assertMonotonic(video, 'video');
  assertMonotonic(audio, 'audio');
  // Two controls measured in this run. The fake camera's own record of when it wrote each frame (it
  // was started once, so the agent's video sequence numbers count its writes from 0): a gap its
  // writing already had is the machine's, not the product's. And, for arrival times, this process's
  // own event-loop stalls: a frame it could not read for 200 ms arrived on time all the same.
  loopDelay.disable();
  const loopStallMs = Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS);
  // The camera logs a write once it returns: a busy machine can deliver the frame first.
  await viewer.until(() => video.at(-1)!.sequence < cameraWrites(cameraWriteLog).length, 5000, 'the camera logging every frame the viewer got');
  const writes = cameraWrites(cameraWriteLog);
  const writeGapMs = (i: number) => writes[video[i + 1]!.sequence]! - writes[video[i]!.sequence]!;
  const arrivalExcessMs = Math.max(...video.slice(1).map((v, i) => v.at - video[i]!.at - writeGapMs(i)));
  const captureExcessMs = Math.max(...video.slice(1).map((v, i) => (v.captureUs - video[i]!.captureUs) / 1000 - writeGapMs(i)));
  const maxWriteGapMs = Math.max(...video.slice(1).map((_, i) => writeGapMs(i)));
  const audioGapsMs = audio.slice(1).map((a, i) => (a.captureUs - audio[i]!.captureUs) / 1000).filter((g) => g > 150);
  const figures =
    `audio restarts seen: ${deaths()}, audio capture gaps ${audioGapsMs.map((g) => g.toFixed(0)).join(', ')} ms; video: ${video.length} frames, ` +
    `camera's own max write gap ${maxWriteGapMs.toFixed(1)} ms; gaps beyond it: arrival ${arrivalExcessMs.toFixed(1)} ms, capture ${captureExcessMs.toFixed(1)} ms; ` +
    `this process's longest stall ${loopStallMs.toFixed(1)} ms`;
  t.diagnostic(figures);
  assert.ok(audioGapsMs.length >= 2, 'the audio stream shows the restarts as gaps');
  // No frame lost is asserted above (sequences continue); here: no hold-up a viewer would see.
  assert.ok(captureExcessMs < 150, `video capture gap ${captureExcessMs.toFixed(1)} ms longer than the camera's own write gap (${figures})`);
  assert.ok(arrivalExcessMs < 150 + loopStallMs, `video arrival gap ${arrivalExcessMs.toFixed(1)} ms longer than the camera's own write gap (${figures})`);
  // Audio failures touch neither the camera nor the connection.
  assert.equal(agent.logs.filter((r) => r.msg === 'starting the camera').length, 1, 'the camera was started once');
  assert.equal(agent.logs.filter((r) => r.msg === 'connected to the relay').length, 1, 'one connection');
  assert.ok(agent.logs.some((r) => r.msg === 'audio running' && typeof r.startupMs === 'number'));
});
