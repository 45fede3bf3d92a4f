import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_CAMERA_SETTINGS,
  agentMessageSchema,
  encodeMessage,
  keyframesFromQuery,
  parseMessage,
  relayToAgentMessageSchema,
  relayToViewerMessageSchema,
  viewerMessageSchema,
} from './messages.ts';
import { ProtocolError } from './errors.ts';

test('a hello round-trips through encode and validated parse', () => {
  const hello = {
    type: 'hello' as const,
    agentVersion: '0.1.0',
    settings: DEFAULT_CAMERA_SETTINGS,
    video: { codec: 'avc1.64001f', width: 1280, height: 720, framerate: 30 },
    audio: null,
  };
  assert.deepEqual(parseMessage(agentMessageSchema, encodeMessage(hello)), hello);
});

test('unknown fields from a newer peer are tolerated', () => {
  const ack = parseMessage(viewerMessageSchema, '{"type":"ack","sequence":5,"future":true}');
  assert.deepEqual(ack, { type: 'ack', sequence: 5 });
});

test('bad JSON and invalid messages are typed errors that say where', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['{', 'ERR_MESSAGE_JSON', /JSON/],
    ['{"type":"nope"}', 'ERR_MESSAGE_INVALID', /type/],
    ['{"type":"ack","sequence":-1}', 'ERR_MESSAGE_INVALID', /sequence/],
    ['{"type":"ack","sequence":4294967296}', 'ERR_MESSAGE_INVALID', /sequence/],
    ['null', 'ERR_MESSAGE_INVALID', /invalid/],
  ];
  for (const [text, code, pattern] of cases) {
    assert.throws(
      () => parseMessage(viewerMessageSchema, text),
      (err: unknown) => err instanceof ProtocolError && err.code === code && pattern.test(err.message),
      text,
    );
  }
});

test('camera settings are range-checked', () => {
  const bad = { ...DEFAULT_CAMERA_SETTINGS, framerate: 0 };
  const text = JSON.stringify({ type: 'hello', agentVersion: '1', settings: bad, video: null, audio: null });
  assert.throws(() => parseMessage(agentMessageSchema, text), /settings\.framerate/);
  const tick = JSON.stringify({ type: 'hello', agentVersion: '1', settings: DEFAULT_CAMERA_SETTINGS, video: { codec: 'avc1.64001f', width: 1280, height: 720, framerate: 45_000 }, audio: null });
  assert.throws(() => parseMessage(agentMessageSchema, tick), /video\.framerate/);
});

test('the relay-to-viewer messages a browser accepts, and the malformed ones it ignores', () => {
  const video = { codec: 'avc1.64001f', width: 1280, height: 720, framerate: 30 };
  const good = [
    { type: 'init', camera: { id: 'c', name: 'n' }, video, audio: null },
    { type: 'init', camera: { id: 'c', name: 'n' }, video, audio: { codec: 'mp4a.40.2', sampleRate: 48000, channels: 1 } },
    { type: 'state', state: 'online' },
    { type: 'state', state: 'offline', reason: 'agent gone', extra: 1 },
    { type: 'expiring', expiresAt: 1_700_000_000_000 },
  ];
  const bad = [
    { type: 'init', camera: { id: 'c', name: 'n' }, video: { ...video, codec: '' }, audio: null },
    { type: 'init', camera: { id: 'c', name: 'n' }, video: { ...video, width: 1280.5 }, audio: null },
    { type: 'init', camera: { id: 'c' }, video, audio: null },
    { type: 'init', camera: { id: 'c', name: 'n' }, video, audio: { codec: 'opus', sampleRate: 48000, channels: 1 } },
    { type: 'state', state: 'sleeping' },
    { type: 'expiring', expiresAt: 'soon' },
    { type: 'hello' },
    [],
    null,
  ];
  for (const value of good) assert.doesNotThrow(() => parseMessage(relayToViewerMessageSchema, JSON.stringify(value)), JSON.stringify(value));
  for (const value of bad) {
    assert.throws(() => parseMessage(relayToViewerMessageSchema, JSON.stringify(value)), ProtocolError, JSON.stringify(value));
  }
  assert.throws(() => parseMessage(relayToViewerMessageSchema, '{nope'), /not valid JSON/);
});

test('backfill asks for a capture-time range and backfill-done reports on it; both are checked', () => {
  const ask = { type: 'backfill' as const, fromUs: 1_764_000_000_000_000, toUs: 1_764_000_020_000_000 };
  assert.deepEqual(parseMessage(relayToAgentMessageSchema, encodeMessage(ask)), ask);
  const done = { type: 'backfill-done' as const, fromUs: ask.fromUs, toUs: ask.toUs, frames: 1500, complete: false };
  assert.deepEqual(parseMessage(agentMessageSchema, encodeMessage(done)), done);
  const badAsks = [
    { ...ask, toUs: ask.fromUs },
    { ...ask, fromUs: ask.toUs + 1 },
    { ...ask, fromUs: -1 },
    { ...ask, toUs: 1.5 },
    { type: 'backfill', fromUs: ask.fromUs },
  ];
  for (const value of badAsks) {
    assert.throws(() => parseMessage(relayToAgentMessageSchema, JSON.stringify(value)), ProtocolError, JSON.stringify(value));
  }
  for (const value of [{ ...done, frames: -1 }, { ...done, complete: 'yes' }, { ...done, fromUs: undefined }]) {
    assert.throws(() => parseMessage(agentMessageSchema, JSON.stringify(value)), ProtocolError, JSON.stringify(value));
  }
});

test('a live URL may ask for keyframes only from the start; anything else there is full rate', () => {
  assert.deepEqual(keyframesFromQuery(new URLSearchParams('keyframes=2000')), { keyframesOnly: true, minIntervalMs: 2000 });
  assert.deepEqual(keyframesFromQuery(new URLSearchParams('keyframes=0')), { keyframesOnly: true, minIntervalMs: 0 });
  for (const query of ['', 'keyframes=', 'keyframes=-1', 'keyframes=2e3', 'keyframes=600001', 'keyframes=1.5', 'other=1']) {
    assert.equal(keyframesFromQuery(new URLSearchParams(query)), undefined, query);
  }
});

test('a viewer asks for keyframes only and back for the full stream; a bad interval is refused', () => {
  const tile = { type: 'quality' as const, keyframesOnly: true, minIntervalMs: 2000 };
  assert.deepEqual(parseMessage(viewerMessageSchema, encodeMessage(tile)), tile);
  assert.deepEqual(parseMessage(viewerMessageSchema, '{"type":"quality","keyframesOnly":false}'), { type: 'quality', keyframesOnly: false });
  for (const text of ['{"type":"quality"}', '{"type":"quality","keyframesOnly":true,"minIntervalMs":-1}', '{"type":"quality","keyframesOnly":true,"minIntervalMs":1.5}']) {
    assert.throws(() => parseMessage(viewerMessageSchema, text), (err: unknown) => err instanceof ProtocolError && err.code === 'ERR_MESSAGE_INVALID', text);
  }
});
