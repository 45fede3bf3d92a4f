import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { RelayChild, adminLogin, createCamera, httpJson } from './helpers/proxies.ts';

/**
 * 200 viewers joining and leaving in a loop against one live camera for PICAM_CHURN_SECONDS
 * (default 60): the relay's memory (process_resident_memory_bytes) and open descriptors stay flat
 * (second half against first half, generous bounds), and once everyone has left the viewer gauge
 * is back to 0 and the descriptors back near where they started.
 */

const SECONDS = Number(process.env.PICAM_CHURN_SECONDS ?? 60);
const SLOTS = Number(process.env.PICAM_CHURN_VIEWERS ?? 200);
const SAMPLE_MS = 1_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** One viewer visit: connect, wait for the init and `frames` frames, leave. Resolves either way. */
function visit(url: string, token: string, frames: number): Promise<'ok' | 'failed'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['picam.v1', `picam.token.${token}`], { perMessageDeflate: false, handshakeTimeout: 5_000 });
    let seen = 0;
    let init = false;
    const guard = setTimeout(() => ws.terminate(), 10_000);
    ws.on('message', (_data, isBinary) => {
      if (!isBinary) init = true;
      else if (++seen >= frames && init) ws.close(1000);
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      clearTimeout(guard);
      resolve(init && seen >= frames ? 'ok' : 'failed');
    });
  });
}

test(`${SLOTS} viewers churning for ${SECONDS} s: relay RSS and fds flat, all released at the end`, { timeout: (SECONDS + 90) * 1000 }, async (t) => {
  const relay = await RelayChild.start();
  t.after(async () => {
    await relay.stop('SIGKILL');
    relay.removeData();
  });
  const adminToken = await adminLogin(relay.url);
  const camera = await createCamera(relay.url, adminToken, 'churn');
  const enrolled = await httpJson('POST', `${relay.url}/api/enroll`, { body: { token: camera.enrollmentToken } });
  const dir = mkdtempSync(join(tmpdir(), 'picam-churn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: camera.id, credential: enrolled.json.credential, settings: { ...DEFAULT_CAMERA_SETTINGS, width: 640, height: 480 } }));
  const agent = new AgentProcess(['run', '--config', config, '--tuning', TEST_TUNING], cleanAgentEnv(envWithFakeCamera()));
  t.after(() => agent.stop('SIGKILL'));

  const url = `${relay.url.replace(/^http/, 'ws')}/api/cameras/${camera.id}/live`;
  // The stream is up before the churn starts (one visit sees live frames).
  for (let i = 0; i < 30 && (await visit(url, adminToken, 40)) !== 'ok'; i++);
  const baselineFds = relay.fdCount();

  const samples: Array<{ at: number; rss: number; fds: number }> = [];
  let ok = 0;
  let failed = 0;
  const started = Date.now();
  const endAt = started + SECONDS * 1000;
  const sampler = setInterval(() => {
    void relay.metric('process_resident_memory_bytes').then((rss) => {
      if (rss !== undefined && relay.running) samples.push({ at: Date.now() - started, rss, fds: relay.fdCount() });
    });
  }, SAMPLE_MS);
  // Each slot: join, watch a few frames (catch-up GOP plus a little live), leave, again.
  await Promise.all(
    Array.from({ length: SLOTS }, async (_v, slot) => {
      while (Date.now() < endAt) {
        const result = await visit(url, adminToken, 20 + (slot % 20));
        if (result === 'ok') ok++;
        else failed++;
      }
    }),
  );
  clearInterval(sampler);
  assert.ok(relay.running, `the relay died:\n${relay.output()}`);

  const half = (SECONDS * 1000) / 2;
  // Skip the first 10 % (JIT, heap growth to its working size) before comparing halves.
  const first = samples.filter((s) => s.at >= half * 0.2 && s.at < half);
  const second = samples.filter((s) => s.at >= half);
  assert.ok(first.length >= 3 && second.length >= 3, `samples: ${samples.length}`);
  const mb = (b: number) => Math.round(b / 1048576);
  const report = `visits ok ${ok}, failed ${failed}; RSS MB first half median ${mb(median(first.map((s) => s.rss)))}, second ${mb(median(second.map((s) => s.rss)))} (max ${mb(Math.max(...samples.map((s) => s.rss)))}); fds baseline ${baselineFds}, first ${median(first.map((s) => s.fds))}, second ${median(second.map((s) => s.fds))}`;
  t.diagnostic(report);
  process.stderr.write(`churn: ${report}\n`);

  assert.ok(ok > SLOTS * 2, `few complete visits: ${report}`);
  assert.ok(failed <= ok * 0.02, `too many failed visits: ${report}`);
  const rssFirst = median(first.map((s) => s.rss));
  const rssSecond = median(second.map((s) => s.rss));
  assert.ok(rssSecond <= rssFirst * 1.3 + 20 * 1048576, `RSS grew: ${report}`);
  const fdFirst = median(first.map((s) => s.fds));
  const fdSecond = median(second.map((s) => s.fds));
  assert.ok(fdSecond <= fdFirst + SLOTS * 0.25 + 20, `fds grew: ${report}`);

  // Everyone gone: the gauge at 0 and the descriptors back near the start (bounded wait: closes are async).
  const deadline = Date.now() + 10_000;
  let viewers: number | undefined;
  let fds = relay.fdCount();
  while (Date.now() < deadline) {
    viewers = (await httpJson('GET', `${relay.url}/healthz`)).json.viewers as number;
    fds = relay.fdCount();
    if (viewers === 0 && fds <= baselineFds + 10) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(viewers, 0, 'viewers left over');
  assert.ok(fds <= baselineFds + 10, `fds after the churn ${fds}, before ${baselineFds}`);
});
