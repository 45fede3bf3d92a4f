import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/browser.ts';
import { startStreamingCamera } from './helpers/camera-setup.ts';
import { AccessUnitSplitter } from '@picam/protocol';
import { clipFrameIndexes, consecutiveInLoop, decodeErrors, fetchClip, probeStreams, probeVideoFrames, spans, waitForSpans } from './helpers/recordings.ts';
import { startRelayProcess } from './helpers/relay-process.ts';

/**
 * Recording through the real relay, the real agent and the fake camera (with its fake microphone):
 * the spans grow while it records, clip.mp4 holds the frames of the range and plays through ffmpeg,
 * HTTP Range works, and only who may watch the camera may see its recording (or a clip link).
 */

// The fake camera streams this clip, looped, for the default 1280x720.
const splitter = new AccessUnitSplitter();
const clip = readFileSync(new URL('./fixtures/clips/1280x720-main.h264', import.meta.url));
const CLIP_UNITS = [...splitter.push(clip), ...splitter.flush()].map((u) => u.data);

test('a recording camera: spans grow, clip.mp4 plays with every frame of its range, Range, limits and grants', async (t) => {
  const relay = await startRelayProcess({ RECORD_DEFAULT: 'continuous' });
  t.after(() => relay.stop('SIGKILL'));
  const camera = await startStreamingCamera(t, relay, relay.adminToken, { name: 'yard', audio: true });
  const dir = tempDir(t, 'picam-recording-api-');

  const listed = await relay.api('GET', `/api/cameras/${camera.id}`, undefined, relay.adminToken);
  assert.equal(listed.json.camera.record, 'continuous', 'RECORD_DEFAULT applies to a camera without its own setting');

  // Spans grow while it records (the index follows the files about once a second). The newest span
  // is followed: a camera whose frames stop for over half a second (on a loaded machine, the fake
  // camera's own pauses) rightly starts a new one, and that is told, not failed.
  const first = await waitForSpans(relay, camera.id, (s) => s.length > 0 && s.at(-1)!.end - s.at(-1)!.start >= 4000, 30_000, '4 s recorded');
  const grown = await waitForSpans(relay, camera.id, (s) => s.at(-1)!.end >= first.at(-1)!.end + 2000, 15_000, 'the span to grow');
  assert.equal(grown.at(-1)!.start, first.at(-1)!.start, 'the span grows at its end');
  if (grown.length > 1) t.diagnostic(`the camera paused while recording: spans ${JSON.stringify(grown)}`);

  // A clip of the middle: starts at the keyframe at or before `from`, plays, holds every frame.
  const span = grown.at(-1)!;
  const from = span.start + 1500;
  const to = span.start + 3500;
  const res = await fetchClip(relay, camera.id, from, to);
  assert.equal(res.status, 200, await res.clone().text().catch(() => ''));
  assert.equal(res.headers.get('content-type'), 'video/mp4');
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  const clipStart = Number(res.headers.get('x-clip-start'));
  const clipEnd = Number(res.headers.get('x-clip-end'));
  assert.ok(clipStart <= from && clipStart >= from - 1100, `clip starts at the keyframe at or before from (${clipStart} vs ${from})`);
  assert.ok(clipEnd >= to, `clip reaches to (${clipEnd} vs ${to})`);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(body.byteLength, Number(res.headers.get('content-length')));
  const file = join(dir, 'clip.mp4');
  writeFileSync(file, body);
  assert.deepEqual((await probeStreams(file)).map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:aac', 'video:h264']);
  assert.equal(await decodeErrors(file), '', 'ffmpeg decodes the clip without an error');
  const frames = await probeVideoFrames(file);
  assert.equal(frames[0]?.keyframe, true, 'the clip starts on a keyframe');
  assert.ok(frames[0]!.time < 0.05, `the clip starts at 0 (${frames[0]!.time})`);
  // Every frame the camera wrote, in order, none twice: each packet is found by its bytes among
  // the fake camera's looped clip, and they follow each other; as many as the range holds at 30 fps.
  const indexes = await clipFrameIndexes(file, CLIP_UNITS);
  assert.equal(indexes.length, frames.length);
  assert.equal(consecutiveInLoop(indexes, CLIP_UNITS.length), undefined);
  const expected = ((clipEnd - clipStart) * 30) / 1000;
  assert.ok(Math.abs(frames.length - expected) <= 2, `${frames.length} frames in ${clipEnd - clipStart} ms`);
  for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.time > frames[i - 1]!.time, 'frames in order');

  // HTTP Range: a slice, the tail, and past the end.
  const part = await fetchClip(relay, camera.id, from, to, { headers: { range: 'bytes=100-1099' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 100-1099/${body.byteLength}`);
  assert.equal(Buffer.compare(Buffer.from(await part.arrayBuffer()), body.subarray(100, 1100)), 0, 'the slice is those bytes of the whole');
  const tail = await fetchClip(relay, camera.id, from, to, { headers: { range: `bytes=${body.byteLength - 5000}-` } });
  assert.equal(tail.status, 206);
  assert.equal(Buffer.compare(Buffer.from(await tail.arrayBuffer()), body.subarray(body.byteLength - 5000)), 0);
  const past = await fetchClip(relay, camera.id, from, to, { headers: { range: `bytes=${body.byteLength}-` } });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get('content-range'), `bytes */${body.byteLength}`);
  assert.equal((await past.json()).error.code, 'range_not_satisfiable');

  // Limits: over an hour, and a range with nothing recorded.
  const long = await fetchClip(relay, camera.id, span.start - 3600_001, span.start);
  assert.equal(long.status, 400);
  assert.equal((await long.json()).error.code, 'clip_too_long');
  const empty = await fetchClip(relay, camera.id, span.start - 600_000, span.start - 300_000);
  assert.equal(empty.status, 404);
  assert.equal((await empty.json()).error.code, 'no_recording');
  const bad = await relay.api('GET', `/api/cameras/${camera.id}/recordings?from=abc&to=1`, undefined, relay.adminToken);
  assert.equal(bad.status, 400);

  // Grants: no session 401; a viewer without this camera 403; with it, 200.
  assert.equal((await fetchClip(relay, camera.id, from, to, {}, null)).status, 401);
  const created = await relay.api('POST', '/api/users', { username: 'neighbour', password: 'neighbour-password', role: 'viewer' }, relay.adminToken);
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const login = await relay.api('POST', '/api/auth/login', { username: 'neighbour', password: 'neighbour-password' });
  const viewerToken = login.json.token as string;
  assert.equal((await relay.api('GET', `/api/cameras/${camera.id}/recordings?from=${from}&to=${to}`, undefined, viewerToken)).status, 403);
  assert.equal((await fetchClip(relay, camera.id, from, to, {}, viewerToken)).status, 403);
  const granted = await relay.api('PATCH', `/api/users/${created.json.user.id}`, { cameraIds: [camera.id] }, relay.adminToken);
  assert.equal(granted.status, 200, JSON.stringify(granted.json));
  assert.deepEqual(await spans(relay, camera.id, viewerToken), await spans(relay, camera.id), 'the viewer sees the recording as the admin does');
  assert.equal((await fetchClip(relay, camera.id, from, to, {}, viewerToken)).status, 200);

  // A clip link: the share page mints a short-lived clip token with its share token and plays
  // clip.mp4 with it, without a session; the token opens that range only.
  const share = await relay.api('POST', `/api/cameras/${camera.id}/shares`, { label: 'the fox', clip: { start: from, end: to } }, relay.adminToken);
  assert.equal(share.status, 201, JSON.stringify(share.json));
  assert.deepEqual(share.json.share.clip, { start: from, end: to });
  const shareToken = share.json.token as string;
  const lookup = await relay.api('GET', '/api/share', undefined, shareToken);
  assert.deepEqual(lookup.json.share.clip, { start: from, end: to });
  const minted = await relay.api('POST', '/api/share/clip-token', undefined, shareToken);
  assert.equal(minted.status, 200, JSON.stringify(minted.json));
  const clipToken = encodeURIComponent(minted.json.token as string);
  const viaToken = await fetch(`${relay.url}/api/cameras/${camera.id}/recordings/clip.mp4?from=${from}&to=${to}&token=${clipToken}`);
  assert.equal(viaToken.status, 200);
  assert.equal(Buffer.compare(Buffer.from(await viaToken.arrayBuffer()), body), 0, 'the same clip');
  const outside = await fetch(`${relay.url}/api/cameras/${camera.id}/recordings/clip.mp4?from=${from - 5000}&to=${to}&token=${clipToken}`);
  assert.equal(outside.status, 403);
  // The share token itself is no clip token, and a revoked link's clip tokens stop working.
  assert.equal((await fetch(`${relay.url}/api/cameras/${camera.id}/recordings/clip.mp4?from=${from}&to=${to}&token=${shareToken}`)).status, 401);
  assert.equal((await relay.api('DELETE', `/api/shares/${share.json.share.id}`, undefined, relay.adminToken)).status, 204);
  assert.equal((await fetch(`${relay.url}/api/cameras/${camera.id}/recordings/clip.mp4?from=${from}&to=${to}&token=${clipToken}`)).status, 401);

  // Recording off: nothing captured after it is recorded, while the camera goes on streaming live.
  const off = await relay.api('PATCH', `/api/cameras/${camera.id}`, { record: 'off' }, relay.adminToken);
  const offAt = Date.now();
  assert.equal(off.json.camera.record, 'off');
  const framesAtOff = (await relay.metric('picam_frames_in_total', { camera: camera.id, track: 'video' })) ?? 0;
  const deadline = Date.now() + 15_000;
  while (((await relay.metric('picam_frames_in_total', { camera: camera.id, track: 'video' })) ?? 0) < framesAtOff + 90) {
    assert.ok(Date.now() < deadline, 'the camera goes on streaming');
    await new Promise((r) => setTimeout(r, 200));
  }
  const afterOff = (await spans(relay, camera.id)).at(-1)!;
  // The last frame before off ends the recording (one frame's duration past it at most).
  assert.ok(afterOff.end <= offAt + 100, `nothing recorded after off (${afterOff.end - offAt} ms past it)`);
  assert.ok(afterOff.end >= offAt - 1500, `recorded until off (${offAt - afterOff.end} ms short)`);
});
